package leases

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

// batchJournal is journal() followed by one batch of three records (a
// lease moved: delete, put, and a name taken from another lease).
func batchJournal(t *testing.T) (data []byte, before []Record, batch []Record, batchStart int) {
	t.Helper()
	data, before = journal(t)
	ls := testLeases()
	moved := ls[0]
	moved.Addr = netip.MustParseAddr("10.0.0.20")
	renamed := ls[2]
	renamed.Hostname = ""
	batch = []Record{DeleteRecord(ls[0].Addr), PutRecord(moved), PutRecord(renamed)}
	batchStart = len(data)
	var err error
	if data, err = AppendBatch(data, batch); err != nil {
		t.Fatal(err)
	}
	return data, before, batch, batchStart
}

// TestJournalBatchAtomic cuts a journal that ends with a batch at every
// byte of the batch: replay returns the batch whole or nothing of it,
// and the good part ends before the batch's marker until the batch is
// whole.
func TestJournalBatchAtomic(t *testing.T) {
	data, before, batch, start := batchJournal(t)
	for cut := start; cut <= len(data); cut++ {
		got, res, err := replayAll(t, data[:cut])
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		want, valid := before, int64(start)
		if cut == len(data) {
			want, valid = append(append([]Record(nil), before...), batch...), int64(len(data))
		}
		if !sameRecords(got, want) || res.Valid != valid || res.Torn != int64(cut)-valid || res.Records != len(want) {
			t.Fatalf("cut %d of %d: %d records, %+v; want %d records, valid %d", cut, len(data), len(got), res, len(want), valid)
		}
	}
}

// TestJournalBatchDamage: a damaged record inside a batch drops the whole
// batch, and what follows it; a marker inside a batch is damage too.
func TestJournalBatchDamage(t *testing.T) {
	data, before, batch, start := batchJournal(t)
	// The batch's last record's payload is damaged: CRC mismatch.
	bad := append([]byte(nil), data...)
	bad[len(bad)-1] ^= 0xff
	got, res, err := replayAll(t, bad)
	if err != nil || !sameRecords(got, before) || res.Valid != int64(start) {
		t.Fatalf("damaged last record: %d records, %+v, %v", len(got), res, err)
	}
	// A second marker where the batch's second record should be.
	twice, err := AppendBatch(append([]byte(nil), data[:start]...), batch[:2])
	if err != nil {
		t.Fatal(err)
	}
	marker := twice[start : start+recordHeaderLen+5]
	nested := append(append(append([]byte(nil), twice[:start+len(marker)]...), marker...), twice[start+len(marker):]...)
	got, res, err = replayAll(t, nested)
	if err != nil || !sameRecords(got, before) || res.Valid != int64(start) || res.Torn != int64(len(nested)-start) {
		t.Fatalf("nested marker: %d records, %+v, %v", len(got), res, err)
	}
}

// TestJournalBatchErrors: a marker whose CRC holds but whose count is
// impossible is an error (a bug or a newer format), not a torn tail.
func TestJournalBatchErrors(t *testing.T) {
	for _, count := range []uint32{0, 1, MaxBatchRecords + 1} {
		payload := binary.BigEndian.AppendUint32([]byte{typeBatch}, count)
		rec := make([]byte, recordHeaderLen, recordHeaderLen+len(payload))
		rec = append(rec, payload...)
		binary.BigEndian.PutUint32(rec, uint32(len(payload)))
		binary.BigEndian.PutUint32(rec[4:], crc32Update(rec[:4], payload))
		data := append([]byte(JournalHeader), rec...)
		if _, _, err := replayAll(t, data); err == nil || !strings.Contains(err.Error(), "batch of") {
			t.Errorf("count %d: %v, want an error", count, err)
		}
	}
	// A single record goes without a marker: the encoding is AppendRecord's.
	one, _ := AppendBatch(nil, []Record{PutRecord(testLeases()[0])})
	plain, _ := AppendRecord(nil, PutRecord(testLeases()[0]))
	if string(one) != string(plain) {
		t.Error("a batch of one has a marker")
	}
	// A bad record fails the whole batch and leaves dst as it was.
	dst := []byte("x")
	out, err := AppendBatch(dst, []Record{PutRecord(testLeases()[0]), PutRecord(Lease{Addr: netip.MustParseAddr("::1")})})
	if err == nil || string(out) != "x" {
		t.Errorf("bad record: %q, %v", out, err)
	}
}
