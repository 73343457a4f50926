package cache

import "time"

// DumpEntry is one stored answer as SIGUSR1's cache dump lists it.
type DumpEntry struct {
	// Wire is the stored reply: packed uncompressed, ID 0, the question
	// name folded to lower case, no OPT record. The caller must not
	// modify it.
	Wire  []byte
	Rcode int
	// Expires is when the answer stops being fresh.
	Expires time.Time
}

// Dump returns up to limit stored answers that can still be served
// (fresh, or stale within use-stale-cache's limit), most recently used
// first in each shard. It holds one shard's lock at a time, briefly: the
// entries' bytes are shared, not copied, as they never change once
// stored.
func (c *Cache) Dump(limit int) []DumpEntry {
	if c.disabled || limit <= 0 {
		return nil
	}
	now := c.Now()
	var out []DumpEntry
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for e := s.head.next; e != &s.head && len(out) < limit; e = e.next {
			if now >= e.staleUntil || (now >= e.expires && !c.opts.Stale) {
				continue
			}
			out = append(out, DumpEntry{Wire: e.wire, Rcode: e.rcode, Expires: c.base.Add(time.Duration(e.expires) * time.Second)})
		}
		s.mu.Unlock()
	}
	return out
}
