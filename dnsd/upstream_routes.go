package dnsd

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/moatdns/moat/internal/hosts"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Upstream routing (area C): which servers a name goes to. server= rules
// match by domain, most specific first, as dnsmasq 2.90's lookup_domain:
// the longest suffix of the name that a rule names wins; at a label
// boundary a plain rule beats a wildcard one for the same suffix, inside a
// label only wildcards (/*example.com/) match.

// upstreamBind is server=ip@interface@source-ip#port.
type upstreamBind struct {
	addr  netip.Addr // local address to send from; invalid = any
	port  uint16     // fixed local port; 0 = random (or query-port)
	iface string     // SO_BINDTODEVICE; "" = none
}

func (b upstreamBind) isZero() bool { return b == upstreamBind{} }

// upstream is one server to forward to, as listed in one route.
type upstream struct {
	addr netip.AddrPort
	// label is how dnsmasq names the server in its log: "9.9.9.9", or
	// "127.0.0.1#5353" when the port is not 53.
	label string
	bind  upstreamBind
	// state holds the counters and the loop mark; every route listing
	// the same server (address and bind) shares it, and it outlives
	// configurations.
	state *upstreamState
	// group is the selection state of the route this entry belongs to;
	// index is the entry's position in it.
	group *serverGroup
	index int
}

// route is what the most specific matching domain says about a name.
type route struct {
	local   bool       // local=/dom/: answer from local data only
	servers []upstream // server=/dom/ip, or the default servers
}

// routeRule is one domain's rule while routes are built.
type routeRule struct {
	local    bool
	standard bool // server=/dom/#
	servers  []upstream
}

// upstreamConfig is area C's part of runConfig.
type upstreamConfig struct {
	policy upstreamPolicy
	// source is the DNSConfig this was built from; a new upstream table
	// rebuilds the routes from it.
	source *ipcpb.DNSConfig
	// wild holds wildcard rules by suffix: "example.com" for
	// /*example.com/, ".example.com" for /*.example.com/.
	wild map[string]route
	// standard and wildStandard list the domains of server=/dom/# (and
	// /*dom/#), which use the default servers even under a more general
	// rule.
	standard, wildStandard map[string]bool
	// servers lists every distinct server once, in configuration order.
	servers []*upstreamState
}

// upstreamPolicy is the forwarding policy of one configuration.
type upstreamPolicy struct {
	strictOrder, allServers, loopDetect bool
	forwardMax                          int // concurrent forwarded queries per server group
	queryPort                           int // -1: a random port per query
	minPort, maxPort                    int
	fastRetry, fastRetryTotal           time.Duration // 0: no fast retry
}

// Defaults dnsd applies to unset policy fields (dnsmasq 2.90's).
const (
	defaultForwardMax = 150
	defaultMinPort    = 1024
	defaultMaxPort    = 65535
	maxForwardMax     = 1 << 20
	maxFastRetry      = time.Hour
)

func newUpstreamPolicy(dc *ipcpb.DNSConfig) (upstreamPolicy, error) {
	p := upstreamPolicy{
		strictOrder: dc.GetStrictOrder(),
		allServers:  dc.GetAllServers(),
		loopDetect:  dc.GetDnsLoopDetect(),
		forwardMax:  defaultForwardMax,
		queryPort:   -1,
		minPort:     defaultMinPort,
		maxPort:     defaultMaxPort,
	}
	if dc.DnsForwardMax != nil {
		if dc.GetDnsForwardMax() > maxForwardMax {
			return p, fmt.Errorf("dns config: dns_forward_max %d, at most %d", dc.GetDnsForwardMax(), maxForwardMax)
		}
		p.forwardMax = int(dc.GetDnsForwardMax())
	}
	if dc.QueryPort != nil {
		if dc.GetQueryPort() > 65535 {
			return p, fmt.Errorf("dns config: query_port %d", dc.GetQueryPort())
		}
		p.queryPort = int(dc.GetQueryPort())
	}
	if n := dc.GetMinPort(); n != 0 {
		p.minPort = int(n)
	}
	if n := dc.GetMaxPort(); n != 0 {
		p.maxPort = int(n)
	}
	if p.maxPort > 65535 || p.minPort > p.maxPort {
		return p, fmt.Errorf("dns config: port range %d-%d", p.minPort, p.maxPort)
	}
	if ms := dc.GetFastDnsRetryMs(); ms != 0 {
		p.fastRetry = time.Duration(ms) * time.Millisecond
		p.fastRetryTotal = time.Duration(dc.GetFastDnsRetryTotalMs()) * time.Millisecond
		if p.fastRetry > maxFastRetry || p.fastRetryTotal > maxFastRetry {
			return p, fmt.Errorf("dns config: fast-dns-retry over %v", maxFastRetry)
		}
	}
	return p, nil
}

