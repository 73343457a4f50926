package dnsd

import (
	"net/netip"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/hosts"
)

// answerHosts is the local-names stage: it answers from the hosts files,
// host-record, interface-name, hostsdir and the configured records what
// dnsmasq 2.90's answer_request answers from them, in its order:
//
//   - a local CNAME (cname=, followed along a chain of local CNAMEs) is
//     answered for every type, with the target's local data for the type;
//   - TXT, CAA and dns-rr records of the name's type (or ANY);
//   - PTR: interface-name addresses first, then ptr-record, then the
//     addresses of host-record, the hosts files and hostsdir;
//   - A/AAAA: interface-name addresses alone when the name is an
//     interface-name; else host-record, hosts-file and hostsdir addresses,
//     narrowed to the query's subnet by localise-queries;
//   - MX (mx-host; selfmx/localmx for hosts names), SRV, NAPTR.
//
// Answers carry AA; the TTL is the record's own (host-record, cname) or
// local-ttl. A name with local data of other types only is not answered
// here: outside local domains dnsmasq forwards it, inside them the local
// stages answer NODATA.
func (s *Server) answerHosts(req *request) *dns.Msg {
	st := req.st
	if req.q.Qclass != dns.ClassINET || (st.local == nil && st.hosts.Len() == 0) {
		return nil
	}
	a := localAnswer{s: s, req: req, owner: req.q.Name, key: req.key}
	qtype := req.q.Qtype
	for range maxCNAMEChain {
		c := st.local.cnameFor(a.key, st.hosts)
		if c == nil {
			break
		}
		a.add(&dns.CNAME{Hdr: a.hdr(dns.TypeCNAME, c.Hdr.Ttl), Target: c.Target}, "config", "<CNAME>")
		if qtype == dns.TypeCNAME {
			return a.msg()
		}
		a.owner, a.key = c.Target, hosts.Key(c.Target)
	}
	n := st.local.lookup(a.key)
	any := qtype == dns.TypeANY
	if n != nil {
		for t, rrs := range n.rrs {
			if (t == qtype || any) && (t == dns.TypeTXT || t == dns.TypeCAA || isRawType(t)) {
				a.addRecords(rrs)
			}
		}
	}
	if qtype == dns.TypePTR || any {
		a.ptr(n)
	}
	if qtype == dns.TypeA || any {
		a.addresses(n, false)
	}
	if qtype == dns.TypeAAAA || any {
		a.addresses(n, true)
	}
	if qtype == dns.TypeMX || any {
		a.mx(n)
	}
	if n != nil && (qtype == dns.TypeSRV || any) {
		a.addRecords(n.rrs[dns.TypeSRV])
	}
	if n != nil && (qtype == dns.TypeNAPTR || any) {
		a.addRecords(n.rrs[dns.TypeNAPTR])
	}
	if !a.answered {
		return nil
	}
	return a.msg()
}

// localAnswer builds one answer from local data.
type localAnswer struct {
	s        *Server
	req      *request
	owner    string // the name being answered, as the answer spells it
	key      string // its lookup key
	answer   []dns.RR
	targets  []string // MX and SRV targets, for the additional section
	answered bool
}

func (a *localAnswer) hdr(t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: a.owner, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

// add appends rr and logs "SOURCE NAME is WHAT" as dnsmasq does.
func (a *localAnswer) add(rr dns.RR, source, what string) {
	a.addAs(rr, source, logName(a.owner), what)
}

// addAs is add with the logged subject given ("config 192.0.2.1 is
// host.lan" for PTR).
func (a *localAnswer) addAs(rr dns.RR, source, subject, what string) {
	a.answer = append(a.answer, rr)
	a.answered = true
	if a.req.st.cfg.logQueries {
		a.s.logLine(a.req, "%s %s is %s", source, subject, what)
	}
}

// addRecords answers configured records under the current owner name.
func (a *localAnswer) addRecords(rrs []dns.RR) {
	for _, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = a.owner
		switch v := c.(type) {
		case *dns.MX:
			a.targets = append(a.targets, v.Mx)
		case *dns.SRV:
			a.targets = append(a.targets, v.Target)
		}
		a.add(c, "config", "<"+logType(rr.Header().Rrtype)+">")
	}
}

