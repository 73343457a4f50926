package dnsd

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/hosts"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// maxCNAMEChain bounds how many local CNAMEs one answer follows (the
// configuration has no loops, but the zone is checked, not trusted).
const maxCNAMEChain = 16

// localZone is the local data the master streams besides the hosts files:
// configured records (cname, srv-host, txt-record, mx-host, ptr-record,
// naptr-record, caa-record, dns-rr), host-record, interface-name and
// hostsdir addresses, address= rules and the local subnets for
// localise-queries. It is immutable once built; dnsd swaps whole zones.
type localZone struct {
	names map[string]*localName // owner key (lower case, no trailing dot)
	// wildcards maps "dom" to the CNAME of "*.dom" (moat's extension).
	wildcards map[string]*dns.CNAME
	// reverse answers PTR for host-record and hostsdir addresses (the
	// first name given for an address); ifaceReverse for interface-name,
	// which dnsmasq consults before anything else.
	reverse      map[netip.Addr]reverseName // host-record
	dirReverse   map[netip.Addr]reverseName // hostsdir, after the hosts files
	ifaceReverse map[netip.Addr]reverseName
	rules        *addressRules
	prefixes     []netip.Prefix // local IPv4 address/prefix (localise-queries)
	leases       *leaseTable    // DHCP lease names (local_leases.go); nil none

	// copied marks the entries withDynamic has copied from the static
	// zone (nil once the zone is built).
	copied map[string]bool

	// below holds every owner name and all its ancestors, for "local data
	// at or below this name" (built on first use).
	belowOnce sync.Once
	below     map[string]struct{}
}

// localName is everything the zone holds for one owner name.
type localName struct {
	cname *dns.CNAME
	// rrs are the other configured records by type, in configuration order.
	rrs map[uint16][]dns.RR
	// hostRecord and hostsDir addresses answer A/AAAA like hosts files.
	hostRecord, hostsDir []localAddr
	// iface is set for an interface-name name, even when the interface has
	// no address (dnsmasq then forwards, or answers NODATA in a local domain).
	iface      []netip.Addr
	ifaceKnown bool
}

type localAddr struct {
	addr   netip.Addr
	ttl    uint32 // host-record's own TTL; others answer with local-ttl
	source string
	ownTTL bool
}

type reverseName struct {
	name   string
	source string
	ttl    uint32
	ownTTL bool // host-record: ttl applies; else local-ttl
}

// name returns the entry for key, creating it. In a zone made by
// withDynamic, an entry shared with the static zone is copied first.
func (z *localZone) name(key string) *localName {
	n := z.names[key]
	switch {
	case n == nil:
		n = &localName{}
		z.names[key] = n
	case z.copied != nil && !z.copied[key]:
		c := *n
		n = &c
		z.names[key] = n
		z.copied[key] = true
	}
	return n
}

// newLocalZone checks and indexes the records of both local tables; one
// bad record rejects the whole table (the master never sends one). A nil
// slice is an empty table.
func newLocalZone(records, dynamic []*ipcpb.LocalRecord) (*localZone, error) {
	static, err := newStaticZone(records)
	if err != nil {
		return nil, err
	}
	return static.withDynamic(dynamic)
}

// newStaticZone indexes TABLE_LOCAL_RECORDS. host-record comes first:
// dnsmasq reads it before any hosts file, so its names win PTR answers.
func newStaticZone(records []*ipcpb.LocalRecord) (*localZone, error) {
	z := &localZone{
		names:        map[string]*localName{},
		wildcards:    map[string]*dns.CNAME{},
		reverse:      map[netip.Addr]reverseName{},
		dirReverse:   map[netip.Addr]reverseName{},
		ifaceReverse: map[netip.Addr]reverseName{},
		rules:        newAddressRules(),
	}
	for i, r := range records {
		if r.GetLocalPrefix() != "" || r.GetHost().GetKind() == ipcpb.LocalHost_KIND_HOSTS_DIR ||
			r.GetHost().GetKind() == ipcpb.LocalHost_KIND_INTERFACE_NAME {
			return nil, fmt.Errorf("local records[%d]: dynamic data in the static table: %w", i, ipc.ErrInvalid)
		}
		if err := z.add(r); err != nil {
			return nil, fmt.Errorf("local records[%d]: %w", i, err)
		}
	}
	z.rules.finish()
	return z, nil
}

