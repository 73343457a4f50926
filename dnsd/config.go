package dnsd

import (
	"fmt"
	"net/netip"

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
	cache      cacheConfig    // area B: cache options, fast-path licence
	filters    filterConfig   // area D: filters, client options, log format
	local      localConfig    // area A: localise-queries, selfmx, localmx (local_config.go)
	upstream   upstreamConfig // area C: servers by domain, wildcards, policy (upstream_routes.go)

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
	cc, err := newCacheConfig(dc)
	if err != nil {
		return nil, err
	}
	c.cache = cc
	if c.filters, err = newFilterConfig(dc); err != nil {
		return nil, err
	}
	if c.local, err = newLocalConfig(dc); err != nil { // area A
		return nil, err
	}
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
	if err := c.buildUpstreams(dc, nil, nil); err != nil { // area C (upstream_routes.go)
		return nil, err
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
