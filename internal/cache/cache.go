// Package cache owns dnsd's answer cache: whole parsed answers keyed by
// (lower-cased name, type, class), with expiry from the smallest TTL,
// negative answers kept for the SOA minimum (RFC 2308, as dnsmasq does),
// a bound in entries with least-recently-used eviction, and TTLs counted
// down on every hit. It is sharded so concurrent readers rarely contend.
package cache

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// MaxTTL caps how long any answer is kept (RFC 8767 suggests 7 days), so a
// huge TTL from a broken upstream cannot pin an entry forever.
const MaxTTL = 7 * 24 * 3600

// Key identifies a cached question. Name is lower-case ASCII and fully
// qualified ("example.com.").
type Key struct {
	Name   string
	Qtype  uint16
	Qclass uint16
}

// KeyOf builds the key of a question, folding the name's ASCII case.
func KeyOf(q dns.Question) Key {
	return Key{Name: foldName(q.Name), Qtype: q.Qtype, Qclass: q.Qclass}
}

// Answer is what a hit returns: fresh copies of the stored records with
// their TTLs counted down, safe for the caller to modify.
type Answer struct {
	Rcode  int
	Answer []dns.RR
	Ns     []dns.RR
	Extra  []dns.RR
	// TTL is the remaining lifetime of the entry in seconds.
	TTL uint32
}

// Stats counts cache events since New.
type Stats struct {
	Hits, Misses, Inserts, Evictions, Expired uint64
	Len                                       int
}

// Cache is a bounded, concurrency-safe answer cache. The zero capacity
// cache (cache-size=0) stores nothing and always misses.
type Cache struct {
	shards   []shard
	disabled bool
	seed     maphash.Seed
	clock    func() time.Time
	base     time.Time

	hits, misses, inserts, evictions, expired atomic.Uint64
}

type entry struct {
	key        Key
	rcode      int
	answer     []dns.RR // records as received, with their original TTLs
	ns         []dns.RR
	extra      []dns.RR
	stored     uint32 // clock second the entry was stored
	expires    uint32 // clock second it stops being served
	prev, next *entry
}

type shard struct {
	mu       sync.Mutex
	capacity int
	items    map[Key]*entry
	// head is a sentinel of the LRU ring: head.next is the most recently
	// used entry, head.prev the least.
	head entry
}

// New returns a cache holding at most capacity answers.
func New(capacity int) *Cache { return NewWithClock(capacity, time.Now) }

// NewWithClock is New with a clock, for tests that move time.
func NewWithClock(capacity int, clock func() time.Time) *Cache {
	if capacity < 0 {
		capacity = 0
	}
	n := 1
	// Small caches stay one shard so LRU order is exact; large ones spread
	// lock contention.
	for n < 16 && capacity/(n*2) >= 512 {
		n *= 2
	}
	c := &Cache{shards: make([]shard, n), disabled: capacity == 0, seed: maphash.MakeSeed(), clock: clock, base: clock()}
	for i := range c.shards {
		s := &c.shards[i]
		s.capacity = capacity / n
		if i < capacity%n {
			s.capacity++
		}
		s.items = make(map[Key]*entry)
		s.head.next, s.head.prev = &s.head, &s.head
	}
	return c
}

// now is the coarse clock: whole seconds since the cache was made.
func (c *Cache) now() uint32 {
	d := c.clock().Sub(c.base)
	if d < 0 {
		return 0
	}
	return uint32(d / time.Second)
}

func (c *Cache) shardFor(k Key) *shard {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	h := maphash.String(c.seed, k.Name) ^ uint64(k.Qtype)<<16 ^ uint64(k.Qclass)
	return &c.shards[h%uint64(len(c.shards))]
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
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Inserts: c.inserts.Load(),
		Evictions: c.evictions.Load(), Expired: c.expired.Load(), Len: c.Len(),
	}
}

// Flush drops every entry (SIGHUP, a new configuration).
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

func foldName(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}
