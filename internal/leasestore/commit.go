package leasestore

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/moatdns/moat/internal/leases"
)

// request is one Commit or Expire waiting for the journal writer.
type request struct {
	buf  []byte          // the encoded records (a Commit's)
	recs []leases.Record // what to apply once durable
	done chan error      // capacity 1: the writer never blocks on it
	// expireAt is set for an Expire: the writer chooses the records when
	// it writes the group, so no commit can slip in between.
	expireAt time.Time
	expired  []leases.Lease
}

var requestPool = sync.Pool{New: func() any { return &request{done: make(chan error, 1)} }}

func newRequest() *request { return requestPool.Get().(*request) }

// putRequest recycles a request whose answer was received.
func putRequest(r *request) {
	r.buf, r.recs, r.expired, r.expireAt = r.buf[:0], nil, nil, time.Time{}
	requestPool.Put(r)
}

// Commit makes a batch of lease changes durable: it returns nil only after
// the records are in the journal and the journal is fsynced (the DHCP ACK
// waits for this), and only then are they in the table. Concurrent
// commits share fsyncs (group commit), so callers that want throughput
// commit from many goroutines (one per DHCP request) rather than one
// after another. The batch is applied in order, and no other commit's
// records come between its records; the caller must not change it until
// Commit returns. The batch is journalled as one (leases.AppendBatch): a
// crash while it is being written leaves all of it or none of it.
//
// An error means the batch is not acknowledged: a record that cannot be
// journalled, a full queue until ctx ended, a failed write or fsync, or a
// closed store. When ctx ends after the batch was queued, Commit returns
// ctx's error at once but the batch may still be written: it is not
// acknowledged, and a later reader may or may not find it.
func (s *Store) Commit(ctx context.Context, batch []leases.Record) error {
	if len(batch) == 0 {
		return nil
	}
	r := newRequest()
	var err error
	// One batch: replay after a crash applies it whole or not at all.
	if r.buf, err = leases.AppendBatch(r.buf, batch); err != nil {
		putRequest(r)
		return fmt.Errorf("lease commit: %w", err)
	}
	r.recs = batch
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	putRequest(r)
	return nil
}

// submit queues r and waits for its answer. On a nil return r is the
// caller's again; otherwise r is not reused (the writer may hold it).
func (s *Store) submit(ctx context.Context, r *request) error {
	select {
	case <-s.quit:
		return ErrClosed
	default:
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return fmt.Errorf("lease commit not queued: %w", ctx.Err())
	case <-s.quit:
		return ErrClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("lease commit (it may still be written, unacknowledged): %w", ctx.Err())
	case <-s.stopped:
		// The writer exited; it answered r if it took it.
		select {
		case err := <-r.done:
			return err
		default:
			return ErrClosed
		}
	}
}

// Compact writes a snapshot of the leases as the new journal now.
func (s *Store) Compact(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case s.compactCh <- reply:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.quit:
		return ErrClosed
	}
	select {
	case err := <-reply:
		return err
	case <-s.stopped:
		return ErrClosed
	}
}

// runJournal is the journal writer: the one goroutine that writes the
// journal, so groups and compactions never interleave.
func (s *Store) runJournal() {
	defer close(s.stopped)
	tick := time.NewTicker(s.opts.CompactInterval)
	defer tick.Stop()
	var group []*request
	for {
		select {
		case r := <-s.reqs:
			s.waitSyncGap()
			group = s.collect(append(group[:0], r))
			s.writeGroup(group)
			s.maybeCompact(false)
		case res := <-s.bgDone():
			s.finishBackground(res)
		case reply := <-s.compactCh:
			reply <- s.compactNow()
		case <-tick.C:
			s.maybeCompact(true)
		case <-s.quit:
			defer s.cancelBackground()
			// Write what was queued before Close; later submitters
			// see quit and stopped.
			for {
				group = group[:0]
				for len(s.reqs) > 0 {
					group = append(group, <-s.reqs)
				}
				if len(group) == 0 {
					return
				}
				s.writeGroup(group)
			}
		}
	}
}

