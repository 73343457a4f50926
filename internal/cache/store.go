package cache

import (
	"github.com/miekg/dns"
)

// Put stores reply as the answer to q when it may be cached, and reports
// whether it did. Truncated answers and every rcode other than NOERROR and
// NXDOMAIN (SERVFAIL, REFUSED, ...) are never cached. A negative answer
// (NXDOMAIN, or NOERROR without answer records) needs an SOA in the
// authority section and lives for min(SOA TTL, SOA MINIMUM); without one it
// is not cached, as dnsmasq without neg-ttl. Put keeps its own copies of
// the records; the OPT pseudo-record is not stored.
func (c *Cache) Put(q dns.Question, reply *dns.Msg) bool {
	if c.disabled {
		return false
	}
	ttl, ok := cacheTTL(reply)
	if !ok {
		return false
	}
	now := c.now()
	e := &entry{
		key:     KeyOf(q),
		rcode:   reply.Rcode,
		answer:  copyRRs(reply.Answer),
		ns:      copyRRs(reply.Ns),
		extra:   copyRRs(reply.Extra),
		stored:  now,
		expires: now + ttl,
	}
	s := c.shardFor(e.key)
	s.mu.Lock()
	if old := s.items[e.key]; old != nil {
		s.unlink(old)
		delete(s.items, e.key)
	}
	for len(s.items) >= s.capacity {
		victim := s.head.prev
		if victim == &s.head {
			break
		}
		s.unlink(victim)
		delete(s.items, victim.key)
		c.evictions.Add(1)
	}
	s.items[e.key] = e
	s.pushFront(e)
	s.mu.Unlock()
	c.inserts.Add(1)
	return true
}

// cacheTTL decides whether reply may be cached and for how long.
func cacheTTL(reply *dns.Msg) (uint32, bool) {
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
	ttl := uint32(MaxTTL)
	lower := func(t uint32) {
		// RFC 2181 section 8: a TTL with the top bit set means zero.
		if t > 1<<31-1 {
			t = 0
		}
		if t < ttl {
			ttl = t
		}
	}
	haveSOA := false
	for _, sec := range [][]dns.RR{reply.Answer, reply.Ns, reply.Extra} {
		for _, rr := range sec {
			switch rr := rr.(type) {
			case *dns.OPT, *dns.TSIG, *dns.SIG:
				continue
			case *dns.SOA:
				if negative {
					haveSOA = true
					lower(rr.Minttl)
				}
			}
			lower(rr.Header().Ttl)
		}
	}
	if negative && !haveSOA {
		return 0, false
	}
	if ttl == 0 {
		return 0, false
	}
	return ttl, true
}

func copyRRs(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		switch rr.(type) {
		case *dns.OPT, *dns.TSIG, *dns.SIG:
			continue
		}
		out = append(out, dns.Copy(rr))
	}
	return out
}

// Get returns the answer stored for q, with TTLs reduced by the time it
// has been cached. The stored question is compared field by field with q
// (name case-insensitively, type, class) before anything is returned.
func (c *Cache) Get(q dns.Question) (Answer, bool) {
	if c.disabled {
		c.misses.Add(1)
		return Answer{}, false
	}
	k := KeyOf(q)
	now := c.now()
	s := c.shardFor(k)
	s.mu.Lock()
	e := s.items[k]
	if e == nil {
		s.mu.Unlock()
		c.misses.Add(1)
		return Answer{}, false
	}
	if now >= e.expires {
		s.unlink(e)
		delete(s.items, k)
		s.mu.Unlock()
		c.expired.Add(1)
		c.misses.Add(1)
		return Answer{}, false
	}
	if e.key != k {
		// Cannot happen with a map keyed by the full key; kept as the
		// invariant every later (hashed, pre-packed) cache must keep.
		s.mu.Unlock()
		c.misses.Add(1)
		return Answer{}, false
	}
	if s.head.next != e {
		s.unlink(e)
		s.pushFront(e)
	}
	s.mu.Unlock()
	c.hits.Add(1)

	// The stored slices are never modified after Put, so copying them
	// outside the lock is safe.
	elapsed := now - e.stored
	return Answer{
		Rcode:  e.rcode,
		Answer: agedCopy(e.answer, elapsed),
		Ns:     agedCopy(e.ns, elapsed),
		Extra:  agedCopy(e.extra, elapsed),
		TTL:    e.expires - now,
	}, true
}

func agedCopy(rrs []dns.RR, elapsed uint32) []dns.RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		cp := dns.Copy(rr)
		h := cp.Header()
		ttl := min(h.Ttl, MaxTTL)
		if ttl > elapsed {
			h.Ttl = ttl - elapsed
		} else {
			h.Ttl = 0
		}
		out[i] = cp
	}
	return out
}
