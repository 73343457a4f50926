package dnsd

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/moatdns/moat/internal/hosts"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// defaultEDNSPacketMax is the UDP payload size dnsd advertises upstream and
// to clients when the configuration leaves edns-packet-max at 0: dnsmasq
// 2.90's default, the DNS flag day 2020 value.
const defaultEDNSPacketMax = 1232

// maxCacheSize bounds cache-size so one configuration value cannot ask
// dnsd for unbounded memory (dnsmasq has no limit; 10M answers is far past
// any small network's needs).
const maxCacheSize = 10_000_000

// upstream is one server to forward to.
type upstream struct {
	addr netip.AddrPort
	// label is how dnsmasq names the server in its log: "9.9.9.9", or
	// "127.0.0.1#5353" when the port is not 53.
	label string
}

// route is what the most specific matching domain says about a name.
type route struct {
	local   bool       // local=/dom/: answer from local data only
	servers []upstream // server=/dom/ip, or the default servers
}

// runConfig is a validated DNSConfig in the form the query path reads. It
// is immutable once built; a new configuration is a new runConfig.
type runConfig struct {
	generation uint64
	defaults   []upstream
	// domains maps a domain (lower-case, no trailing dot) to its route;
	// the key "" is server=//ip, which is for unqualified names.
	domains    map[string]route
	cacheSize  int
	logQueries bool
	localTTL   uint32
	ednsMax    uint16

	allowedAddrs map[netip.Addr]struct{}
	allowedIfs   map[uint32]struct{}
	excludedIfs  map[uint32]struct{}
}

// newRunConfig validates dc. The master validated it too, but a worker
// checks what it relies on rather than trusting the wire.
func newRunConfig(dc *ipcpb.DNSConfig) (*runConfig, error) {
	c := &runConfig{
		generation:   dc.GetGeneration(),
		domains:      make(map[string]route),
		logQueries:   dc.GetLogQueries(),
		localTTL:     dc.GetLocalTtl(),
		allowedAddrs: make(map[netip.Addr]struct{}),
		allowedIfs:   make(map[uint32]struct{}),
		excludedIfs:  make(map[uint32]struct{}),
	}
	if dc.GetCacheSize() > maxCacheSize {
		return nil, fmt.Errorf("dns config: cache_size %d, at most %d", dc.GetCacheSize(), maxCacheSize)
	}
	c.cacheSize = int(dc.GetCacheSize())
	switch m := dc.GetEdnsPacketMax(); {
	case m == 0:
		c.ednsMax = defaultEDNSPacketMax
	case m < 512:
		c.ednsMax = 512
	case m > 65535:
		return nil, fmt.Errorf("dns config: edns_packet_max %d, at most 65535", m)
	default:
		c.ednsMax = uint16(m)
	}
	for i, u := range dc.GetUpstreams() {
		ap, err := netip.ParseAddrPort(u.GetAddress())
		if err != nil || ap.Port() == 0 || !ap.Addr().IsValid() {
			return nil, fmt.Errorf("dns config: upstreams[%d]: address %q is not ip:port", i, u.GetAddress())
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		up := upstream{addr: ap, label: serverLabel(ap)}
		if len(u.GetDomains()) == 0 {
			c.defaults = append(c.defaults, up)
			continue
		}
		for j, d := range u.GetDomains() {
			key, err := domainKey(d)
			if err != nil {
				return nil, fmt.Errorf("dns config: upstreams[%d].domains[%d]: %w", i, j, err)
			}
			r := c.domains[key]
			r.servers = append(r.servers, up)
			c.domains[key] = r
		}
	}
	// A domain that is both local and has servers is local: never forward
	// what the configuration says is answered here.
	for i, d := range dc.GetLocalDomains() {
		key, err := domainKey(d)
		if err != nil {
			return nil, fmt.Errorf("dns config: local_domains[%d]: %w", i, err)
		}
		c.domains[key] = route{local: true}
	}
	for i, a := range dc.GetAllowedAddresses() {
		addr, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("dns config: allowed_addresses[%d]: %w", i, err)
		}
		c.allowedAddrs[addr.WithZone("").Unmap()] = struct{}{}
	}
	for _, ix := range dc.GetAllowedIfindexes() {
		c.allowedIfs[ix] = struct{}{}
	}
	for _, ix := range dc.GetExcludedIfindexes() {
		c.excludedIfs[ix] = struct{}{}
	}
	return c, nil
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
// no trailing dot): the name itself, then each parent domain, then the
// unqualified-name rule for single-label names, then the default servers.
func (c *runConfig) route(key string) route {
	if len(c.domains) > 0 && key != "" {
		for s := key; ; {
			if r, ok := c.domains[s]; ok {
				return r
			}
			i := strings.IndexByte(s, '.')
			if i < 0 {
				break
			}
			s = s[i+1:]
		}
		if strings.IndexByte(key, '.') < 0 {
			if r, ok := c.domains[""]; ok {
				return r
			}
		}
	}
	return route{servers: c.defaults}
}

// allowedUDP decides, for a wildcard socket, whether a query that arrived
// for dst on interface ifindex may be answered, as dnsmasq does without
// bind-interfaces: an excluded interface never; with neither addresses nor
// interfaces listed, everything else; otherwise a listed address or a
// listed interface.
func (c *runConfig) allowedUDP(dst netip.Addr, ifindex uint32) bool {
	if _, ok := c.excludedIfs[ifindex]; ok {
		return false
	}
	if len(c.allowedAddrs) == 0 && len(c.allowedIfs) == 0 {
		return true
	}
	if _, ok := c.allowedAddrs[dst.WithZone("").Unmap()]; ok {
		return true
	}
	_, ok := c.allowedIfs[ifindex]
	return ok
}

// allowedTCP is allowedUDP for a connection accepted on a wildcard TCP
// listener. The arrival interface of a TCP connection is not known, so only
// the local address can be checked; the master lists every address of an
// allowed interface in allowed_addresses, which makes that enough.
func (c *runConfig) allowedTCP(dst netip.Addr) bool {
	if len(c.allowedAddrs) == 0 && len(c.allowedIfs) == 0 {
		return true
	}
	_, ok := c.allowedAddrs[dst.WithZone("").Unmap()]
	return ok
}
