package leasestore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/leases"
)

// TestOpenSources: where Open takes the leases from, for each state of
// the directory it may find.
func TestOpenSources(t *testing.T) {
	fileText := "2000000000 52:54:00:00:00:01 10.1.0.1 one *\n" +
		"2000000000 52:54:00:00:00:02 10.1.0.2 * 01:52:54:00:00:00:02\n" +
		"garbage line\n"
	journalOf := func(ls ...leases.Lease) []byte {
		var b bytes.Buffer
		if err := leases.WriteSnapshot(&b, ls); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, tc := range []struct {
		name        string
		leaseFile   string // "" none
		journal     []byte // nil none
		ro          bool
		wantSource  string
		wantLeases  int
		wantBad     int
		wantErrText string
	}{
		{name: "nothing", wantSource: "empty"},
		{name: "leases file only", leaseFile: fileText, wantSource: "leasefile", wantLeases: 2, wantBad: 1},
		{name: "journal wins over the file", leaseFile: fileText, journal: journalOf(testLease(7, far)), wantSource: "journal", wantLeases: 1},
		{name: "header-only journal is a journal", leaseFile: fileText, journal: []byte(leases.JournalHeader), wantSource: "journal"},
		{name: "empty journal file imports the file", leaseFile: fileText, journal: []byte{}, wantSource: "leasefile", wantLeases: 2, wantBad: 1},
		{name: "leasefile-ro never reads the file", leaseFile: fileText, ro: true, wantSource: "empty"},
		{name: "unreadable file beside a journal", leaseFile: strings.Repeat("x", 3000), journal: journalOf(testLease(7, far)), wantSource: "journal", wantLeases: 1},
		{name: "unreadable file to import", leaseFile: strings.Repeat("x", 3000), wantErrText: "longer than"},
		{name: "not a journal", journal: []byte("something else entirely"), wantErrText: "bad header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.leaseFile != "" {
				if err := os.WriteFile(filepath.Join(dir, "leases"), []byte(tc.leaseFile), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.journal != nil {
				if err := os.WriteFile(filepath.Join(dir, "leases.journal"), tc.journal, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(testOptions(t, dir, func(o *Options) { o.LeaseFileRO = tc.ro }))
			if tc.wantErrText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrText) {
					t.Fatalf("Open: %v, want an error with %q", err, tc.wantErrText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rec := s.Recovery()
			if rec.Source != tc.wantSource || rec.Leases != tc.wantLeases || len(rec.BadLines) != tc.wantBad || s.Len() != tc.wantLeases {
				t.Errorf("recovery %+v, %d leases; want source %s, %d leases, %d bad lines", rec, s.Len(), tc.wantSource, tc.wantLeases, tc.wantBad)
			}
			// Whatever the source, a journal now exists and holds them.
			got, res := replayFile(t, s.JournalPath())
			if res.Torn != 0 || len(got) != tc.wantLeases {
				t.Errorf("journal after Open: %d leases, %+v", len(got), res)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Error("no leases file path: no error")
	}
	d := config.DefaultDHCPConfig()
	d.LeaseFileRO = true
	o, err := OptionsFromConfig(&d).withDefaults()
	if err != nil || o.LeaseFile != config.DefaultLeaseFile || o.Journal != config.DefaultLeaseFile+".journal" || !o.LeaseFileRO {
		t.Errorf("%+v %v", o, err)
	}
	if _, err := Open(Options{LeaseFile: filepath.Join(t.TempDir(), "missing-dir", "leases")}); err == nil {
		t.Error("a missing directory: no error")
	}
}

// TestCommitAndReopen: puts, renewals, moves and deletes in batches; the
// table follows, and a reopened store has the same leases and writes the
// same leases file.
func TestCommitAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	a, b, c := testLease(1, far), testLease(2, far), testLease(3, 0)
	steps := []struct {
		name  string
		batch []leases.Record
		want  []leases.Lease
	}{
		{"three new", puts(a, b, c), sortedLeases(a, b, c)},
		{"renew b", puts(withExpiry(b, far+10)), sortedLeases(a, withExpiry(b, far+10), c)},
		{"a moves", []leases.Record{leases.DeleteRecord(a.Addr), leases.PutRecord(withAddr(a, "10.1.9.9"))}, sortedLeases(withExpiry(b, far+10), c, withAddr(a, "10.1.9.9"))},
		{"release c", []leases.Record{leases.DeleteRecord(c.Addr)}, sortedLeases(withExpiry(b, far+10), withAddr(a, "10.1.9.9"))},
		{"delete of nothing", []leases.Record{leases.DeleteRecord(addr("10.9.9.9"))}, sortedLeases(withExpiry(b, far+10), withAddr(a, "10.1.9.9"))},
	}
	for _, st := range steps {
		commit(t, s, st.batch...)
		sameLeases(t, st.name, s.Leases(), st.want)
	}
	want := steps[len(steps)-1].want
	file := s.LeaseFileBytes()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(context.Background(), puts(a)); !errors.Is(err, ErrClosed) {
		t.Errorf("commit after Close: %v", err)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "leases"))
	if err != nil || !bytes.Equal(onDisk, file) {
		t.Errorf("leases file at Close:\n%s\nwant:\n%s (%v)", onDisk, file, err)
	}
	again := openTest(t, dir, nil)
	if rec := again.Recovery(); rec.Source != "journal" || rec.TornBytes != 0 {
		t.Errorf("reopen: %+v", rec)
	}
	sameLeases(t, "reopened", again.Leases(), want)
	if got := again.LeaseFileBytes(); !bytes.Equal(got, file) {
		t.Errorf("reopened leases file:\n%s\nwant:\n%s", got, file)
	}
	if l, ok := again.Lease(addr("10.1.9.9")); !ok || l.Hostname != "host1" {
		t.Errorf("Lease: %+v %v", l, ok)
	}
	n := 0
	again.View(func(tb *leases.Table) { n = tb.Len() })
	if n != 2 {
		t.Errorf("View: %d leases", n)
	}
}

func withExpiry(l leases.Lease, e int64) leases.Lease { l.Expires = e; return l }
func withAddr(l leases.Lease, a string) leases.Lease  { l.Addr = addr(a); return l }

// TestCommitErrors: a batch that cannot be journalled fails whole; a full
// queue fails when the context ends; nothing of a failed batch applies.
func TestCommitErrors(t *testing.T) {
	g := newGate()
	s := openTest(t, "", func(o *Options) { o.QueueSize = 1; o.hooks = &hooks{syncJournal: g.sync} })
	bad := testLease(2, far)
	bad.Addr = addr("fd00::2")
	if err := s.Commit(context.Background(), puts(testLease(1, far), bad)); err == nil {
		t.Error("IPv6 lease committed")
	}
	if s.Len() != 0 {
		t.Errorf("a failed batch left %d leases", s.Len())
	}
	if err := s.Commit(context.Background(), nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}

	// Hold the writer in an fsync, fill the queue, then one more.
	g.armed.Store(true)
	errs := make(chan error, 2)
	go func() { errs <- s.Commit(context.Background(), puts(testLease(3, far))) }()
	g.wait(t)
	go func() { errs <- s.Commit(context.Background(), puts(testLease(4, far))) }()
	waitQueued(t, s, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Commit(ctx, puts(testLease(5, far))); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not queued") {
		t.Errorf("full queue: %v", err)
	}
	close(g.release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	sameLeases(t, "after the stall", s.Leases(), sortedLeases(testLease(3, far), testLease(4, far)))
}

// TestGroupCommit: commits that queue while an fsync runs share the next
// one, and none returns before its own fsync.
func TestGroupCommit(t *testing.T) {
	g := newGate()
	s := openTest(t, "", func(o *Options) { o.hooks = &hooks{syncJournal: g.sync} })
	g.armed.Store(true)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	var acked sync.Map
	commitOne := func(i int) {
		defer wg.Done()
		err := s.Commit(context.Background(), puts(testLease(i, far)))
		acked.Store(i, true)
		errs <- err
	}
	wg.Add(1)
	go commitOne(0)
	g.wait(t)
	before := s.Stats().Syncs
	for i := 1; i < n; i++ {
		wg.Add(1)
		go commitOne(i)
	}
	waitQueued(t, s, n-1)
	acked.Range(func(k, _ any) bool {
		t.Errorf("commit %v returned before its fsync", k)
		return true
	})
	close(g.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	st := s.Stats()
	if got := st.Syncs - before; got != 2 {
		t.Errorf("%d fsyncs for %d commits, want 2 (one, then one for the group that queued behind it)", got, n)
	}
	if st.Commits != n || st.Records != n || s.Len() != n {
		t.Errorf("stats %+v, %d leases", st, s.Len())
	}
}

// TestTornTail: what a crash leaves after the last whole record is cut
// off at Open, appending continues after the good part, and a long
// damaged tail is kept in a copy first.
func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name        string
		tail        func(rec []byte) []byte
		wantDamaged bool
	}{
		{"half a record", func(rec []byte) []byte { return rec[:len(rec)/2] }, false},
		{"only a length", func(rec []byte) []byte { return rec[:3] }, false},
		{"zeros of a preallocated block", func([]byte) []byte { return make([]byte, 4096) }, false},
		{"bad checksum", func(rec []byte) []byte { b := bytes.Clone(rec); b[len(b)-1] ^= 1; return b }, false},
		{"damage longer than a group", func([]byte) []byte { return bytes.Repeat([]byte{0xff}, 64<<10) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mod := func(o *Options) { o.MaxGroupBytes = 16 << 10 }
			s := openTest(t, dir, mod)
			commit(t, s, puts(testLease(1, far), testLease(2, far))...)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			journal := filepath.Join(dir, "leases.journal")
			good, err := os.ReadFile(journal)
			if err != nil {
				t.Fatal(err)
			}
			rec, _ := leases.AppendRecord(nil, leases.PutRecord(testLease(3, far)))
			tail := tc.tail(rec)
			if err := os.WriteFile(journal, append(bytes.Clone(good), tail...), 0o644); err != nil {
				t.Fatal(err)
			}
			s = openTest(t, dir, mod)
			if got := s.Recovery().TornBytes; got != int64(len(tail)) {
				t.Errorf("torn %d bytes, want %d", got, len(tail))
			}
			if fi, err := os.Stat(journal); err != nil || fi.Size() != int64(len(good)) {
				t.Errorf("journal not cut back to %d bytes: %v %v", len(good), fi.Size(), err)
			}
			_, err = os.Stat(journal + damagedSuffix)
			if damaged := err == nil; damaged != tc.wantDamaged {
				t.Errorf("damaged copy kept: %v, want %v", damaged, tc.wantDamaged)
			}
			commit(t, s, puts(testLease(4, far))...)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			got, res := replayFile(t, journal)
			if res.Torn != 0 {
				t.Errorf("journal still torn after appending: %+v", res)
			}
			sameLeases(t, "after the cut", got, sortedLeases(testLease(1, far), testLease(2, far), testLease(4, far)))
		})
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	if _, err := Open(testOptions(t, dir, nil)); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	openTest(t, dir, nil)
}

// TestCloseWritesQueued: commits queued when Close is called are written
// and acknowledged, or refused; never left hanging.
func TestCloseWritesQueued(t *testing.T) {
	g := newGate()
	s := openTest(t, "", func(o *Options) { o.hooks = &hooks{syncJournal: g.sync} })
	g.armed.Store(true)
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- s.Commit(context.Background(), puts(testLease(i, far))) }()
		if i == 0 {
			g.wait(t)
		}
	}
	waitQueued(t, s, n-1)
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	close(g.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	ok := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case !errors.Is(err, ErrClosed):
			t.Errorf("commit: %v", err)
		}
	}
	if ok != n {
		t.Errorf("%d of %d queued commits acknowledged", ok, n)
	}
}
