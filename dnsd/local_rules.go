package dnsd

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/hosts"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// address= rules, matched as dnsmasq 2.90 matches them together with
// server= and local= (domain-match.c): the most specific domain wins; at
// one domain, an address of the query's type (A: IPv4, AAAA: IPv6, both:
// '#') answers, else a server forwards, else a local (no address) rule
// answers NXDOMAIN, or NODATA when the domain has addresses of another
// type or the name has local data; a domain with nothing for the query's
// type passes the query on to the next less specific one.

// addrGroup is every address= line for one domain.
type addrGroup struct {
	v4, v6 []netip.Addr
	null   bool // '#': 0.0.0.0 and ::
	nx     bool // no address: local only
}

// forType returns the addresses the group answers qtype with.
func (g *addrGroup) forType(qtype uint16) (v4, v6 []netip.Addr, ok bool) {
	zero4, zero6 := []netip.Addr{netip.IPv4Unspecified()}, []netip.Addr{netip.IPv6Unspecified()}
	switch qtype {
	case dns.TypeA:
		if len(g.v4) > 0 {
			return g.v4, nil, true
		}
		if g.null {
			return zero4, nil, true
		}
	case dns.TypeAAAA:
		if len(g.v6) > 0 {
			return nil, g.v6, true
		}
		if g.null {
			return nil, zero6, true
		}
	case dns.TypeANY:
		// dnsmasq's order: IPv6 addresses, then IPv4, then '#' (both).
		switch {
		case len(g.v6) > 0:
			return nil, g.v6, true
		case len(g.v4) > 0:
			return g.v4, nil, true
		case g.null:
			return zero4, zero6, true
		}
	}
	return nil, nil, false
}

func (g *addrGroup) hasAddresses() bool { return len(g.v4) > 0 || len(g.v6) > 0 || g.null }

// wildRule is an address= domain starting with '*'.
type wildRule struct {
	suffix string // the name must end with this ("ads.example", or ".ads.example" for "*.ads.example")
	length int    // precedence: the length of the domain part
	group  *addrGroup
}

// addressRules indexes every address= domain.
type addressRules struct {
	exact         map[string]*addrGroup // "" matches every name (address=/#/)
	wild          []*wildRule           // longest first
	wildByPattern map[string]*wildRule
}

func newAddressRules() *addressRules {
	return &addressRules{exact: map[string]*addrGroup{}, wildByPattern: map[string]*wildRule{}}
}

func (r *addressRules) empty() bool { return r == nil || len(r.exact) == 0 && len(r.wild) == 0 }

// add checks one rule and files it under its domain.
func (r *addressRules) add(a *ipcpb.AddressRule) error {
	d := a.GetDomain()
	var g *addrGroup
	switch {
	case d == "":
		g = r.exact[""]
		if g == nil {
			g = &addrGroup{}
			r.exact[""] = g
		}
	case strings.HasPrefix(d, "*"):
		base, sub := strings.CutPrefix(d[1:], ".")
		key, ok := hosts.CanonicalName(base)
		if !ok || strings.Contains(key, "*") {
			return fmt.Errorf("address rule %q: %w", d, ipc.ErrInvalid)
		}
		pattern := key
		if sub {
			pattern = "." + key
		}
		w := r.wildByPattern[pattern]
		if w == nil {
			w = &wildRule{suffix: pattern, length: len(key), group: &addrGroup{}}
			r.wildByPattern[pattern] = w
			r.wild = append(r.wild, w)
		}
		g = w.group
	default:
		key, ok := hosts.CanonicalName(d)
		if !ok {
			return fmt.Errorf("address rule %q: %w", d, ipc.ErrInvalid)
		}
		g = r.exact[key]
		if g == nil {
			g = &addrGroup{}
			r.exact[key] = g
		}
	}
	switch b := a.GetAddress(); {
	case a.GetNullAddress():
		g.null = true
	case len(b) == 0:
		g.nx = true
	default:
		ip, ok := addrFromBytes(b)
		if !ok {
			return fmt.Errorf("address rule %q: address of %d bytes: %w", d, len(b), ipc.ErrInvalid)
		}
		if ip.Is4() {
			g.v4 = appendUnique(g.v4, ip)
		} else {
			g.v6 = appendUnique(g.v6, ip)
		}
	}
	return nil
}

func appendUnique(list []netip.Addr, a netip.Addr) []netip.Addr {
	if containsIP(list, a) {
		return list
	}
	return append(list, a)
}

// finish orders the wildcards, longest domain first.
func (r *addressRules) finish() {
	sort.SliceStable(r.wild, func(i, j int) bool { return r.wild[i].length > r.wild[j].length })
	r.wildByPattern = nil
}

// ruleMatch is one address= domain that matches a name.
type ruleMatch struct {
	group  *addrGroup
	length int // of the matching domain: more is more specific
}