// withDynamic returns a zone with z's data (a static zone) and
// TABLE_LOCAL_DYNAMIC's (hostsdir, interface-name, local subnets). It
// shares everything z holds, copying only the entries the dynamic data
// touches, so that a hostsdir change costs what the hostsdir holds, not
// what a long address= list does. z is not changed.
func (z *localZone) withDynamic(dynamic []*ipcpb.LocalRecord) (*localZone, error) {
	d := &localZone{
		names:        make(map[string]*localName, len(z.names)),
		wildcards:    z.wildcards,
		reverse:      z.reverse,
		dirReverse:   map[netip.Addr]reverseName{},
		ifaceReverse: map[netip.Addr]reverseName{},
		rules:        z.rules,
		copied:       map[string]bool{},
	}
	for k, n := range z.names {
		d.names[k] = n
	}
	for i, r := range dynamic {
		if len(r.GetRr()) > 0 || r.GetAddressRule() != nil || r.GetHost().GetKind() == ipcpb.LocalHost_KIND_HOST_RECORD {
			return nil, fmt.Errorf("local dynamic records[%d]: static data in the dynamic table: %w", i, ipc.ErrInvalid)
		}
		if err := d.add(r); err != nil {
			return nil, fmt.Errorf("local dynamic records[%d]: %w", i, err)
		}
	}
	d.copied = nil
	return d, nil
}

func (z *localZone) add(r *ipcpb.LocalRecord) error {
	switch {
	case len(r.GetRr()) > 0:
		return z.addRR(r.GetRr())
	case r.GetHost() != nil:
		return z.addHost(r.GetHost(), r.GetSource())
	case r.GetAddressRule() != nil:
		return z.rules.add(r.GetAddressRule())
	case r.GetLocalPrefix() != "":
		p, err := netip.ParsePrefix(r.GetLocalPrefix())
		if err != nil {
			return fmt.Errorf("local_prefix %q: %w", r.GetLocalPrefix(), ipc.ErrInvalid)
		}
		z.prefixes = append(z.prefixes, p)
		return nil
	}
	return fmt.Errorf("empty record: %w", ipc.ErrInvalid)
}

// addRR unpacks one record and checks what answering relies on: class IN,
// a canonical owner, the whole buffer used.
func (z *localZone) addRR(wire []byte) error {
	rr, off, err := dns.UnpackRR(wire, 0)
	if err != nil || rr == nil || off != len(wire) {
		return fmt.Errorf("rr does not unpack (%v): %w", err, ipc.ErrInvalid)
	}
	h := rr.Header()
	key, ok := hosts.CanonicalName(h.Name)
	if !ok || h.Class != dns.ClassINET {
		return fmt.Errorf("rr %q: owner or class not acceptable: %w", h.Name, ipc.ErrInvalid)
	}
	switch h.Rrtype {
	case dns.TypeOPT, dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR, dns.TypeNone:
		return fmt.Errorf("rr %q: type %d is not data: %w", h.Name, h.Rrtype, ipc.ErrInvalid)
	case dns.TypeCNAME:
		c := rr.(*dns.CNAME)
		if base, wild := strings.CutPrefix(key, "*."); wild {
			if z.wildcards[base] != nil {
				return fmt.Errorf("second CNAME for %q: %w", key, ipc.ErrInvalid)
			}
			z.wildcards[base] = c
			return nil
		}
		n := z.name(key)
		if n.cname != nil {
			return fmt.Errorf("second CNAME for %q: %w", key, ipc.ErrInvalid)
		}
		n.cname = c
		return nil
	}
	n := z.name(key)
	if n.rrs == nil {
		n.rrs = map[uint16][]dns.RR{}
	}
	n.rrs[h.Rrtype] = append(n.rrs[h.Rrtype], rr)
	return nil
}

