package dnsd

import (
	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/cache"
)

// Protocol details of dnsmasq 2.90 that moat matches, found by the
// differential tests (docs/compatibility.md): which queries the cache may
// answer, the DO bit, the reply to a query without a question, and the
// extended error of REFUSED for want of a server. The truncation of
// replies too big for the client is in compat_truncate.go.

// edeNotReady is RFC 8914's "Not Ready", which dnsmasq 2.90 attaches to
// REFUSED when no server is configured for the name ("config error is
// REFUSED (EDE: not ready)").
const edeNotReady = 14

// rdFlag is the RD bit in the first flag byte of a DNS header (byte 2).
const rdFlag = 0x01

// cacheBypass reports whether a query with these bits must not be
// answered from the cache (slow path and fast path alike):
//   - RD clear: dnsmasq forwards it rather than answer from its cache,
//     so that nobody can learn from the cache what other clients asked
//     (cache snooping); local data (hosts, address=, local=) still
//     answers, as in dnsmasq, since it is in front of the cache;
//   - DO set: the cache holds no signatures (dnsmasq, when not
//     validating, forwards every DO query with DO set, RFC 3225), so a
//     validating client behind moat gets the RRSIGs it asked for.
func cacheBypass(rd, do bool) bool { return !rd || do }

// requestBypassesCache is cacheBypass for a parsed query.
func requestBypassesCache(req *request) bool {
	return cacheBypass(req.msg.RecursionDesired, clientDO(req.msg))
}

// fastBypassesCache is cacheBypass for a query the fast path parsed.
// cache.ParseQuery accepts only an OPT record whose flags are all zero,
// so DO is clear there.
func fastBypassesCache(q *cache.Query) bool {
	return cacheBypass(q.Flags[0]&rdFlag != 0, false)
}

// clientDO reports whether the query carries an OPT record with DO set.
func clientDO(msg *dns.Msg) bool {
	opt := msg.IsEdns0()
	return opt != nil && opt.Do()
}

// cachedAnswer is the pipeline's cache stage (answerFromCache) for the
// queries the cache may answer.
func (s *Server) cachedAnswer(req *request, raw []byte) ([]byte, bool) {
	if requestBypassesCache(req) {
		return nil, false
	}
	return s.answerFromCache(req, raw)
}

// cacheCopy is what the cache stores of upstream, the answer to req. The
// reply to a DO query carries DNSSEC records the client asked for; the
// cache keeps the answer without them, as the answer to the same query
// without DO (RFC 3225 3: no DNSSEC records for a client that did not
// set DO, unless it asked for their type), as dnsmasq caches the
// addresses of such a reply. DO queries themselves never read the cache.
// upstream is not changed.
func cacheCopy(req *request, upstream *dns.Msg) *dns.Msg {
	if !clientDO(req.msg) {
		return upstream
	}
	out := *upstream
	out.Answer = withoutDNSSEC(upstream.Answer, req.q.Qtype)
	out.Ns = withoutDNSSEC(upstream.Ns, req.q.Qtype)
	out.Extra = withoutDNSSEC(upstream.Extra, req.q.Qtype)
	return &out
}

// withoutDNSSEC returns rrs without the DNSSEC record types a DO query
// brings (signatures, denial-of-existence records), except those of type
// qtype, which the question asks for. It allocates only when it drops.
func withoutDNSSEC(rrs []dns.RR, qtype uint16) []dns.RR {
	drop := func(rr dns.RR) bool {
		t := rr.Header().Rrtype
		return t != qtype && (t == dns.TypeRRSIG || t == dns.TypeNSEC || t == dns.TypeNSEC3)
	}
	for i, rr := range rrs {
		if !drop(rr) {
			continue
		}
		out := append(make([]dns.RR, 0, len(rrs)-1), rrs[:i]...)
		for _, rr := range rrs[i+1:] {
			if !drop(rr) {
				out = append(out, rr)
			}
		}
		return out
	}
	return rrs
}

// answerNoQuestion is the reply to a query whose question count is not 1
// (msg parsed, opcode QUERY): FORMERR to a query without a question, the
// header only (ID, opcode, RD and CD copied, QR and RA set, no OPT record
// even to an EDNS query), as clients of dnsmasq 2.90 get it (dnsmasq
// forwards such a query and relays the FORMERR every server answers; moat
// answers it itself); nil (no reply) to one with several questions, which
// dnsmasq does not answer either.
func answerNoQuestion(msg *dns.Msg) []byte {
	if len(msg.Question) != 0 {
		return nil
	}
	m := &dns.Msg{}
	m.Id, m.Response, m.Opcode, m.Rcode = msg.Id, true, msg.Opcode, dns.RcodeFormatError
	m.RecursionDesired, m.CheckingDisabled, m.RecursionAvailable = msg.RecursionDesired, msg.CheckingDisabled, true
	out, err := m.Pack()
	if err != nil {
		return nil
	}
	return out
}