// buildUpstreams fills c's routes (defaults, domains, wildcards) from
// dc's upstreams and local domains followed by table (TABLE_UPSTREAMS),
// and its policy. reg gives servers their long-lived state; nil makes
// fresh states (a configuration not yet installed).
func (c *runConfig) buildUpstreams(dc *ipcpb.DNSConfig, table []*ipcpb.Upstream, reg *upstreamRegistry) error {
	pol, err := newUpstreamPolicy(dc)
	if err != nil {
		return err
	}
	if reg == nil {
		reg = &upstreamRegistry{}
	}
	b := routeBuilder{rules: map[string]*routeRule{}, wild: map[string]*routeRule{}, reg: reg, seen: map[upstreamID]bool{}}
	for i, u := range dc.GetUpstreams() {
		if err := b.add(u); err != nil {
			return fmt.Errorf("dns config: upstreams[%d]: %w", i, err)
		}
	}
	for i, d := range dc.GetLocalDomains() {
		if err := b.add(&ipcpb.Upstream{Local: true, Domains: []string{d}}); err != nil {
			return fmt.Errorf("dns config: local_domains[%d]: %w", i, err)
		}
	}
	for i, u := range table {
		if err := b.add(u); err != nil {
			return fmt.Errorf("upstreams table[%d]: %w", i, err)
		}
	}
	c.upstream = upstreamConfig{policy: pol, source: dc, servers: b.order,
		standard: map[string]bool{}, wildStandard: map[string]bool{}}
	c.defaults = finishRoute(b.defaults).servers
	c.domains = make(map[string]route, len(b.rules))
	for key, r := range b.rules {
		if r.standard && !r.local && len(r.servers) == 0 {
			c.upstream.standard[key] = true
			continue
		}
		c.domains[key] = finishRoute(r.servers, r.local)
	}
	if len(b.wild) > 0 {
		c.upstream.wild = make(map[string]route, len(b.wild))
		for key, r := range b.wild {
			if r.standard && !r.local && len(r.servers) == 0 {
				c.upstream.wildStandard[key] = true
				continue
			}
			c.upstream.wild[key] = finishRoute(r.servers, r.local)
		}
	}
	return nil
}

// finishRoute gives a route's servers their selection group. A domain
// that is both local and has servers is local: never forward what the
// configuration says is answered here.
func finishRoute(servers []upstream, local ...bool) route {
	if len(local) > 0 && local[0] {
		return route{local: true}
	}
	if len(servers) == 0 {
		return route{}
	}
	g := newServerGroup()
	out := make([]upstream, len(servers))
	for i, u := range servers {
		u.group, u.index = g, i
		out[i] = u
	}
	g.servers = out
	return route{servers: out}
}

// routeBuilder collects rules in configuration order.
type routeBuilder struct {
	defaults []upstream
	rules    map[string]*routeRule // plain domains; "" = unqualified names
	wild     map[string]*routeRule
	reg      *upstreamRegistry
	seen     map[upstreamID]bool
	order    []*upstreamState
}

func (b *routeBuilder) add(u *ipcpb.Upstream) error {
	var up upstream
	special := u.GetLocal() || u.GetUseStandard()
	if !special {
		var err error
		if up, err = parseUpstream(u); err != nil {
			return err
		}
		id := upstreamID{up.addr, up.bind}
		up.state = b.reg.get(id, up.label)
		if !b.seen[id] {
			b.seen[id] = true
			b.order = append(b.order, up.state)
		}
	}
	if len(u.GetDomains()) == 0 {
		if special {
			return fmt.Errorf("local or use_standard without domains")
		}
		b.defaults = append(b.defaults, up)
		return nil
	}
	for j, d := range u.GetDomains() {
		rule, err := b.rule(d)
		if err != nil {
			return fmt.Errorf("domains[%d]: %w", j, err)
		}
		switch {
		case rule == nil: // "#": every domain, a default server
			if special {
				continue
			}
			b.defaults = append(b.defaults, up)
		case u.GetLocal():
			rule.local = true
		case u.GetUseStandard():
			rule.standard = true
		default:
			rule.servers = append(rule.servers, up)
		}
	}
	return nil
}

// rule returns the rule for a configured domain, creating it; nil for
// "#" (every domain).
func (b *routeBuilder) rule(d string) (*routeRule, error) {
	if d == "#" {
		return nil, nil
	}
	m, key := b.rules, d
	if strings.HasPrefix(d, "*") {
		m = b.wild
		body := strings.TrimPrefix(d[1:], ".")
		canon, err := domainKey(body)
		if err != nil || canon == "" {
			return nil, fmt.Errorf("wildcard %q is not a valid pattern", d)
		}
		key = canon
		if strings.HasPrefix(d[1:], ".") {
			key = "." + canon
		}
	} else {
		var err error
		if key, err = domainKey(d); err != nil {
			return nil, err
		}
	}
	r := m[key]
	if r == nil {
		r = &routeRule{}
		m[key] = r
	}
	return r, nil
}

