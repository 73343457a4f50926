package dnsd

import (
	"net/netip"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/hosts"
)

// answerHosts answers from the hosts table what dnsmasq 2.90 answers from
// it: A and AAAA of a hosts name, ANY of a hosts name (every address it
// has), and PTR of a hosts address (the first name for it). Answers carry
// AA and the local-ttl TTL. Any other type of a hosts name, and a family
// the name lacks (AAAA of an IPv4-only name), is not answered here: outside
// local domains dnsmasq forwards those, inside them the local-domain rule
// answers NODATA.
func (s *Server) answerHosts(req *request) *dns.Msg {
	table := req.st.hosts
	if req.q.Qclass != dns.ClassINET || table.Len() == 0 {
		return nil
	}
	ttl := req.st.cfg.localTTL
	var records []hosts.Record
	switch req.q.Qtype {
	case dns.TypeA:
		records = table.Lookup(req.key, false)
	case dns.TypeAAAA:
		records = table.Lookup(req.key, true)
	case dns.TypeANY:
		records = append(append(records, table.Lookup(req.key, false)...), table.Lookup(req.key, true)...)
	case dns.TypePTR:
		addr, ok := hosts.ParseReverse(req.key)
		if !ok {
			return nil
		}
		name, source, ok := table.Reverse(addr)
		if !ok {
			return nil
		}
		m := s.newReply(req, dns.RcodeSuccess)
		m.Authoritative = true
		m.Answer = []dns.RR{&dns.PTR{
			Hdr: dns.RR_Header{Name: req.q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl},
			Ptr: dns.Fqdn(name),
		}}
		if req.st.cfg.logQueries {
			s.log.printf("%s %s is %s", source, addr, name)
		}
		return m
	}
	if len(records) == 0 {
		return nil
	}
	m := s.newReply(req, dns.RcodeSuccess)
	m.Authoritative = true
	m.Answer = make([]dns.RR, 0, len(records))
	for _, r := range records {
		hdr := dns.RR_Header{Name: req.q.Name, Class: dns.ClassINET, Ttl: ttl}
		if r.Addr.Is4() {
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: r.Addr.AsSlice()})
		} else {
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: r.Addr.AsSlice()})
		}
		if req.st.cfg.logQueries {
			s.log.printf("%s %s is %s", r.Source, logName(req.q.Name), r.Addr)
		}
	}
	return m
}

// answerLocalDomain answers a name under a local=/dom/ domain that the
// hosts table did not answer: NODATA when the name exists with other
// types, NXDOMAIN otherwise. dnsmasq 2.90 sets neither AA nor an SOA on
// these, and logs them as "config NAME is NXDOMAIN" / "NODATA-IPv4".
func (s *Server) answerLocalDomain(req *request) *dns.Msg {
	rcode := dns.RcodeNameError
	if req.st.hosts.Exists(req.key) {
		rcode = dns.RcodeSuccess
	}
	m := s.newReply(req, rcode)
	if req.st.cfg.logQueries {
		s.log.logAnswer("config", req.q, m)
	}
	return m
}

// parseReverseName turns a PTR owner name into its address.
func parseReverseName(name string) (netip.Addr, bool) {
	return hosts.ParseReverse(hosts.Key(name))
}

func addrFromBytes(b []byte) (netip.Addr, bool) {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b)), true
	case 16:
		return netip.AddrFrom16([16]byte(b)), true
	}
	return netip.Addr{}, false
}