// ptr answers PTR: interface-name, ptr-record, then the first name given
// for the address by host-record, the hosts files and hostsdir, in that
// order (dnsmasq reads host-record before the hosts files).
func (a *localAnswer) ptr(n *localName) {
	z, table := a.req.st.local, a.req.st.hosts
	addr, isAddr := hosts.ParseReverse(a.key)
	if isAddr && z != nil {
		if r, ok := z.ifaceReverse[addr]; ok {
			a.ptrTo(addr, r)
			return
		}
	}
	if n != nil && len(n.rrs[dns.TypePTR]) > 0 {
		a.addRecords(n.rrs[dns.TypePTR])
		return
	}
	if !isAddr {
		return
	}
	if z != nil {
		if r, ok := z.reverse[addr]; ok {
			a.ptrTo(addr, r)
			return
		}
	}
	if name, source, ok := table.Reverse(addr); ok {
		a.ptrTo(addr, reverseName{name: name, source: source})
		return
	}
	if z != nil {
		if r, ok := z.dirReverse[addr]; ok {
			a.ptrTo(addr, r)
			return
		}
	}
	a.leasePTR(addr) // DHCP names last (local_leases.go)
}

func (a *localAnswer) ptrTo(addr netip.Addr, r reverseName) {
	ttl := a.req.st.cfg.localTTL
	if r.ownTTL {
		ttl = r.ttl
	}
	rr := &dns.PTR{Hdr: a.hdr(dns.TypePTR, ttl), Ptr: dns.Fqdn(r.name)}
	a.addAs(rr, r.source, addr.String(), r.name)
}

// addresses answers A (v6 false) or AAAA from interface-name, or from
// host-record, the hosts files and hostsdir.
func (a *localAnswer) addresses(n *localName, v6 bool) {
	var list []localAddr
	if n != nil && n.ifaceKnown {
		for _, ip := range n.iface {
			if ip.Is6() == v6 {
				list = append(list, localAddr{addr: ip, source: "config"})
			}
		}
		if len(list) == 0 && a.req.st.cfg.logQueries {
			// The interface has no address of this family: NODATA, which
			// dnsmasq logs as "config NAME is NODATA-IPv4".
			what := "NODATA-IPv4"
			if v6 {
				what = "NODATA-IPv6"
			}
			a.s.logLine(a.req, "%s %s is %s", "config", logName(a.owner), what)
		}
	} else {
		if n != nil {
			list = appendFamily(list, n.hostRecord, v6)
		}
		for _, r := range a.req.st.hosts.Lookup(a.key, v6) {
			list = appendAddr(list, localAddr{addr: r.Addr, source: r.Source})
		}
		if n != nil {
			list = appendFamily(list, n.hostsDir, v6)
		}
		if !v6 && len(list) == 0 {
			list = a.leaseAddresses(list) // DHCP names come after all of these (local_leases.go)
		}
	}
	if !v6 {
		list = a.localise(list)
	}
	for _, la := range list {
		var rr dns.RR
		if v6 {
			rr = &dns.AAAA{Hdr: a.hdr(dns.TypeAAAA, a.ttlOf(la)), AAAA: la.addr.AsSlice()}
		} else {
			rr = &dns.A{Hdr: a.hdr(dns.TypeA, a.ttlOf(la)), A: la.addr.AsSlice()}
		}
		a.add(rr, la.source, la.addr.String())
	}
}

// ttlOf is an address's TTL: host-record's own, else local-ttl.
func (a *localAnswer) ttlOf(la localAddr) uint32 {
	if la.ownTTL {
		return la.ttl
	}
	return a.req.st.cfg.localTTL
}

func appendFamily(list, from []localAddr, v6 bool) []localAddr {
	for _, la := range from {
		if la.addr.Is6() == v6 {
			list = appendAddr(list, la)
		}
	}
	return list
}

// localise is localise-queries: when some of the addresses are in the
// subnet of the local address the query was sent to, only those are
// answered (IPv4 only, as in dnsmasq).
func (a *localAnswer) localise(list []localAddr) []localAddr {
	cfg := a.req.st.cfg
	if !cfg.local.localise || len(list) < 2 {
		return list
	}
	p, ok := a.req.st.local.localPrefix(a.req.dst)
	if !ok {
		return list
	}
	var in []localAddr
	for _, la := range list {
		if p.Contains(la.addr) {
			in = append(in, la)
		}
	}
	if len(in) == 0 {
		return list
	}
	return in
}

