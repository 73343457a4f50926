package leasestore

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/leases"
)

// Compaction replaces the journal J by a snapshot of the table, crash-safe
// at every step:
//
//  1. write the snapshot to J.tmp and fsync it (a crash leaves J as it
//     was, and Open removes J.tmp);
//  2. rename J.tmp over J (a crash before the directory is synced finds
//     the old J or the new one, and both hold every acknowledged change);
//  3. fsync the directory, so the rename survives a power loss;
//  4. only then append to the new file: an acknowledged record can never
//     land in a file that a crash could bring the old name back over.
//
// Step 1 is the long one (a 50,000-lease table is 2 MB). The periodic
// compaction runs it in the background while groups go on being appended
// to the old journal; the records appended meanwhile (the tail) are kept
// in memory, and once the snapshot is synced the writer appends the tail
// to it, fsyncs, and does steps 2-4. Replaying the tail over the snapshot
// gives the current table even if the snapshot saw some of those records
// already, since a record sets or removes one address whatever was there.

// background is a compaction whose snapshot is being written.
type background struct {
	done chan snapshotResult // capacity 1
	tail []byte              // records appended since it started
}

type snapshotResult struct {
	file *os.File // the synced J.tmp, positioned at its end
	size int64
	err  error
}

// maybeCompact starts a background compaction when the journal has grown
// past the snapshot's size and CompactMinBytes, or (periodic) when
// anything was appended since the last snapshot.
func (s *Store) maybeCompact(periodic bool) {
	if s.bg != nil || s.failed != nil {
		return
	}
	appended := s.size - s.snapSize
	due := appended >= max(s.opts.CompactMinBytes, s.snapSize)
	if periodic {
		due = appended > 0
	}
	if !due {
		return
	}
	bg := &background{done: make(chan snapshotResult, 1)}
	s.bg = bg
	go func() { bg.done <- s.writeSnapshotFile() }()
}

// bgDone is the channel the writer selects on: nil (never ready) when no
// background compaction runs.
func (s *Store) bgDone() <-chan snapshotResult {
	if s.bg == nil {
		return nil
	}
	return s.bg.done
}

// finishBackground appends the tail to a finished background snapshot
// and installs it. It also serves as the replacement after a failed
// fsync: the snapshot and the tail hold exactly the acknowledged changes.
func (s *Store) finishBackground(res snapshotResult) {
	tail := s.bg.tail
	s.bg = nil
	err := res.err
	if err == nil && len(tail) > 0 {
		if _, werr := res.file.Write(tail); werr != nil {
			err = abandonSnapshot(res.file, s.journalTmp(), fmt.Errorf("append tail to %s: %w", s.journalTmp(), werr))
		} else if serr := s.opts.hooks.syncJournal(res.file); serr != nil {
			err = abandonSnapshot(res.file, s.journalTmp(), fmt.Errorf("sync %s: %w", s.journalTmp(), serr))
		}
		res.size += int64(len(tail))
	}
	if err == nil {
		err = s.install(res.file, res.size)
	}
	if err != nil {
		s.opts.Logf("compact lease journal: %v", err)
	}
}

// cancelBackground waits for a running background snapshot and throws it
// away.
func (s *Store) cancelBackground() {
	if s.bg == nil {
		return
	}
	res := <-s.bg.done
	s.bg = nil
	if res.err == nil {
		abandonSnapshot(res.file, s.journalTmp(), nil)
	}
}

// compactNow is compact with its error wrapped.
func (s *Store) compactNow() error {
	if err := s.compact(); err != nil {
		return fmt.Errorf("compact lease journal: %w", err)
	}
	return nil
}

// compact does all four steps at once, in the writer (or in Open, before
// the writer starts): for the first journal, an explicit Compact, and to
// replace a journal whose fsync failed.
func (s *Store) compact() error {
	s.cancelBackground()
	res := s.writeSnapshotFile()
	if res.err != nil {
		return res.err
	}
	return s.install(res.file, res.size)
}

