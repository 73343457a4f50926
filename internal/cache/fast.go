package cache

import "bytes"

// The fast path: a cached reply written straight from its template. An
// entry is served here only under the stamp (a pipeline-state number the
// caller chooses, never 0) that Confirm recorded for the query's shape,
// that is, after the full pipeline, under that very state, produced the
// same bytes for it. A new state (configuration, local data) is a new
// stamp, so everything in front of the cache is re-checked once per entry
// and shape before the fast path answers again.

// AppendFast writes the cached reply to q into dst's storage and returns
// it, or reports false (not cached, expired, not confirmed under stamp,
// or too large for the client without compression): the caller then runs
// the full pipeline. now is Now(), read once per batch. With enough
// capacity in dst it does not allocate.
func (c *Cache) AppendFast(dst []byte, q *Query, stamp uint64, now uint32) ([]byte, bool) {
	if c.disabled || stamp == 0 {
		return dst, false
	}
	s := c.shardFor(q.Key)
	s.mu.Lock()
	e := s.lookup(q.Key)
	if e == nil || e.stamps[q.Shape()] != stamp || now >= e.expires {
		s.mu.Unlock()
		return dst, false
	}
	s.touch(e)
	s.hits++
	s.fastHits++
	s.mu.Unlock()
	// The template, TTL slots and question never change after Put.
	return e.render(dst, q, now, c.opts.MaxClientTTL)
}

// Confirm compares reply, the bytes the full pipeline sent for q from
// answer a (a fresh hit), with what AppendFast would write for q at the
// same moment. If they are equal, the entry is served by AppendFast for
// queries of q's shape under stamp from now on, and Confirm reports true.
func (c *Cache) Confirm(a Answer, q *Query, reply []byte, stamp uint64) bool {
	e := a.e
	if e == nil || a.Stale || stamp == 0 || c.disabled {
		return false
	}
	var buf [512]byte
	out, ok := e.render(buf[:0], q, a.now, c.opts.MaxClientTTL)
	if !ok || !bytes.Equal(out, reply) {
		return false
	}
	s := c.shardFor(q.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Only the entry that produced the reply, and only while it is still
	// the one stored: a Put in between replaced it unconfirmed.
	if s.items[e.key] != e || e.key != string(q.Key) {
		return false
	}
	e.stamps[q.Shape()] = stamp
	return true
}