// mx answers mx-host records; without any, selfmx and localmx give a
// hosts name an MX record pointing at itself or at the mx-target.
func (a *localAnswer) mx(n *localName) {
	if n != nil && len(n.rrs[dns.TypeMX]) > 0 {
		a.addRecords(n.rrs[dns.TypeMX])
		return
	}
	cfg := a.req.st.cfg
	if !cfg.local.selfMX && !cfg.local.localMX {
		return
	}
	if !a.req.st.hosts.Exists(a.key) && (n == nil || len(n.hostRecord)+len(n.hostsDir) == 0) && !a.hasLeaseName() {
		return // selfmx and localmx: hosts names and DHCP names (local_leases.go)
	}
	target := dns.Fqdn(cfg.local.mxTarget)
	if cfg.local.selfMX {
		target = a.owner
	}
	a.targets = append(a.targets, target)
	a.add(&dns.MX{Hdr: a.hdr(dns.TypeMX, cfg.localTTL), Preference: 1, Mx: target}, "config", "<MX>")
}

// msg is the reply: AA, the answer, and the local addresses of MX and SRV
// targets in the additional section.
func (a *localAnswer) msg() *dns.Msg {
	m := a.s.newReply(a.req, dns.RcodeSuccess)
	m.Authoritative = true
	m.Answer = a.answer
	m.Extra = a.additional()
	return m
}

func (a *localAnswer) additional() []dns.RR {
	var extra []dns.RR
	seen := map[string]bool{}
	for _, t := range a.targets {
		key := hosts.Key(t)
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		n := a.req.st.local.lookup(key)
		for _, v6 := range []bool{false, true} {
			var list []localAddr
			if n != nil {
				list = appendFamily(list, n.hostRecord, v6)
			}
			for _, r := range a.req.st.hosts.Lookup(key, v6) {
				list = appendAddr(list, localAddr{addr: r.Addr, source: r.Source})
			}
			if n != nil {
				list = appendFamily(list, n.hostsDir, v6)
			}
			if !v6 && len(list) == 0 {
				list = a.leaseAddressesOf(key, list) // DHCP names (local_leases.go)
			}
			for _, la := range list {
				h := dns.RR_Header{Name: t, Class: dns.ClassINET, Ttl: a.ttlOf(la)}
				if v6 {
					h.Rrtype = dns.TypeAAAA
					extra = append(extra, &dns.AAAA{Hdr: h, AAAA: la.addr.AsSlice()})
				} else {
					h.Rrtype = dns.TypeA
					extra = append(extra, &dns.A{Hdr: h, A: la.addr.AsSlice()})
				}
			}
		}
	}
	return extra
}

// hasLocalData reports whether the query's name, or a name under it, has
// local data: dnsmasq's check for NODATA rather than NXDOMAIN in a
// local-only domain.
func (s *Server) hasLocalData(req *request) bool {
	return req.st.hosts.HasAtOrBelow(req.key) || req.st.local.hasAtOrBelow(req.key) ||
		req.st.local.leaseNames().hasAtOrBelow(req.key)
}

// answerLocalDomain answers a name under a local=/dom/ domain that the
// local stages did not answer: NODATA when the name exists (see
// hasLocalData), NXDOMAIN otherwise, without AA or an SOA, as dnsmasq
// 2.90 answers, logged "config NAME is NXDOMAIN" / "NODATA-IPv4".
func (s *Server) answerLocalDomain(req *request) *dns.Msg {
	rcode := dns.RcodeNameError
	if s.hasLocalData(req) {
		rcode = dns.RcodeSuccess
	}
	m := s.newReply(req, rcode)
	if req.st.cfg.logQueries {
		s.logAnswerFor(req, "config", m)
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

// localNXToNodata is dnsmasq's treatment of an upstream NXDOMAIN for a
// name the configuration says exists: one with local data (a hosts name
// asked for a type it lacks, which was forwarded) or under an address=
// rule (address=/dom/ip asked for AAAA). The client gets NODATA, with AA,
// as dnsmasq 2.90's process_reply does; the reply is changed before it
// is cached, as in dnsmasq.
func (s *Server) localNXToNodata(req *request, reply *dns.Msg) *dns.Msg {
	if reply == nil || reply.Rcode != dns.RcodeNameError || req.q.Qclass != dns.ClassINET {
		return reply
	}
	if !s.hasLocalData(req) && !req.st.local.underAddressRule(req.key) {
		return reply
	}
	m := *reply
	m.Rcode = dns.RcodeSuccess
	m.Authoritative = true
	m.Truncated = false
	return &m
}