// writeSnapshotFile is step 1. It may run beside the writer: it only
// reads the table, under the read lock.
func (s *Store) writeSnapshotFile() snapshotResult {
	tmp := s.journalTmp()
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return snapshotResult{err: fmt.Errorf("create %s: %w", tmp, err)}
	}
	s.mu.RLock()
	snapshot := s.orderedLocked(false)
	s.mu.RUnlock()
	counter := &countingWriter{w: f}
	if err := leases.WriteSnapshot(counter, snapshot); err != nil {
		return snapshotResult{err: abandonSnapshot(f, tmp, fmt.Errorf("%s: %w", tmp, err))}
	}
	if err := s.opts.hooks.syncSnapshot(f); err != nil {
		return snapshotResult{err: abandonSnapshot(f, tmp, fmt.Errorf("sync %s: %w", tmp, err))}
	}
	return snapshotResult{file: f, size: counter.n}
}

// abandonSnapshot closes and removes a snapshot that will not be used,
// and returns err with any failure to remove it.
func abandonSnapshot(f *os.File, tmp string, err error) error {
	f.Close()
	if rerr := os.Remove(tmp); rerr != nil {
		return errors.Join(err, fmt.Errorf("remove %s: %w", tmp, rerr))
	}
	return err
}

// install does steps 2-4 for a synced snapshot file.
func (s *Store) install(f *os.File, size int64) error {
	if err := os.Rename(s.journalTmp(), s.opts.Journal); err != nil {
		return abandonSnapshot(f, s.journalTmp(), fmt.Errorf("rename %s: %w", s.journalTmp(), err))
	}
	// From here on the old descriptor names an unlinked file: switch to
	// the new one whatever happens.
	if s.journal != nil {
		s.journal.Close()
	}
	s.journal = f
	s.size, s.snapSize = size, size
	s.stats.journalBytes.Store(size)
	if err := syncDir(s.dir); err != nil {
		// The rename may not survive a power loss; appending now could
		// acknowledge records that a crash takes back. The next group
		// replaces the journal again first.
		s.failed = err
		return err
	}
	s.failed = nil
	s.stats.compactions.Add(1)
	return nil
}

// ordered is orderedLocked for the leases file: it holds the read lock
// only to copy the leases (commits apply theirs under the write lock and
// must not wait for a sort), sorts small keys rather than leases, and
// lets other goroutines run between its steps. The master often has a
// single processor: a rewrite of tens of thousands of leases done in one
// go would hold up the journal writer, and with it every ACK, for its
// whole length.
func (s *Store) ordered(newestFirst bool) []leases.Lease {
	type placed struct {
		order uint64
		i     int32
	}
	s.mu.RLock()
	all := make([]leases.Lease, 0, len(s.meta))
	keys := make([]placed, 0, len(s.meta))
	for a, m := range s.meta {
		if l, ok := s.table.ByAddr(a); ok {
			keys = append(keys, placed{m.order, int32(len(all))})
			all = append(all, l)
		}
	}
	s.mu.RUnlock()
	runtime.Gosched()
	slices.SortFunc(keys, func(a, b placed) int {
		if newestFirst {
			return cmp.Compare(b.order, a.order)
		}
		return cmp.Compare(a.order, b.order)
	})
	runtime.Gosched()
	out := make([]leases.Lease, len(keys))
	for i, k := range keys {
		out[i] = all[k.i]
	}
	return out
}

// orderedLocked returns the leases in the order they were created
// (newestFirst: the reverse, dnsmasq's file order). A snapshot in
// creation order replays to the same order.
func (s *Store) orderedLocked(newestFirst bool) []leases.Lease {
	type placed struct {
		order uint64
		addr  netip.Addr
	}
	all := make([]placed, 0, len(s.meta))
	for a, m := range s.meta {
		all = append(all, placed{m.order, a})
	}
	slices.SortFunc(all, func(a, b placed) int {
		if newestFirst {
			return cmp.Compare(b.order, a.order)
		}
		return cmp.Compare(a.order, b.order)
	})
	out := make([]leases.Lease, 0, len(all))
	for _, p := range all {
		if l, ok := s.table.ByAddr(p.addr); ok {
			out = append(out, l)
		}
	}
	return out
}

type countingWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
