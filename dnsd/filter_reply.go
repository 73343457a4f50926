package dnsd

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Extended DNS error codes (RFC 8914) dnsmasq 2.90 attaches.
const (
	edeBlocked  = 15 // stop-dns-rebind
	edeFiltered = 17 // filter-rr, filter-A, filter-AAAA
)

// reqFilter is what the filters note on a request on its way through.
type reqFilter struct {
	logID    uint32      // log-queries=extra serial number (0 = none yet)
	ede      uint16      // extended error to attach to the reply (0 = none)
	source   string      // log source when a filter made the answer ("config")
	noCache  bool        // add-mac / add-subnet made the answer client-specific
	ednsOpts []dns.EDNS0 // add-mac / add-subnet options for upstream queries
	subnet   *dns.EDNS0_SUBNET
	// logAnswer is the answer as it came from upstream, when filter-rr
	// took records out of it but not all: dnsmasq logs the records it
	// received, before filtering.
	logAnswer *dns.Msg
}

// ignoreReply decides whether an upstream reply is dropped so that dnsd
// goes on waiting for another (on UDP) or tries the next server (on TCP):
// ignore-address matched one of its addresses, or its client-subnet
// option does not match the one sent ("discarding DNS reply: subnet option
// mismatch").
func (s *Server) ignoreReply(req *request, reply *dns.Msg) bool {
	f := &req.st.cfg.filters
	if len(f.ignore) > 0 {
		for _, rr := range reply.Answer {
			if a, ok := rrAddr(rr); ok && inPrefixes(a, f.ignore) {
				s.filt.ignoredReplies.Add(1)
				return true
			}
		}
	}
	if sent := req.filt.subnet; sent != nil {
		if opt := reply.IsEdns0(); opt != nil {
			for _, o := range opt.Option {
				if got, ok := o.(*dns.EDNS0_SUBNET); ok && !sameSubnet(sent, got) {
					s.filt.ignoredReplies.Add(1)
					s.log.printf("discarding DNS reply: subnet option mismatch")
					return true
				}
			}
		}
	}
	return false
}

// filterReply applies the reply filters to a usable upstream reply, in
// dnsmasq's order: bogus-nxdomain, stop-dns-rebind, filter-rr. It returns
// the reply to use (modified in place or replaced) and whether it may be
// cached. A filter that makes the answer notes the log source "config" in
// req, and the extended error to attach.
func (s *Server) filterReply(req *request, reply *dns.Msg) (*dns.Msg, bool) {
	f := &req.st.cfg.filters
	cacheable := !req.filt.noCache
	if len(f.bogusNX) > 0 && reply.Rcode == dns.RcodeSuccess && !reply.Truncated {
		for _, rr := range reply.Answer {
			if a, ok := rrAddr(rr); ok && inPrefixes(a, f.bogusNX) {
				// The answer of a wildcarding registry: NXDOMAIN
				// without AA. (dnsmasq caches it for the record's TTL;
				// with no SOA, the cache keeps it for neg-ttl only.)
				s.filt.bogusNX.Add(1)
				out := bareReply(reply, dns.RcodeNameError)
				out.Authoritative = false
				req.filt.source = "config"
				return out, cacheable
			}
		}
	}
	if f.rebind && (req.q.Qtype == dns.TypeA || req.q.Qtype == dns.TypeAAAA) && !underDomain(req.key, f.rebindOK) {
		for _, rr := range reply.Answer {
			if a, ok := rrAddr(rr); ok && privateAddr(a, !f.rebindLocalOK) {
				s.logChainBefore(req, reply.Answer, rr)
				s.filt.rebindBlocked.Add(1)
				s.log.printf("possible DNS-rebind attack detected: %s", logName(rr.Header().Name))
				out := bareReply(reply, dns.RcodeSuccess)
				req.filt.ede = edeBlocked
				req.filt.source = "blocked" // logged above, not again
				return out, false
			}
		}
	}
	if len(f.filterRR) > 0 || f.filterANY && req.q.Qtype == dns.TypeANY {
		before := len(reply.Answer)
		var unfiltered *dns.Msg
		if req.st.cfg.logQueries {
			unfiltered = reply.Copy()
		}
		if f.filterANY && req.q.Qtype == dns.TypeANY {
			// filter-rr=ANY's rule replaces the type filters in the
			// answer to an ANY query, as in dnsmasq 2.90 (A and MX
			// stay there even with filter-A and filter-rr=MX).
			reply.Answer = filterANYAnswer(reply.Answer)
		} else {
			reply.Answer = filterRRs(reply.Answer, f)
		}
		reply.Ns = filterRRs(reply.Ns, f)
		reply.Extra = filterRRs(reply.Extra, f)
		if len(reply.Answer) < before {
			req.filt.ede = edeFiltered
			if len(reply.Answer) == 0 {
				req.filt.source = "config"
			} else {
				req.filt.logAnswer = unfiltered
			}
		}
	}
	return reply, cacheable
}