// waitSyncGap waits until SyncGap has passed since the last fsync
// started (see Options.SyncGap); the commits that arrive meanwhile queue
// and join the group.
func (s *Store) waitSyncGap() {
	if s.opts.SyncGap <= 0 || s.lastSync.IsZero() {
		return
	}
	if wait := s.opts.SyncGap - time.Since(s.lastSync); wait > 0 {
		time.Sleep(wait)
	}
}

// collect adds the requests already queued to the group, up to
// MaxGroupBytes: those that arrived during the previous fsync.
func (s *Store) collect(group []*request) []*request {
	bytes := len(group[0].buf)
	for bytes < s.opts.MaxGroupBytes {
		select {
		case r := <-s.reqs:
			group = append(group, r)
			bytes += len(r.buf)
		default:
			return group
		}
	}
	return group
}

// writeGroup appends a group's records with one write, fsyncs once, then
// applies them and answers every request. Any failure fails every request
// of the group: nothing of it is acknowledged or applied.
func (s *Store) writeGroup(group []*request) {
	fail := func(err error) {
		for _, r := range group {
			r.done <- err
		}
	}
	if s.failed != nil {
		// A sync failed earlier: what the kernel holds of the journal
		// cannot be trusted. Replace it with a snapshot of the table
		// (every acknowledged lease) before writing again.
		cause := s.failed
		if err := s.compact(); err != nil {
			fail(fmt.Errorf("lease journal unusable since %v; replacing it failed: %w", cause, err))
			return
		}
		s.opts.Logf("lease journal %s replaced by a snapshot after: %v", s.opts.Journal, cause)
	}
	buf := s.group[:0]
	for i, r := range group {
		if !r.expireAt.IsZero() {
			s.chooseExpired(r, group[:i])
			for _, rec := range r.recs {
				buf, _ = leases.AppendRecord(buf, rec) // deletes always encode
			}
			continue
		}
		buf = append(buf, r.buf...)
	}
	s.group = buf
	if len(buf) > 0 {
		if err := s.appendSynced(buf); err != nil {
			fail(err)
			return
		}
		if s.bg != nil {
			s.bg.tail = append(s.bg.tail, buf...)
		}
	}
	records := 0
	s.mu.Lock()
	for _, r := range group {
		for _, rec := range r.recs {
			s.applyLocked(rec)
		}
		records += len(r.recs)
	}
	s.mu.Unlock()
	s.stats.commits.Add(uint64(len(group)))
	s.stats.records.Add(uint64(records))
	for _, r := range group {
		r.done <- nil
	}
	if records > 0 {
		s.markFileDirty()
	}
}

// chooseExpired fills an Expire request with the leases over at its time,
// leaving out addresses that earlier requests of the group change.
func (s *Store) chooseExpired(r *request, earlier []*request) {
	var skip map[netip.Addr]bool
	for _, e := range earlier {
		for _, rec := range e.recs {
			if skip == nil {
				skip = map[netip.Addr]bool{}
			}
			skip[rec.Lease.Addr] = true
		}
	}
	s.mu.RLock()
	r.expired = s.expiredLocked(r.expireAt, skip)
	s.mu.RUnlock()
	r.recs = make([]leases.Record, len(r.expired))
	for i, l := range r.expired {
		r.recs[i] = leases.DeleteRecord(l.Addr)
	}
}

// appendSynced writes buf at the journal's end and fsyncs it. A failed
// write is cut off again, so the journal stays a sequence of whole
// records; a failed fsync marks the journal for replacement, since the
// kernel may have dropped the pages it could not write (retrying fsync
// would wrongly succeed).
func (s *Store) appendSynced(buf []byte) error {
	n, err := s.journal.Write(buf)
	if err != nil {
		if terr := s.journal.Truncate(s.size); terr != nil {
			s.failed = fmt.Errorf("write lease journal: %w; truncate: %v", err, terr)
		} else if _, serr := s.journal.Seek(s.size, 0); serr != nil {
			s.failed = fmt.Errorf("write lease journal: %w; seek: %v", err, serr)
		}
		return fmt.Errorf("write lease journal: %w", err)
	}
	s.lastSync = time.Now()
	if err := s.opts.hooks.syncJournal(s.journal); err != nil {
		s.failed = fmt.Errorf("sync lease journal: %w", err)
		return s.failed
	}
	s.size += int64(n)
	s.stats.syncs.Add(1)
	s.stats.journalBytes.Store(s.size)
	return nil
}