func (z *localZone) addHost(h *ipcpb.LocalHost, source string) error {
	var addr netip.Addr
	if b := h.GetAddress(); len(b) > 0 {
		a, ok := addrFromBytes(b)
		if !ok {
			return fmt.Errorf("host address of %d bytes: %w", len(b), ipc.ErrInvalid)
		}
		addr = a
	} else if h.GetKind() != ipcpb.LocalHost_KIND_INTERFACE_NAME {
		return fmt.Errorf("host without an address: %w", ipc.ErrInvalid)
	}
	if len(h.GetNames()) == 0 {
		return fmt.Errorf("host without names: %w", ipc.ErrInvalid)
	}
	for i, raw := range h.GetNames() {
		key, ok := hosts.CanonicalName(raw)
		if !ok {
			return fmt.Errorf("host name %q: %w", raw, ipc.ErrInvalid)
		}
		n := z.name(key)
		switch h.GetKind() {
		case ipcpb.LocalHost_KIND_HOST_RECORD:
			n.hostRecord = appendAddr(n.hostRecord, localAddr{addr: addr, ttl: h.GetTtl(), source: "config", ownTTL: true})
		case ipcpb.LocalHost_KIND_HOSTS_DIR:
			n.hostsDir = appendAddr(n.hostsDir, localAddr{addr: addr, source: source})
		case ipcpb.LocalHost_KIND_INTERFACE_NAME:
			n.ifaceKnown = true
			if addr.IsValid() && !containsIP(n.iface, addr) {
				n.iface = append(n.iface, addr)
			}
		default:
			return fmt.Errorf("host kind %d: %w", h.GetKind(), ipc.ErrInvalid)
		}
		if !addr.IsValid() || i > 0 {
			continue
		}
		rev, r := z.dirReverse, reverseName{name: key, source: source}
		switch h.GetKind() {
		case ipcpb.LocalHost_KIND_INTERFACE_NAME:
			rev, r.source = z.ifaceReverse, "config"
		case ipcpb.LocalHost_KIND_HOST_RECORD:
			rev, r.source, r.ttl, r.ownTTL = z.reverse, "config", h.GetTtl(), true
		}
		if _, taken := rev[addr]; !taken {
			rev[addr] = r
		}
	}
	return nil
}

func appendAddr(list []localAddr, a localAddr) []localAddr {
	for _, x := range list {
		if x.addr == a.addr {
			return list
		}
	}
	return append(list, a)
}

func containsIP(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// lookup returns the entry for key, or nil. A nil zone is empty.
func (z *localZone) lookup(key string) *localName {
	if z == nil {
		return nil
	}
	return z.names[key]
}

// cnameFor returns the CNAME for key: its own, or the most specific
// "*.dom" wildcard when key has no local data of its own.
func (z *localZone) cnameFor(key string, hostsTable *hosts.Table) *dns.CNAME {
	if z == nil {
		return nil
	}
	if n := z.names[key]; n != nil {
		return n.cname
	}
	if len(z.wildcards) == 0 || hostsTable.Exists(key) {
		return nil
	}
	for s := key; ; {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return nil
		}
		s = s[i+1:]
		if c := z.wildcards[s]; c != nil {
			return c
		}
	}
}

// hasAtOrBelow reports whether the zone holds data for key or a name under
// it: dnsmasq's test for NODATA instead of NXDOMAIN in a local domain.
// CAA and dns-rr records do not count, as in dnsmasq.
func (z *localZone) hasAtOrBelow(key string) bool {
	if z == nil {
		return false
	}
	z.belowOnce.Do(func() {
		z.below = map[string]struct{}{}
		for name, n := range z.names {
			if !n.counts() {
				continue
			}
			for s := name; ; {
				z.below[s] = struct{}{}
				i := strings.IndexByte(s, '.')
				if i < 0 {
					break
				}
				s = s[i+1:]
			}
		}
	})
	_, ok := z.below[key]
	return ok
}

// counts reports whether n makes its name exist for local-domain answers.
func (n *localName) counts() bool {
	if n.cname != nil || len(n.hostRecord) > 0 || len(n.hostsDir) > 0 || n.ifaceKnown {
		return true
	}
	for t := range n.rrs {
		if t != dns.TypeCAA && !isRawType(t) {
			return true
		}
	}
	return false
}

// isRawType reports whether records of type t can only come from dns-rr
// (not from a dedicated option).
func isRawType(t uint16) bool {
	switch t {
	case dns.TypeTXT, dns.TypeSRV, dns.TypeMX, dns.TypePTR, dns.TypeNAPTR, dns.TypeCAA:
		return false
	}
	return true
}

// localPrefix returns the local subnet of dst (localise-queries).
func (z *localZone) localPrefix(dst netip.Addr) (netip.Prefix, bool) {
	if z == nil || !dst.IsValid() {
		return netip.Prefix{}, false
	}
	dst = dst.Unmap()
	for _, p := range z.prefixes {
		if p.Addr() == dst {
			return p.Masked(), true
		}
	}
	return netip.Prefix{}, false
}
