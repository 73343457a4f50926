package dnsd

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/hosts"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// filterConfig is the filter part of a runConfig (area D): query filters
// (domain-needed, bogus-priv, filterwin2k, local-service), reply filters
// (bogus-nxdomain, ignore-address, stop-dns-rebind, filter-rr), the EDNS0
// client options (add-mac, add-subnet), CHAOS names and the log format.
type filterConfig struct {
	domainNeeded  bool
	bogusPriv     bool
	bogusNX       []netip.Prefix // masked
	ignore        []netip.Prefix // masked
	rebind        bool
	rebindLocalOK bool
	rebindOK      map[string]struct{}
	win2k         bool
	filterRR      map[uint16]bool // filter-rr, filter-A, filter-AAAA
	filterANY     bool            // filter-rr=ANY
	localService  ipcpb.LocalService
	localNets     []netip.Prefix // as of the configuration; NetState overrides
	addMAC        bool           // option 65001, binary
	addMACID      string         // option 65073: "", "base64" or "text"
	subnet        *subnetConfig  // add-subnet; nil = off
	noIdent       bool
	logExtra      bool
	version       string
}

// localServiceNet is local-service=net.
const localServiceNet = ipcpb.LocalService_LOCAL_SERVICE_NET

// subnetConfig is add-subnet: v4 applies to IPv4 clients, v6 to IPv6.
type subnetConfig struct {
	v4, v6 subnetSource
}

// subnetSource is one side of add-subnet. With no fixed address the
// client's own is sent; an unset side sends a zero prefix.
type subnetSource struct {
	set  bool
	bits int
	addr netip.Addr // fixed address; invalid = the client's
}

func newFilterConfig(dc *ipcpb.DNSConfig) (filterConfig, error) {
	f := filterConfig{
		domainNeeded: dc.GetDomainNeeded(),
		bogusPriv:    dc.GetBogusPriv(),
		rebind:       dc.GetStopDnsRebind(),
		win2k:        dc.GetFilterwin2K(),
		localService: dc.GetLocalService(),
		addMAC:       dc.GetAddMac(),
		noIdent:      dc.GetNoIdent(),
		logExtra:     dc.GetLogExtra(),
		version:      dc.GetVersion(),
	}
	f.rebindLocalOK = dc.GetRebindLocalhostOk()
	var err error
	if f.rebindOK, err = domainSet("rebind_domain_ok", dc.GetRebindDomainOk()); err != nil {
		return f, err
	}
	if f.bogusNX, err = prefixList("bogus_nxdomain", dc.GetBogusNxdomain()); err != nil {
		return f, err
	}
	if f.ignore, err = prefixList("ignore_address", dc.GetIgnoreAddress()); err != nil {
		return f, err
	}
	if f.localNets, err = prefixList("local_networks", dc.GetLocalNetworks()); err != nil {
		return f, err
	}
	for i, t := range dc.GetFilterRr() {
		if t == 0 || t > 65535 {
			return f, fmt.Errorf("dns config: filter_rr[%d]: %d is not an RR type", i, t)
		}
		if t == uint32(dns.TypeANY) {
			f.filterANY = true
			continue
		}
		if f.filterRR == nil {
			f.filterRR = make(map[uint16]bool)
		}
		f.filterRR[uint16(t)] = true
	}
	switch {
	case dc.GetAddMacText():
		f.addMACID = "text" // text wins over base64, as in dnsmasq
	case dc.GetAddMacBase64():
		f.addMACID = "base64"
	}
	if cs := dc.GetAddSubnet(); cs != nil {
		sc := &subnetConfig{}
		if sc.v4, err = newSubnetSource("add_subnet.v4", cs.GetV4(), 32); err != nil {
			return f, err
		}
		if sc.v6, err = newSubnetSource("add_subnet.v6", cs.GetV6(), 128); err != nil {
			return f, err
		}
		f.subnet = sc
	}
	if f.version == "" {
		f.version = "moat"
	}
	return f, nil
}

