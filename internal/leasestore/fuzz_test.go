package leasestore

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/moatdns/moat/internal/leases"
)

// FuzzOpen: whatever bytes are found as the journal, Open either refuses
// them or recovers a journal that reopens to the same leases with
// nothing torn, and on which commits work.
func FuzzOpen(f *testing.F) {
	var good bytes.Buffer
	if err := leases.WriteSnapshot(&good, []leases.Lease{testLease(1, far), testLease(2, 0)}); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:good.Len()-3])
	f.Add([]byte(leases.JournalHeader))
	f.Add([]byte("moat"))
	f.Add([]byte{})
	f.Add(append(bytes.Clone(good.Bytes()), make([]byte, 100)...))
	f.Fuzz(func(t *testing.T, journal []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "leases.journal"), journal, 0o644); err != nil {
			t.Fatal(err)
		}
		opts := Options{LeaseFile: filepath.Join(dir, "leases"), LeaseFileRO: true}
		s, err := Open(opts)
		if err != nil {
			return
		}
		first := s.Leases()
		commit(t, s, puts(testLease(9, far))...)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(opts)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer s.Close()
		if rec := s.Recovery(); rec.TornBytes != 0 {
			t.Errorf("torn again: %+v", rec)
		}
		table := leases.NewTable()
		for _, l := range first {
			table.Put(l)
		}
		table.Put(testLease(9, far))
		sameLeases(t, "reopened", s.Leases(), table.All())
	})
}
