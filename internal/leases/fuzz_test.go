package leases

import (
	"bytes"
	"os"
	"testing"
)

// FuzzReadFile: the leases file parser must not panic, and what it
// accepts must write and read back the same.
func FuzzReadFile(f *testing.F) {
	for _, name := range []string{"testdata/dnsmasq-in.leases", "testdata/dnsmasq-out.leases"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("0 00- 10.0.0.1 x 01:02\nduid 00:01\n1 1 fd00::1 * 00\n"))
	f.Add([]byte("1 06-01:02 10.0.0.1 * *\n\n\t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, _, err := ReadFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteFile(&out, file); err != nil {
			t.Fatal(err)
		}
		again, bad, err := ReadFile(&out)
		if err != nil || len(bad) != 0 || len(again.Leases) != len(file.Leases) || len(again.V6) != len(file.V6) {
			t.Fatalf("written file reads back differently: %v %v\n%s", bad, err, out.String())
		}
		for i := range file.Leases {
			want := file.Leases[i]
			if want.HWType == 0 && len(want.HWAddr) != 0 {
				want.HWType = HWEthernet
			}
			if !again.Leases[i].Equal(want) {
				t.Fatalf("lease %d: %+v, was %+v", i, again.Leases[i], file.Leases[i])
			}
		}
	})
}

// FuzzReplay: journal replay must not panic; the good part and the torn
// tail must add up; and re-encoding the batches it passed gives the good
// part's bytes (so no record of a torn batch was passed on).
func FuzzReplay(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte(JournalHeader))
	b := []byte(JournalHeader)
	for _, l := range testLeases() {
		b, _ = AppendRecord(b, PutRecord(l))
	}
	b, _ = AppendRecord(b, DeleteRecord(testLeases()[0].Addr))
	f.Add(b)
	f.Add(b[:len(b)-3])
	batch := []Record{DeleteRecord(testLeases()[0].Addr), PutRecord(testLeases()[1])}
	withBatch, _ := AppendBatch(append([]byte(nil), b...), batch)
	f.Add(withBatch)
	f.Add(withBatch[:len(withBatch)-5])
	f.Fuzz(func(t *testing.T, data []byte) {
		var batches [][]Record
		records := 0
		res, err := ReplayBatches(bytes.NewReader(data), func(batch []Record) error {
			batches = append(batches, append([]Record(nil), batch...))
			records += len(batch)
			return nil
		})
		if err != nil {
			return
		}
		if res.Valid+res.Torn != int64(len(data)) || res.Records != records {
			t.Fatalf("%+v for %d bytes and %d records", res, len(data), records)
		}
		if res.Valid == 0 {
			return
		}
		enc := []byte(JournalHeader)
		for _, batch := range batches {
			if enc, err = AppendBatch(enc, batch); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(enc, data[:res.Valid]) {
			t.Fatalf("re-encoded batches differ from the journal's good part")
		}
	})
}
