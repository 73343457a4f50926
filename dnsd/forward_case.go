package dnsd

import (
	"crypto/rand"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// 0x20 (draft-vixie-dnsext-dns0x20): the letters of the name in every
// upstream query get a crypto-random case, and a UDP reply is accepted
// only when its question repeats that spelling byte for byte. A blind
// forger must then guess one bit per letter on top of the ID (16 bits)
// and, with a random source port, the port: "www.example.com" adds 13
// bits. A reply whose question differs only in case is dropped and
// counted as a mismatch (a forgery), like a wrong ID.
//
// Some servers do not echo the question's case. One that answers with
// another spelling caseStreakLimit times in a row, with no reply in the
// spelling sent in between, is taken to be one of them: it is logged
// once and its replies are matched without regard to case from then on
// (its queries still carry the random case, which costs nothing). A
// forger cannot push a server there cheaply: only a reply with the right
// ID counts, and every genuine reply in between starts the count again.
// The finding does not last for ever: caseRecheck after it, the next
// reply in another spelling starts a new count, so that a server that
// was misjudged, or has been replaced by one that keeps case, is
// protected again (a server that still does not keep case costs a retry
// or two each time: the replies of the count are dropped).
//
// no-0x20-encode turns all this off: queries keep the client's spelling
// and replies are matched without regard to case, as dnsmasq 2.90 does.
//
// The client never sees the random spelling: replies are given back the
// client's spelling (restoreCase) before the filters, the cache and the
// log see them, as they were before 0x20.

// caseStreakLimit is how many replies in a row in another spelling make
// a server one that does not preserve case.
const caseStreakLimit = 3

// caseRecheck is how long a server found not to preserve case has its
// replies matched without regard to case before it is checked again.
const caseRecheck = 10 * time.Minute

// maxCaseBytes is enough random bytes for a name's letters: a name has at
// most 255 bytes in wire form.
const maxCaseBytes = 32

// encode0x20 gives the letters of the question name of the packed query
// wire (at offset 12, never compressed) a random case, and returns the
// name as the reply will unpack it; "" when wire has no readable name.
func encode0x20(wire []byte) string {
	if len(wire) <= 12 {
		return ""
	}
	var bits [maxCaseBytes]byte
	letters := 0
	end := 12
	for end < len(wire) && wire[end] != 0 {
		l := int(wire[end])
		if l > 63 || end+1+l > len(wire) {
			return ""
		}
		for _, c := range wire[end+1 : end+1+l] {
			if isASCIILetter(c) {
				letters++
			}
		}
		end += 1 + l
	}
	if letters > 0 {
		_, _ = rand.Read(bits[:min((letters+7)/8, maxCaseBytes)]) // never fails on Linux (getrandom)
	}
	bit := 0
	for i := 12; i < end; {
		l := int(wire[i])
		for j := i + 1; j <= i+l; j++ {
			c := wire[j]
			if !isASCIILetter(c) {
				continue
			}
			if bits[bit/8]>>(bit%8)&1 == 1 {
				c &^= 0x20 // upper case
			} else {
				c |= 0x20 // lower case
			}
			wire[j] = c
			bit++
		}
		i += 1 + l
	}
	return sentName(wire[12 : end+1])
}

// sentName is the name in wire form as miekg/dns unpacks it: the common
// name (letters, digits, '-' and '_', which it never escapes) with one
// allocation, the others through dns.UnpackDomainName.
func sentName(wire []byte) string {
	if len(wire) == 1 {
		return "."
	}
	var buf [256]byte
	n := 0
	for i := 0; i < len(wire) && wire[i] != 0; {
		l := int(wire[i])
		for _, c := range wire[i+1 : i+1+l] {
			if !isASCIILetter(c) && (c < '0' || c > '9') && c != '-' && c != '_' {
				name, _, err := dns.UnpackDomainName(wire, 0)
				if err != nil {
					return ""
				}
				return name
			}
			buf[n] = c
			n++
		}
		buf[n] = '.'
		n++
		i += 1 + l
	}
	return string(buf[:n])
}

func isASCIILetter(c byte) bool {
	c |= 0x20
	return c >= 'a' && c <= 'z'
}

// caseTable remembers, per server, replies in another spelling than the
// one sent (upstreamRuntime.cases).
type caseTable struct {
	mu      sync.Mutex
	servers map[*upstreamState]*caseState
	// streaks counts servers with a streak under way, so that the common
	// reply (right spelling, no streak anywhere) takes no lock.
	streaks atomic.Int32

	mismatches atomic.Uint64 // replies dropped for their spelling alone
	caseless   atomic.Uint64 // servers found not to preserve case
	rechecks   atomic.Uint64 // findings that expired (caseRecheck)

	// off: no-0x20-encode (DNSConfig.no_case_randomization).
	off atomic.Bool
}

// setEncode applies the configuration: 0x20 on (the default) or off.
func (c *caseTable) setEncode(on bool) { c.off.Store(!on) }

// encode is encode0x20 when 0x20 is on; off, the query keeps the
// client's spelling ("").
func (c *caseTable) encode(wire []byte) string {
	if c.off.Load() {
		return ""
	}
	return encode0x20(wire)
}

type caseState struct {
	streak int
	// ids are the query IDs of the streak: a reply counts once per query,
	// so that a forger who guessed an ID cannot make the streak by
	// sending the same forgery again.
	ids      [caseStreakLimit]uint16
	caseless bool      // matched without regard to case, until since+caseRecheck
	since    time.Time // when caseless was found
}

// exact records a reply from st in the spelling sent: any streak ends.
func (c *caseTable) exact(st *upstreamState) {
	if c.streaks.Load() == 0 {
		return
	}
	c.mu.Lock()
	if cs := c.servers[st]; cs != nil && cs.streak > 0 && !cs.caseless {
		cs.streak = 0
		c.streaks.Add(-1)
	}
	c.mu.Unlock()
}

// other records a reply from st to the query with this ID whose question
// differs from the one sent only in case, and reports whether to accept
// it: st does not preserve case (known before, or found now). first
// reports that it was found now; recheck that an earlier finding expired
// and the count starts again with this reply.
func (c *caseTable) other(st *upstreamState, id uint16, now time.Time) (accept, first, recheck bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.servers == nil {
		c.servers = map[*upstreamState]*caseState{}
	}
	cs := c.servers[st]
	if cs == nil {
		cs = &caseState{}
		c.servers[st] = cs
	}
	if cs.caseless {
		if now.Sub(cs.since) < caseRecheck {
			return true, false, false
		}
		cs.caseless, cs.streak, recheck = false, 0, true
		c.rechecks.Add(1)
	}
	for _, seen := range cs.ids[:cs.streak] {
		if seen == id { // this query counted already
			c.mismatches.Add(1)
			return false, false, recheck
		}
	}
	if cs.streak == 0 {
		c.streaks.Add(1)
	}
	cs.ids[cs.streak] = id
	cs.streak++
	if cs.streak < caseStreakLimit {
		c.mismatches.Add(1)
		return false, false, recheck
	}
	cs.caseless, cs.since = true, now
	c.streaks.Add(-1)
	c.caseless.Add(1)
	return true, true, recheck
}

// checkCase applies 0x20 to a reply from up to the query with this ID
// that validateReply accepted for req's question (the spelling sent): it
// reports whether to accept it.
func (s *Server) checkCase(up *upstream, req *request, id uint16, reply *dns.Msg) bool {
	if reply.Question[0].Name == req.q.Name {
		s.up.cases.exact(up.state)
		return true
	}
	if s.up.cases.off.Load() {
		return true // no-0x20-encode: validateReply matched the name without regard to case
	}
	accept, first, recheck := s.up.cases.other(up.state, id, time.Now())
	if recheck {
		s.log.printf("server %s: checking again whether it preserves the case of query names (0x20)", up.label)
	}
	if first {
		s.log.printf("server %s does not preserve the case of query names: its replies are matched without regard to case (no 0x20)", up.label)
	}
	if !accept {
		s.stats.upstreamMismatch.Add(1)
	}
	return accept
}

// restoreCase gives a reply to the query sent as sent the client's
// spelling client back: its question, and every record owned by the name
// as sent.
func restoreCase(m *dns.Msg, sent, client string) {
	if m == nil || sent == client {
		return
	}
	if len(m.Question) == 1 && m.Question[0].Name == sent {
		m.Question[0].Name = client
	}
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if h := rr.Header(); h.Name == sent {
				h.Name = client
			}
		}
	}
}
