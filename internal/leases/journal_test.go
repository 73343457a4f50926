package leases

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func testLeases() []Lease {
	return []Lease{
		{Addr: netip.MustParseAddr("10.0.0.10"), HWType: 1, HWAddr: []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55}, Hostname: "laptop", Expires: 1700000000},
		{Addr: netip.MustParseAddr("10.0.0.11"), HWType: 1, HWAddr: []byte{2, 0, 0, 0, 0, 1}, ClientID: []byte{1, 2, 0, 0, 0, 0, 1}},
		{Addr: netip.MustParseAddr("10.0.0.12"), HWType: 32, ClientID: bytes.Repeat([]byte{7}, 255), Hostname: strings.Repeat("h", 255), Expires: 1},
	}
}

// journal builds a journal: header, a put per lease, a delete.
func journal(t *testing.T) ([]byte, []Record) {
	t.Helper()
	var recs []Record
	for _, l := range testLeases() {
		recs = append(recs, PutRecord(l))
	}
	recs = append(recs, DeleteRecord(netip.MustParseAddr("10.0.0.11")))
	b := []byte(JournalHeader)
	var err error
	for _, r := range recs {
		if b, err = AppendRecord(b, r); err != nil {
			t.Fatal(err)
		}
	}
	return b, recs
}

func replayAll(t *testing.T, data []byte) ([]Record, ReplayResult, error) {
	t.Helper()
	var got []Record
	res, err := Replay(bytes.NewReader(data), func(r Record) error {
		got = append(got, r)
		return nil
	})
	return got, res, err
}

func sameRecords(a, b []Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Delete != b[i].Delete || !a[i].Lease.Equal(b[i].Lease) {
			return false
		}
	}
	return true
}

func TestJournalRoundTrip(t *testing.T) {
	data, recs := journal(t)
	got, res, err := replayAll(t, data)
	if err != nil || !sameRecords(got, recs) || res.Records != 4 || res.Valid != int64(len(data)) || res.Torn != 0 {
		t.Fatalf("replay: %+v, %+v, %v", got, res, err)
	}
	// An empty input is an empty journal.
	if got, res, err := replayAll(t, nil); err != nil || len(got) != 0 || res != (ReplayResult{}) {
		t.Errorf("empty: %+v %+v %v", got, res, err)
	}
}

// TestJournalTornTail cuts the journal at every byte: replay must return
// exactly the records that are whole before the cut, say where they end,
// and count the rest as torn, never an error.
func TestJournalTornTail(t *testing.T) {
	data, recs := journal(t)
	// Record boundaries.
	ends := []int{len(JournalHeader)}
	b := []byte{}
	for _, r := range recs {
		b, _ = AppendRecord(b[:0], r)
		ends = append(ends, ends[len(ends)-1]+len(b))
	}
	for cut := 0; cut <= len(data); cut++ {
		got, res, err := replayAll(t, data[:cut])
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		whole, valid := 0, 0
		for i, e := range ends {
			if e <= cut {
				whole, valid = i, e
			}
		}
		if cut < len(JournalHeader) {
			whole, valid = 0, 0
		}
		if !sameRecords(got, recs[:whole]) || res.Valid != int64(valid) || res.Torn != int64(cut-valid) {
			t.Fatalf("cut %d: %d records, %+v; want %d records, valid %d", cut, len(got), res, whole, valid)
		}
	}
}

// TestJournalDamage: a flipped bit anywhere after the header ends the
// replay at the damaged record (CRC), keeping the records before it.
func TestJournalDamage(t *testing.T) {
	data, recs := journal(t)
	first, _ := AppendRecord(nil, recs[0])
	for i := len(JournalHeader); i < len(data); i++ {
		for bit := 0; bit < 8; bit++ {
			bad := bytes.Clone(data)
			bad[i] ^= 1 << bit
			got, res, err := replayAll(t, bad)
			if err != nil {
				t.Fatalf("byte %d bit %d: %v", i, bit, err)
			}
			if res.Valid+res.Torn != int64(len(data)) {
				t.Fatalf("byte %d bit %d: %+v does not add up", i, bit, res)
			}
			if i < len(JournalHeader)+len(first) && len(got) != 0 {
				t.Fatalf("byte %d bit %d: damaged first record replayed: %+v", i, bit, got)
			}
			if !sameRecords(got, recs[:len(got)]) {
				t.Fatalf("byte %d bit %d: wrong records %+v", i, bit, got)
			}
		}
	}
}

func TestJournalErrors(t *testing.T) {
	if _, _, err := replayAll(t, []byte("not a journal at all")); !errors.Is(err, ErrNotJournal) {
		t.Errorf("bad header: %v", err)
	}
	if _, _, err := replayAll(t, []byte("moax")); !errors.Is(err, ErrNotJournal) {
		t.Errorf("short bad header: %v", err)
	}
	// A short header that agrees with the magic is a torn (empty) journal.
	if got, res, err := replayAll(t, []byte("moat")); err != nil || len(got) != 0 || res.Torn != 4 {
		t.Errorf("torn header: %+v %v", res, err)
	}
	// A record with a good CRC and a bad payload is an error, not a torn tail.
	rec := []byte{0, 0, 0, 2, 0, 0, 0, 0, 'X', 1}
	fix := func(r []byte) []byte {
		crc := crc32Update(r[:4], r[8:])
		r[4], r[5], r[6], r[7] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
		return r
	}
	if _, _, err := replayAll(t, append([]byte(JournalHeader), fix(rec)...)); err == nil || !strings.Contains(err.Error(), "unknown record type") {
		t.Errorf("unknown type: %v", err)
	}
	rec = []byte{0, 0, 0, 3, 0, 0, 0, 0, 'D', 1, 2}
	if _, _, err := replayAll(t, append([]byte(JournalHeader), fix(rec)...)); err == nil || !strings.Contains(err.Error(), "wrong length") {
		t.Errorf("short delete: %v", err)
	}
	// The callback's error stops the replay.
	data, _ := journal(t)
	stop := errors.New("stop")
	if _, err := Replay(bytes.NewReader(data), func(Record) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("callback error: %v", err)
	}
	// Leases that cannot be journalled.
	for _, l := range []Lease{
		{Addr: netip.MustParseAddr("::1")},
		{Addr: netip.MustParseAddr("10.0.0.1"), HWAddr: make([]byte, 17)},
		{Addr: netip.MustParseAddr("10.0.0.1"), ClientID: make([]byte, 256)},
		{Addr: netip.MustParseAddr("10.0.0.1"), Hostname: strings.Repeat("x", 256)},
	} {
		if _, err := AppendRecord(nil, PutRecord(l)); err == nil {
			t.Errorf("%+v: no error", l)
		}
	}
}

func TestSnapshotCompaction(t *testing.T) {
	data, _ := journal(t)
	table := NewTable()
	if _, err := Replay(bytes.NewReader(data), func(r Record) error { table.Apply(r); return nil }); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if err := WriteSnapshot(&snap, table.All()); err != nil {
		t.Fatal(err)
	}
	if snap.Len() >= len(data) {
		t.Errorf("snapshot of %d bytes is no smaller than the journal's %d", snap.Len(), len(data))
	}
	again := NewTable()
	res, err := Replay(&snap, func(r Record) error { again.Apply(r); return nil })
	if err != nil || res.Torn != 0 || res.Records != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	a, b := table.All(), again.All()
	if len(a) != 2 || len(b) != 2 || !a[0].Equal(b[0]) || !a[1].Equal(b[1]) {
		t.Errorf("compacted table differs:\n%+v\n%+v", a, b)
	}
}
