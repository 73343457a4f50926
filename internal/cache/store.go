package cache

import (
	"encoding/binary"
	"fmt"

	"github.com/miekg/dns"
)

// entry is one cached answer. Everything but the LRU links, stamps and
// refreshing is immutable once the entry is in the map, so a hit may copy
// the template outside the shard lock.
type entry struct {
	key  string // Query.Key: folded wire name, type, class
	wire []byte // the reply, packed uncompressed: ID 0, RD/CD clear, no OPT, question name folded
	ttls []ttlSlot
	// rcode of the answer, for Answer.
	rcode int
	// stored is the clock second of the Put; expires the second it stops
	// being fresh; staleUntil the second it stops being served at all.
	stored, expires, staleUntil uint32

	// Guarded by the shard lock.
	stamps [numShapes]uint64 // pipeline state the fast path may serve this entry under
	// refreshAt is 1 + the clock second a stale entry's refresh was
	// claimed; 0 = never.
	refreshAt  uint32
	prev, next *entry
}

// Put stores reply as the answer to q when it may be cached, and reports
// whether it did. Truncated answers and every rcode other than NOERROR and
// NXDOMAIN (SERVFAIL, REFUSED, ...) are never cached. A negative answer
// (NXDOMAIN, or NOERROR without answer records) lives for min(SOA TTL, SOA
// MINIMUM), or NegTTL without an SOA (not at all when NegTTL is 0 or
// NoNegCache is set). Record TTLs are clamped to [MinCacheTTL,
// MaxCacheTTL] first. The OPT, TSIG and SIG(0) records are not stored.
func (c *Cache) Put(q dns.Question, reply *dns.Msg) bool {
	if c.disabled {
		return false
	}
	var keyBuf [MaxKeyLen]byte
	key, ok := questionKey(q, keyBuf[:0])
	if !ok {
		return false
	}
	e, ok := c.newEntry(q, key, reply)
	if !ok {
		return false
	}
	s := c.shardFor(key)
	s.mu.Lock()
	if old := s.items[e.key]; old != nil {
		s.remove(old)
	}
	// O(1): at most one victim, the least recently used, per insert.
	if len(s.items) >= s.capacity {
		if victim := s.head.prev; victim != &s.head {
			s.remove(victim)
			s.evictions++
		}
	}
	s.items[e.key] = e
	s.pushFront(e)
	s.inserts++
	s.mu.Unlock()
	return true
}

// newEntry builds the template of a cacheable reply.
func (c *Cache) newEntry(q dns.Question, key []byte, reply *dns.Msg) (*entry, bool) {
	lifetime, ok := c.lifetime(reply)
	if !ok {
		return nil, false
	}
	m := &dns.Msg{}
	m.Response = true
	m.RecursionAvailable = true
	m.Rcode = reply.Rcode
	m.Question = []dns.Question{q}
	// The records are packed as they are (Pack only reads them) and their
	// TTLs clamped in the packed bytes: no copy of the message.
	m.Answer = storedRRs(reply.Answer)
	m.Ns = storedRRs(reply.Ns)
	m.Extra = storedRRs(reply.Extra)
	wire, err := m.Pack()
	if err != nil {
		return nil, false
	}
	// The question as stored is the key itself: the folded name and the
	// type and class asked, checked again on every hit.
	if len(wire) < headerLen+len(key) {
		return nil, false
	}
	copy(wire[headerLen:], key)
	ttls, ok := recordTTLSlots(wire)
	if !ok {
		return nil, false
	}
	for i := range ttls {
		ttls[i].ttl = c.clampTTL(ttls[i].ttl)
		binary.BigEndian.PutUint32(wire[ttls[i].off:], ttls[i].ttl)
	}
	now := c.Now()
	e := &entry{key: string(key), wire: wire, ttls: ttls, rcode: reply.Rcode, stored: now, expires: now + lifetime}
	e.staleUntil = e.expires
	if c.opts.Stale {
		switch {
		case c.opts.StaleMax == 0:
			e.staleUntil = ^uint32(0)
		default:
			e.staleUntil = e.expires + c.opts.StaleMax
		}
	}
	return e, true
}

// clampTTL applies min-cache-ttl, max-cache-ttl and MaxTTL to a TTL as
// received (RFC 2181 section 8: one with the top bit set means zero).
func (c *Cache) clampTTL(t uint32) uint32 {
	if t > 1<<31-1 {
		t = 0
	}
	if t < c.opts.MinCacheTTL {
		t = c.opts.MinCacheTTL
	}
	if c.opts.MaxCacheTTL != 0 && t > c.opts.MaxCacheTTL {
		t = c.opts.MaxCacheTTL
	}
	return min(t, MaxTTL)
}

// lifetime decides whether reply may be cached and for how long.
func (c *Cache) lifetime(reply *dns.Msg) (uint32, bool) {
	if reply == nil || reply.Truncated || reply.Opcode != dns.OpcodeQuery {
		return 0, false
	}
	negative := false
	switch reply.Rcode {
	case dns.RcodeSuccess:
		negative = len(reply.Answer) == 0
	case dns.RcodeNameError:
		negative = true
	default:
		return 0, false
	}
	if negative && c.opts.NoNegCache {
		return 0, false
	}
	ttl := uint32(MaxTTL)
	haveSOA := false
	for _, sec := range [][]dns.RR{reply.Answer, reply.Ns, reply.Extra} {
		for _, rr := range sec {
			switch rr := rr.(type) {
			case *dns.OPT, *dns.TSIG, *dns.SIG:
				continue
			case *dns.SOA:
				if negative {
					haveSOA = true
					ttl = min(ttl, c.clampTTL(rr.Minttl))
				}
			}
			ttl = min(ttl, c.clampTTL(rr.Header().Ttl))
		}
	}
	if negative && !haveSOA {
		if c.opts.NegTTL == 0 {
			return 0, false
		}
		ttl = min(ttl, c.clampTTL(c.opts.NegTTL))
	}
	if ttl == 0 {
		return 0, false
	}
	return ttl, true
}

