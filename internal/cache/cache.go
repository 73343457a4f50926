// Package cache owns dnsd's answer cache: whole answers keyed by the
// question (name folded to lower case, type, class), stored once as a
// pre-packed reply with the offset of every TTL, so that a hit is a copy
// and a few patches (ID, RD/CD bits, the question's case -- in the
// question and in the answer owners equal to it, as dnsmasq writes them --
// TTLs counted down from a coarse clock) without a parsed message. Negative answers
// live for the SOA minimum (RFC 2308, as dnsmasq does), or neg-ttl without
// an SOA. Size is bounded in entries with least-recently-used eviction;
// insert, hit and eviction are O(1). It is sharded so concurrent readers
// rarely contend.
//
// The fast path (AppendFast) serves an entry only after the full pipeline
// has produced the very same bytes for it under the same pipeline state
// (Confirm), so every stage in front of the cache keeps its meaning.
package cache

import (
	"hash/maphash"
	"sync"
	"time"
)

// MaxTTL caps how long any answer is kept (RFC 8767 suggests 7 days), so a
// huge TTL from a broken upstream cannot pin an entry forever.
const MaxTTL = 7 * 24 * 3600

// Options are the cache settings of dnsmasq's configuration language.
type Options struct {
	// Size is cache-size: the most answers kept; 0 disables the cache.
	Size int
	// NoNegCache is no-negcache: NXDOMAIN and NODATA are never stored.
	NoNegCache bool
	// NegTTL is neg-ttl: the lifetime of a negative answer that carries no
	// SOA; 0 leaves such answers uncached.
	NegTTL uint32
	// MinCacheTTL is min-cache-ttl: shorter record TTLs are raised to it
	// when stored.
	MinCacheTTL uint32
	// MaxCacheTTL is max-cache-ttl: longer record TTLs are lowered to it
	// when stored; 0 = no limit but MaxTTL.
	MaxCacheTTL uint32
	// MaxClientTTL is max-ttl: the largest TTL handed to clients; the
	// entry itself keeps its true lifetime. 0 = no limit.
	MaxClientTTL uint32
	// Stale is use-stale-cache: expired entries are still returned (with
	// TTL 0, Answer.Stale set) for StaleMax seconds past their expiry
	// (0 = without limit), so that the caller can answer and refresh.
	Stale    bool
	StaleMax uint32
}

// Stats counts cache events since New.
type Stats struct {
	// Hits counts every hit; FastHits those of them served by AppendFast.
	Hits, FastHits, Misses, Inserts, Evictions, Expired, StaleHits uint64
	Len                                                            int
}

// Cache is a bounded, concurrency-safe answer cache. A cache of Size 0
// (cache-size=0) stores nothing and always misses.
type Cache struct {
	shards   []shard
	disabled bool
	opts     Options
	seed     maphash.Seed
	clock    func() time.Time
	base     time.Time
}

type shard struct {
	mu       sync.Mutex
	capacity int
	items    map[string]*entry
	// head is a sentinel of the LRU ring: head.next is the most recently
	// used entry, head.prev the least.
	head entry

	hits, fastHits, misses, inserts, evictions, expired, staleHits uint64
	_                                                              [64]byte // keep shards' locks on separate cache lines
}

// New returns a cache with the given options.
func New(opts Options) *Cache { return NewWithClock(opts, time.Now) }

// NewWithClock is New with a clock, for tests that move time.
func NewWithClock(opts Options, clock func() time.Time) *Cache {
	if opts.Size < 0 {
		opts.Size = 0
	}
	capacity := opts.Size
	n := 1
	// Small caches stay one shard so LRU order is exact; large ones spread
	// lock contention.
	for n < 16 && capacity/(n*2) >= 512 {
		n *= 2
	}
	c := &Cache{shards: make([]shard, n), disabled: capacity == 0, opts: opts, seed: maphash.MakeSeed(), clock: clock, base: clock()}
	for i := range c.shards {
		s := &c.shards[i]
		s.capacity = capacity / n
		if i < capacity%n {
			s.capacity++
		}
		s.items = make(map[string]*entry)
		s.head.next, s.head.prev = &s.head, &s.head
	}
	return c
}

// Options returns the options the cache was made with.
func (c *Cache) Options() Options { return c.opts }

// Now is the coarse clock the cache counts TTLs with: whole seconds since
// the cache was made. The fast path reads it once per batch of queries.
func (c *Cache) Now() uint32 {
	d := c.clock().Sub(c.base)
	if d < 0 {
		return 0
	}
	return uint32(d / time.Second)
}

func (c *Cache) shardFor(key []byte) *shard {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	return &c.shards[maphash.Bytes(c.seed, key)%uint64(len(c.shards))]
}

// Len is the number of stored answers, expired ones included until they
// are looked up or evicted.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.items)
		s.mu.Unlock()
	}
	return n
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	var st Stats
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		st.Hits += s.hits
		st.FastHits += s.fastHits
		st.Misses += s.misses
		st.Inserts += s.inserts
		st.Evictions += s.evictions
		st.Expired += s.expired
		st.StaleHits += s.staleHits
		st.Len += len(s.items)
		s.mu.Unlock()
	}
	return st
}

// Flush drops every entry (SIGHUP, clear-on-reload).
func (c *Cache) Flush() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.items)
		s.head.next, s.head.prev = &s.head, &s.head
		s.mu.Unlock()
	}
}

func (s *shard) unlink(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (s *shard) pushFront(e *entry) {
	e.prev = &s.head
	e.next = s.head.next
	s.head.next.prev = e
	s.head.next = e
}

// touch marks e most recently used.
func (s *shard) touch(e *entry) {
	if s.head.next != e {
		s.unlink(e)
		s.pushFront(e)
	}
}

// remove drops e; the caller holds the lock.
func (s *shard) remove(e *entry) {
	s.unlink(e)
	delete(s.items, e.key)
}
