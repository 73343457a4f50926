package leasestore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/leases"
)

// TestCompaction: renewals grow the journal past CompactMinBytes and the
// snapshot; it is compacted without losing anything, the order of the
// leases file survives, and appending continues on the new journal.
func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	mod := func(o *Options) { o.CompactMinBytes = 4 << 10 }
	s := openTest(t, dir, mod)
	var want []leases.Lease
	for i := range 20 {
		want = append(want, testLease(i, far))
		commit(t, s, puts(testLease(i, far))...)
	}
	// Compactions run in the background: renew until two have finished.
	for round := 0; round < 20000 && s.Stats().Compactions < 2; round++ {
		i := round % 20
		want[i] = withExpiry(want[i], far+int64(round))
		commit(t, s, puts(want[i])...)
	}
	if n := s.Stats().Compactions; n < 2 {
		t.Fatalf("%d compactions", n)
	}
	// Let a compaction that may have started finish, so the size below
	// is that of a compacted journal.
	if err := s.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	fi, err := os.Stat(s.JournalPath())
	if err != nil || fi.Size() != st.JournalBytes || fi.Size() > 8<<10 {
		t.Errorf("journal of %d bytes on disk, %d counted (%v)", fi.Size(), st.JournalBytes, err)
	}
	file := s.LeaseFileBytes()
	sameLeases(t, "compacted", s.Leases(), sortedLeases(want...))
	s.Close()
	got, res := replayFile(t, filepath.Join(dir, "leases.journal"))
	if res.Torn != 0 {
		t.Errorf("compacted journal: %+v", res)
	}
	sameLeases(t, "journal", got, sortedLeases(want...))
	again := openTest(t, dir, mod)
	if !bytes.Equal(again.LeaseFileBytes(), file) {
		t.Errorf("order of the leases file changed by compaction:\n%s\nwas:\n%s", again.LeaseFileBytes(), file)
	}
}

// TestCompactNow: an explicit compaction leaves a journal that is the
// snapshot, and a stale temporary file from a crash is removed at Open.
func TestCompactNow(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	commit(t, s, puts(testLease(1, far), testLease(2, far))...)
	commit(t, s, leases.DeleteRecord(testLease(1, far).Addr))
	if err := s.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if err := leases.WriteSnapshot(&snap, []leases.Lease{testLease(2, far)}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(s.JournalPath()); err != nil || !bytes.Equal(got, snap.Bytes()) {
		t.Errorf("journal after Compact is not the snapshot: %q %v", got, err)
	}
	commit(t, s, puts(testLease(3, far))...)
	s.Close()
	if err := s.Compact(context.Background()); err != ErrClosed {
		t.Errorf("Compact after Close: %v", err)
	}
	tmp := filepath.Join(dir, "leases.journal.tmp")
	if err := os.WriteFile(tmp, []byte("half a snapshot"), 0o644); err != nil {
		t.Fatal(err)
	}
	again := openTest(t, dir, nil)
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("stale %s: %v", tmp, err)
	}
	sameLeases(t, "reopened", again.Leases(), sortedLeases(testLease(2, far), testLease(3, far)))
}

// TestCompactionTail: commits acknowledged while a background snapshot is
// being written (its fsync held) land in the old journal and in the tail,
// and are in the new journal once it is installed.
func TestCompactionTail(t *testing.T) {
	dir := t.TempDir()
	g := newGate()
	s := openTest(t, dir, func(o *Options) {
		o.CompactMinBytes = 2 << 10
		o.hooks = &hooks{syncSnapshot: g.sync}
	})
	g.armed.Store(true)
	var want []leases.Lease
	i := 0
	for ; i < 1000 && len(g.entered) == 0; i++ {
		want = append(want, testLease(i, far))
		commit(t, s, puts(testLease(i, far))...)
	}
	g.wait(t) // the snapshot is being written, its fsync held
	compactions := s.Stats().Compactions
	for j := range 50 {
		want = append(want, testLease(i+j, far))
		commit(t, s, puts(testLease(i+j, far))...)
	}
	commit(t, s, leases.DeleteRecord(want[0].Addr))
	want = want[1:]
	if s.Stats().Compactions != compactions {
		t.Fatal("compaction finished while its snapshot's fsync was held")
	}
	close(g.release)
	for k := 0; k < 10000 && s.Stats().Compactions == compactions; k++ {
		time.Sleep(time.Millisecond)
	}
	if s.Stats().Compactions == compactions {
		t.Fatal("the background compaction never finished")
	}
	commit(t, s, puts(testLease(5000, far))...)
	want = append(want, testLease(5000, far))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, res := replayFile(t, filepath.Join(dir, "leases.journal"))
	if res.Torn != 0 {
		t.Errorf("journal: %+v", res)
	}
	sameLeases(t, "journal after a background compaction", got, sortedLeases(want...))
}