// storedRRs is rrs without the records never stored (OPT, TSIG, SIG(0)),
// sharing rrs when there is none.
func storedRRs(rrs []dns.RR) []dns.RR {
	for i, rr := range rrs {
		switch rr.(type) {
		case *dns.OPT, *dns.TSIG, *dns.SIG:
			out := append([]dns.RR(nil), rrs[:i]...)
			for _, rr := range rrs[i+1:] {
				switch rr.(type) {
				case *dns.OPT, *dns.TSIG, *dns.SIG:
					continue
				}
				out = append(out, rr)
			}
			return out
		}
	}
	return rrs
}

// questionKey appends q's lookup key to buf: the name in wire form with
// A-Z folded, then type and class.
func questionKey(q dns.Question, buf []byte) ([]byte, bool) {
	var name [256]byte
	wireName, ok := packName(q.Name, &name)
	if !ok {
		return nil, false
	}
	return appendKey(buf, wireName, q), true
}

// packName packs name uncompressed into buf, keeping its case.
func packName(name string, buf *[256]byte) ([]byte, bool) {
	n, err := dns.PackDomainName(name, buf[:], 0, nil, false)
	if err != nil {
		return nil, false
	}
	return buf[:n], true
}

// appendKey appends the lookup key of q, whose name packs to wireName.
func appendKey(buf, wireName []byte, q dns.Question) []byte {
	start := len(buf)
	buf = append(buf, wireName...)
	foldASCII(buf[start:])
	buf = binary.BigEndian.AppendUint16(buf, q.Qtype)
	buf = binary.BigEndian.AppendUint16(buf, q.Qclass)
	return buf
}

// Answer is what Get returns: fresh records, safe for the caller to keep
// and modify, with TTLs counted down.
type Answer struct {
	Rcode  int
	Answer []dns.RR
	Ns     []dns.RR
	Extra  []dns.RR
	// TTL is the remaining lifetime of the entry in seconds (0 when stale).
	TTL uint32
	// Stale is set when the entry expired and use-stale-cache serves it:
	// every TTL is 0 and the caller should refresh it upstream.
	Stale bool

	e   *entry
	now uint32
}

// Get returns the answer stored for q. The stored question is compared
// byte for byte with q's (name case-insensitively, type, class) before
// anything is returned.
func (c *Cache) Get(q dns.Question) (Answer, bool) {
	var keyBuf [MaxKeyLen]byte
	var nameBuf [256]byte
	wireName, ok := packName(q.Name, &nameBuf)
	var key []byte
	if ok {
		key = appendKey(keyBuf[:0], wireName, q)
	}
	if !ok || c.disabled {
		if !c.disabled {
			s := &c.shards[0]
			s.mu.Lock()
			s.misses++
			s.mu.Unlock()
		}
		return Answer{}, false
	}
	now := c.Now()
	s := c.shardFor(key)
	s.mu.Lock()
	e := s.lookup(key)
	if e == nil {
		s.misses++
		s.mu.Unlock()
		return Answer{}, false
	}
	stale := now >= e.expires
	if stale && now >= e.staleUntil {
		s.remove(e)
		s.expired++
		s.misses++
		s.mu.Unlock()
		return Answer{}, false
	}
	s.touch(e)
	s.hits++
	if stale {
		s.staleHits++
	}
	s.mu.Unlock()

	wire := make([]byte, len(e.wire))
	copy(wire, e.wire)
	// The question and the owners equal to it in the case asked, as the
	// fast path writes them (render).
	copy(wire[headerLen:], wireName)
	e.patchOwners(wire, wireName)
	e.patchTTLs(wire, now, c.opts.MaxClientTTL)
	m := new(dns.Msg)
	if err := m.Unpack(wire); err != nil {
		// Cannot happen: the template was packed by Put.
		panic(fmt.Sprintf("cache: stored answer does not unpack: %v", err))
	}
	a := Answer{Rcode: e.rcode, Answer: m.Answer, Ns: m.Ns, Extra: m.Extra, Stale: stale, e: e, now: now}
	if !stale {
		a.TTL = e.expires - now
	}
	return a, true
}

// lookup finds key's entry and checks the stored question against it;
// the caller holds the lock.
func (s *shard) lookup(key []byte) *entry {
	e := s.items[string(key)]
	if e == nil {
		return nil
	}
	if e.key != string(key) || string(e.wire[headerLen:headerLen+len(key)]) != string(key) {
		// Cannot happen with a map keyed by the full key; checked
		// because a wrong answer here would be served from memory.
		return nil
	}
	return e
}

// refreshRetry is how long a claimed refresh keeps others from claiming
// the entry again: a refresh that found no answer is retried after it.
const refreshRetry = 5

// ClaimRefresh reports whether the caller is the one to refresh a's stale
// entry: the first caller, and then again only refreshRetry seconds after
// the last claim, until a new answer replaces the entry.
func (c *Cache) ClaimRefresh(a Answer) bool {
	if a.e == nil || !a.Stale {
		return false
	}
	s := c.shardFor([]byte(a.e.key))
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := a.e.refreshAt; r != 0 && a.now+1 < r+refreshRetry {
		return false
	}
	a.e.refreshAt = a.now + 1
	return true
}