func newSubnetSource(field string, s *ipcpb.SubnetSource, plainMax int) (subnetSource, error) {
	if s == nil {
		return subnetSource{}, nil
	}
	src := subnetSource{set: true, bits: int(s.GetBits())}
	limit := plainMax
	if b := s.GetAddress(); len(b) > 0 {
		a, ok := addrFromBytes(b)
		if !ok {
			return src, fmt.Errorf("dns config: %s.address: %d bytes", field, len(b))
		}
		src.addr = a
		limit = a.BitLen()
	}
	if src.bits > limit {
		return src, fmt.Errorf("dns config: %s.bits: %d, at most %d", field, src.bits, limit)
	}
	return src, nil
}

func domainSet(field string, domains []string) (map[string]struct{}, error) {
	if len(domains) == 0 {
		return nil, nil
	}
	out := make(map[string]struct{}, len(domains))
	for i, d := range domains {
		key, ok := hosts.CanonicalName(d)
		if !ok || key == "" {
			return nil, fmt.Errorf("dns config: %s[%d]: %q is not a domain", field, i, d)
		}
		out[key] = struct{}{}
	}
	return out, nil
}

func prefixList(field string, list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("dns config: %s[%d]: %w", field, i, err)
		}
		out = append(out, netip.PrefixFrom(p.Addr().Unmap(), unmappedBits(p)).Masked())
	}
	return out, nil
}

// unmappedBits is p's length after an IPv4-mapped address is unmapped
// (::ffff:10.0.0.0/104 is 10.0.0.0/8).
func unmappedBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return max(p.Bits()-96, 0)
	}
	return p.Bits()
}

// underDomain reports whether key (lower case, no trailing dot) is one of
// set's domains or below one.
func underDomain(key string, set map[string]struct{}) bool {
	if len(set) == 0 {
		return false
	}
	for s := key; ; {
		if _, ok := set[s]; ok {
			return true
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return false
		}
		s = s[i+1:]
	}
}

// netState is what the master's NetState says: the local networks and
// the neighbour table. It is replaced whole.
type netState struct {
	localNets  []netip.Prefix
	neighbours map[netip.Addr][]byte
}

// filterState is the Server's area D state: the latest NetState, the
// once-only warning, counters for what the filters did, and the cache
// totals the statistics carry across caches.
type filterState struct {
	net            atomic.Pointer[netState]
	totals         cacheTotals
	warnOnce       sync.Once
	nonLocal       atomic.Uint64 // queries dropped by local-service
	filtered       atomic.Uint64 // answered locally by a query filter
	chaos          atomic.Uint64 // CHAOS answers
	rebindBlocked  atomic.Uint64
	bogusNX        atomic.Uint64
	ignoredReplies atomic.Uint64
	logSerial      atomic.Uint32 // log-queries=extra serial numbers
	tcp            tcpGauge      // SIGUSR1's TCP line (tcp.go)
}

// setNetState installs a NetState from the master, checking it again.
func (fs *filterState) setNetState(m *ipcpb.NetState) error {
	ns := &netState{neighbours: make(map[netip.Addr][]byte, len(m.GetNeighbours()))}
	var err error
	if ns.localNets, err = prefixList("net_state.local_networks", m.GetLocalNetworks()); err != nil {
		return err
	}
	for i, nb := range m.GetNeighbours() {
		a, ok := addrFromBytes(nb.GetAddress())
		if !ok || len(nb.GetMac()) == 0 {
			return fmt.Errorf("net_state.neighbours[%d]: bad entry", i)
		}
		ns.neighbours[a.Unmap()] = append([]byte(nil), nb.GetMac()...)
	}
	fs.net.Store(ns)
	return nil
}

// mac returns the link-layer address the master last saw for a client.
func (fs *filterState) mac(a netip.Addr) ([]byte, bool) {
	ns := fs.net.Load()
	if ns == nil {
		return nil, false
	}
	m, ok := ns.neighbours[a.WithZone("").Unmap()]
	return m, ok
}
