package leasestore

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/leases"
)

// testLease is lease number i: its own address, MAC and name.
func testLease(i int, expires int64) leases.Lease {
	return leases.Lease{
		Addr:     netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}),
		HWType:   leases.HWEthernet,
		HWAddr:   []byte{0x52, 0x54, 0, 0, byte(i >> 8), byte(i)},
		Hostname: fmt.Sprintf("host%d", i),
		Expires:  expires,
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// far is an expiry that no test reaches.
const far = 4000000000

// openTest opens a store in dir (a new temporary one when ""), with the
// leases file "leases" there; mod adjusts the options. The store is
// closed at cleanup unless the test closed it.
func openTest(t *testing.T, dir string, mod func(*Options)) *Store {
	t.Helper()
	s, err := Open(testOptions(t, dir, mod))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testOptions(t *testing.T, dir string, mod func(*Options)) Options {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	o := Options{LeaseFile: filepath.Join(dir, "leases"), Logf: t.Logf}
	if mod != nil {
		mod(&o)
	}
	return o
}

func commit(t *testing.T, s *Store, recs ...leases.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Commit(ctx, recs); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func puts(ls ...leases.Lease) []leases.Record {
	out := make([]leases.Record, len(ls))
	for i, l := range ls {
		out[i] = leases.PutRecord(l)
	}
	return out
}

// sameLeases compares two lease lists (sorted by address).
func sameLeases(t *testing.T, what string, got, want []leases.Lease) {
	t.Helper()
	if !slices.EqualFunc(got, want, leases.Lease.Equal) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func sortedLeases(ls ...leases.Lease) []leases.Lease {
	out := slices.Clone(ls)
	slices.SortFunc(out, func(a, b leases.Lease) int { return a.Addr.Compare(b.Addr) })
	return out
}

// replayFile reads a journal file directly, as the next Open would.
func replayFile(t *testing.T, path string) ([]leases.Lease, leases.ReplayResult) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	table := leases.NewTable()
	res, err := leases.Replay(f, func(r leases.Record) error { table.Apply(r); return nil })
	if err != nil {
		t.Fatalf("replay %s: %v", path, err)
	}
	return table.All(), res
}

// waitQueued waits (bounded) until n requests wait in the queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := 0; i < 10000; i++ {
		if len(s.reqs) >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d requests queued, want %d", len(s.reqs), n)
}

// gate is a journal sync hook that, once armed, holds the journal
// writer inside its next fsync until released.
type gate struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 100), release: make(chan struct{})} }

func (g *gate) sync(f *os.File) error {
	if g.armed.CompareAndSwap(true, false) {
		g.entered <- struct{}{}
		<-g.release
	}
	return fdatasync(f)
}

func (g *gate) wait(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the journal writer never reached fsync")
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