// matches calls f with every group that matches key, most specific first
// (an exact domain before a wildcard of the same length), until f returns
// false.
func (r *addressRules) matches(key string, f func(ruleMatch) bool) {
	wi := 0
	// nextWild skips to the next wildcard that matches key.
	nextWild := func() *wildRule {
		for ; wi < len(r.wild); wi++ {
			if w := r.wild[wi]; strings.HasSuffix(key, w.suffix) {
				return w
			}
		}
		return nil
	}
	emit := func(length int) bool {
		for w := nextWild(); w != nil && w.length > length; w = nextWild() {
			wi++
			if !f(ruleMatch{w.group, w.length}) {
				return false
			}
		}
		return true
	}
	for s := key; ; {
		if !emit(len(s)) {
			return
		}
		if g := r.exact[s]; g != nil && s != "" {
			if !f(ruleMatch{g, len(s)}) {
				return
			}
		}
		if s == "" {
			break
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			s = ""
			continue
		}
		s = s[i+1:]
	}
	if !emit(-1) {
		return
	}
	if g := r.exact[""]; g != nil {
		f(ruleMatch{g, 0})
	}
}

// underAddressRule reports whether any address= rule matches key.
func (z *localZone) underAddressRule(key string) bool {
	if z == nil || z.rules.empty() {
		return false
	}
	found := false
	z.rules.matches(key, func(ruleMatch) bool { found = true; return false })
	return found
}

// routeLength is the length of the most specific server=/local= domain
// that matches key (a wildcard's without its '*' and dot), 0 for the
// unqualified-names rule, -1 when only the default servers apply. It
// follows matchDomain's walk (upstream_routes.go).
func (c *runConfig) routeLength(key string) int {
	u := &c.upstream
	if key != "" && (len(c.domains) > 0 || len(u.wild) > 0 || len(u.standard) > 0 || len(u.wildStandard) > 0) {
		for i := 0; i < len(key); i++ {
			s := key[i:]
			if i == 0 || key[i-1] == '.' {
				if _, ok := c.domains[s]; ok || u.standard[s] {
					return len(s)
				}
			}
			if _, ok := u.wild[s]; ok || u.wildStandard[s] {
				return len(strings.TrimPrefix(s, "."))
			}
		}
	}
	if key != "" && strings.IndexByte(key, '.') < 0 {
		if _, ok := c.domains[""]; ok {
			return 0
		}
	}
	return -1
}

// answerAddressRules is the address= stage of the pipeline, after local
// names (hosts files and configured records override address=, as in
// dnsmasq) and before the cache. It answers A/AAAA/ANY queries with the
// configured addresses, and any query under an address=/dom/ (no
// address) rule locally; it returns nil to pass the query on, in
// particular when a server=/local= domain is more specific.
func (s *Server) answerAddressRules(req *request) *dns.Msg {
	z := req.st.local
	if z == nil || z.rules.empty() || req.q.Qclass != dns.ClassINET {
		return nil
	}
	cfg := req.st.cfg
	serverLen := cfg.routeLength(req.key)
	var out *dns.Msg
	z.rules.matches(req.key, func(m ruleMatch) bool {
		if m.length < serverLen {
			return false // a server= or local= domain is more specific
		}
		if v4, v6, ok := m.group.forType(req.q.Qtype); ok {
			out = s.addressAnswer(req, v4, v6)
			return false
		}
		if m.length == serverLen {
			// Same domain as a server= or local= line: the server
			// forwards; a local line answers here, NODATA since this
			// domain has addresses (dnsmasq's SERV_LOC_ADDR).
			if cfg.route(req.key).local {
				out = s.localNegative(req, m.group.hasAddresses())
			}
			return false
		}
		if m.group.nx {
			out = s.localNegative(req, m.group.hasAddresses())
			return false
		}
		return true
	})
	return out
}

// addressAnswer is an address= answer: AA, local-ttl.
func (s *Server) addressAnswer(req *request, v4, v6 []netip.Addr) *dns.Msg {
	s.stats.localAnswers.Add(1)
	m := s.newReply(req, dns.RcodeSuccess)
	m.Authoritative = true
	ttl := req.st.cfg.localTTL
	for _, a := range v4 {
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: req.q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: a.AsSlice()})
	}
	for _, a := range v6 {
		m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: req.q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: a.AsSlice()})
	}
	if req.st.cfg.logQueries {
		s.logAnswerFor(req, "config", m)
	}
	return m
}

// localNegative answers a name in a local-only domain that local data did
// not answer: NODATA when the name exists (it, or a name under it, has
// local data; or the domain has addresses of another type), NXDOMAIN
// otherwise. dnsmasq sets neither AA nor an SOA on these.
func (s *Server) localNegative(req *request, nodata bool) *dns.Msg {
	s.stats.localAnswers.Add(1)
	rcode := dns.RcodeNameError
	if nodata || s.hasLocalData(req) {
		rcode = dns.RcodeSuccess
	}
	m := s.newReply(req, rcode)
	if req.st.cfg.logQueries {
		s.logAnswerFor(req, "config", m)
	}
	return m
}