// parseUpstream checks one server entry from the master.
func parseUpstream(u *ipcpb.Upstream) (upstream, error) {
	ap, err := netip.ParseAddrPort(u.GetAddress())
	if err != nil || ap.Port() == 0 || !ap.Addr().IsValid() {
		return upstream{}, fmt.Errorf("address %q is not ip:port", u.GetAddress())
	}
	a := ap.Addr()
	if z := a.Zone(); z != "" {
		// The master gives link-local servers a numeric zone: dnsd cannot
		// look interface names up (that needs netlink).
		if _, err := strconv.ParseUint(z, 10, 32); err != nil || !a.Is6() {
			return upstream{}, fmt.Errorf("address %q: zone must be an interface index", u.GetAddress())
		}
	} else {
		a = a.Unmap()
	}
	ap = netip.AddrPortFrom(a, ap.Port())
	up := upstream{addr: ap, label: serverLabel(ap)}
	if s := u.GetSourceAddress(); s != "" {
		src, err := netip.ParseAddr(s)
		if err != nil || src.Zone() != "" {
			return upstream{}, fmt.Errorf("source address %q is not an IP address", s)
		}
		src = src.Unmap()
		if src.Is4() != a.Unmap().Is4() {
			return upstream{}, fmt.Errorf("source address %s and server %s are of different families", src, a)
		}
		up.bind.addr = src
	}
	if p := u.GetSourcePort(); p != 0 {
		if p > 65535 {
			return upstream{}, fmt.Errorf("source port %d", p)
		}
		up.bind.port = uint16(p)
	}
	if iface := u.GetInterface(); iface != "" {
		if len(iface) > 15 || strings.ContainsAny(iface, "/\x00 ") {
			return upstream{}, fmt.Errorf("interface %q is not an interface name", iface)
		}
		up.bind.iface = iface
		up.label += "(via " + iface + ")" // dnsmasq's "using nameserver 1.2.3.4#53(via eth0)"
	}
	return up, nil
}

// domainKey canonicalises a configured domain; "" (server=//ip, for
// unqualified names) stays "".
func domainKey(d string) (string, error) {
	if d == "" {
		return "", nil
	}
	key, ok := hosts.CanonicalName(d)
	if !ok {
		return "", fmt.Errorf("domain %q is not a valid name", d)
	}
	return key, nil
}

func serverLabel(ap netip.AddrPort) string {
	if ap.Port() == 53 {
		return ap.Addr().String()
	}
	return ap.Addr().String() + "#" + strconv.Itoa(int(ap.Port()))
}

// route finds the most specific domain rule for a lookup key (lower-case,
// no trailing dot): the longest suffix some rule names, then the
// unqualified-name rule for single-label names, then the default servers.
// server=/dom/# sends names under dom to the default servers whatever
// more general rule there is.
func (c *runConfig) route(key string) route {
	u := &c.upstream
	if key != "" && (len(c.domains) > 0 || len(u.wild) > 0 || len(u.standard) > 0 || len(u.wildStandard) > 0) {
		if r, ok, standard := c.matchDomain(key); ok {
			return r
		} else if standard {
			return c.defaultRoute(key)
		}
	}
	return c.defaultRoute(key)
}

// defaultRoute is the route of a name no domain rule matched: the
// server=//ip rule for a single-label name, if there is one, else the
// default servers.
func (c *runConfig) defaultRoute(key string) route {
	if key != "" && strings.IndexByte(key, '.') < 0 {
		if r, ok := c.domains[""]; ok {
			return r
		}
	}
	return route{servers: c.defaults}
}

// matchDomain walks the suffixes of key from the longest. standard
// reports that the best match was a server=/dom/# rule.
func (c *runConfig) matchDomain(key string) (r route, ok, standard bool) {
	wild, std, wildStd := c.upstream.wild, c.upstream.standard, c.upstream.wildStandard
	if len(wild) == 0 && len(std) == 0 && len(wildStd) == 0 {
		for s := key; ; {
			if r, ok := c.domains[s]; ok {
				return r, true, false
			}
			i := strings.IndexByte(s, '.')
			if i < 0 {
				return route{}, false, false
			}
			s = s[i+1:]
		}
	}
	for i := 0; i < len(key); i++ {
		s := key[i:]
		if i == 0 || key[i-1] == '.' {
			if r, ok := c.domains[s]; ok {
				return r, true, false
			}
			if std[s] {
				return route{}, false, true
			}
		}
		if r, ok := wild[s]; ok {
			return r, true, false
		}
		if wildStd[s] {
			return route{}, false, true
		}
	}
	return route{}, false, false
}
