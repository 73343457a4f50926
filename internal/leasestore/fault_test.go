package leasestore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/leases"
	"github.com/moatdns/moat/internal/testutil"
)

// TestSyncFailureFailsCommit: a failed fsync fails every commit of its
// group (never acknowledged, never applied); the next group first
// replaces the journal by a snapshot of the acknowledged leases, so the
// unacknowledged records cannot come back after a restart.
func TestSyncFailureFailsCommit(t *testing.T) {
	dir := t.TempDir()
	var failNext bool
	eio := errors.New("injected EIO")
	h := &hooks{syncJournal: func(f *os.File) error {
		if failNext {
			failNext = false
			return eio
		}
		return fdatasync(f)
	}}
	s := openTest(t, dir, func(o *Options) { o.hooks = h })
	commit(t, s, puts(testLease(1, far))...)
	// The hook runs on the writer goroutine; the Commit below is the
	// only one in flight, and its send orders this write before it.
	failNext = true
	err := s.Commit(context.Background(), puts(testLease(2, far)))
	if !errors.Is(err, eio) {
		t.Fatalf("commit over a failed fsync: %v", err)
	}
	if _, ok := s.Lease(testLease(2, far).Addr); ok {
		t.Error("the failed lease was applied")
	}
	before := s.Stats().Compactions
	commit(t, s, puts(testLease(3, far))...)
	if s.Stats().Compactions != before+1 {
		t.Error("the journal was not replaced after the failed fsync")
	}
	s.Close()
	got, res := replayFile(t, filepath.Join(dir, "leases.journal"))
	if res.Torn != 0 {
		t.Errorf("journal: %+v", res)
	}
	sameLeases(t, "journal", got, sortedLeases(testLease(1, far), testLease(3, far)))
}

// TestReplaceFailsUntilItWorks: while the replacement snapshot cannot be
// synced either, every commit fails; when it can, commits work again.
func TestReplaceFailsUntilItWorks(t *testing.T) {
	failing := true
	h := &hooks{syncJournal: func(f *os.File) error {
		if failing {
			return syscall.EIO
		}
		return fdatasync(f)
	}}
	failing = false
	s := openTest(t, "", func(o *Options) { o.hooks = h })
	failing = true
	for i := range 3 {
		if err := s.Commit(context.Background(), puts(testLease(i, far))); !errors.Is(err, syscall.EIO) {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	failing = false
	commit(t, s, puts(testLease(9, far))...)
	sameLeases(t, "after recovery", s.Leases(), []leases.Lease{testLease(9, far)})
}

// TestDiskFull: on a real file system that runs out of space, a commit
// fails with ENOSPC, the half-written group is cut off again, and once
// there is room commits succeed and every acknowledged lease replays.
func TestDiskFull(t *testing.T) {
	testutil.RequireRoot(t, "mounts a small tmpfs")
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	s, err := Open(testOptions(t, dir, func(o *Options) { o.LeaseFileRO = true }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		if _, err := f.Write(make([]byte, 1024)); err != nil {
			break
		}
	}
	f.Close()
	var acked []leases.Lease
	var failure error
	for i := 0; i < 2000 && failure == nil; i++ {
		l := testLease(i, far)
		l.Hostname = strings.Repeat("n", 200) // fill pages quickly
		if failure = s.Commit(context.Background(), puts(l)); failure == nil {
			acked = append(acked, l)
		}
	}
	if !errors.Is(failure, syscall.ENOSPC) {
		t.Fatalf("after %d commits: %v, want ENOSPC", len(acked), failure)
	}
	if s.Len() != len(acked) {
		t.Errorf("%d leases in the table, %d acknowledged", s.Len(), len(acked))
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	extra := testLease(5000, far)
	commit(t, s, puts(extra)...)
	acked = append(acked, extra)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, res := replayFile(t, filepath.Join(dir, "leases.journal"))
	if res.Torn != 0 {
		t.Errorf("journal after ENOSPC: %+v", res)
	}
	sameLeases(t, "journal", got, sortedLeases(acked...))
}