// logChainBefore logs the CNAMEs of an answer up to the record that
// stop-dns-rebind blocks, as dnsmasq logs them while it reads the reply,
// before it finds the private address.
func (s *Server) logChainBefore(req *request, answer []dns.RR, blocked dns.RR) {
	if !req.st.cfg.logQueries {
		return
	}
	for _, rr := range answer {
		if rr == blocked {
			return
		}
		if c, ok := rr.(*dns.CNAME); ok {
			name := logName(c.Hdr.Name)
			if strings.EqualFold(c.Hdr.Name, req.q.Name) {
				name = logName(req.q.Name)
			}
			s.logLine(req, "reply %s is <CNAME>", name)
		}
	}
}

// bareReply is reply's header with no records.
func bareReply(reply *dns.Msg, rcode int) *dns.Msg {
	out := new(dns.Msg)
	out.MsgHdr = reply.MsgHdr
	out.Rcode = rcode
	out.Truncated = false
	out.Question = reply.Question
	return out
}

// filterRRs drops records of the filtered types (and their signatures).
func filterRRs(rrs []dns.RR, f *filterConfig) []dns.RR {
	if len(f.filterRR) == 0 {
		return rrs
	}
	out := rrs[:0]
	for _, rr := range rrs {
		if !f.filterRR[coveredType(rr)] {
			out = append(out, rr)
		}
	}
	return out
}

// filterANYAnswer keeps A, AAAA, MX and CNAME records (and their
// signatures): filter-rr=ANY, against ANY queries used for amplification
// (RFC 8482 section 4.3).
func filterANYAnswer(rrs []dns.RR) []dns.RR {
	out := rrs[:0]
	for _, rr := range rrs {
		switch coveredType(rr) {
		case dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeCNAME:
			out = append(out, rr)
		}
	}
	return out
}

// coveredType is a record's type, or for a signature the type it signs.
func coveredType(rr dns.RR) uint16 {
	if sig, ok := rr.(*dns.RRSIG); ok {
		return sig.TypeCovered
	}
	return rr.Header().Rrtype
}

// rrAddr is the address of an A or AAAA record of class IN.
func rrAddr(rr dns.RR) (netip.Addr, bool) {
	if rr.Header().Class != dns.ClassINET {
		return netip.Addr{}, false
	}
	switch rr := rr.(type) {
	case *dns.A:
		a, ok := netip.AddrFromSlice(rr.A.To4())
		return a, ok
	case *dns.AAAA:
		a, ok := netip.AddrFromSlice(rr.AAAA.To16())
		return a, ok
	}
	return netip.Addr{}, false
}

func inPrefixes(a netip.Addr, list []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// addEDE attaches the request's extended DNS error to a reply that carries
// an OPT record.
func addEDE(req *request, m *dns.Msg) {
	if req.filt.ede == 0 {
		return
	}
	if opt := m.IsEdns0(); opt != nil {
		opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: req.filt.ede})
	}
}

// logReply logs the answer to a forwarded query: "reply ..." lines, or
// "config ..." when a filter made the answer; an answer blocked by
// stop-dns-rebind was logged when it was blocked.
func (s *Server) logReply(req *request, m *dns.Msg) {
	if !req.st.cfg.logQueries {
		return
	}
	switch req.filt.source {
	case "":
		if req.filt.logAnswer != nil {
			m = req.filt.logAnswer
		}
		s.logAnswerFor(req, "reply", m)
	case "blocked":
	default:
		s.logAnswerFor(req, req.filt.source, m)
	}
}
