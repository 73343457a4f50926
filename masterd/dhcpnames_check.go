package masterd

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/moatdns/moat/internal/hosts"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// The master's check of the names dhcpd stored in leases, before they
// reach dnsd (TABLE_LEASE_NAMES). dhcpd is not trusted: whatever a lease
// says, a name is answered only if it is a legal DNS label, not a
// reserved name, held by no newer lease, and not a name the hosts files,
// hostsdir, host-record or cname define. The rules and log lines follow
// dnsmasq 2.90 (cache_add_dhcp_entry, lease_set_hostname).

// nameClaim is one live lease that has a name, as the check sees it.
type nameClaim struct {
	addr    netip.Addr
	name    string // as the lease stores it
	expires int64  // seconds since the epoch; 0 never
	// seq orders claims of one name: the larger took it later. dnsmasq
	// moves a name to the lease that asked for it last.
	seq uint64
	// auth: the name comes from a dhcp-host that matches the lease's
	// client (dnsmasq's LEASE_AUTH_NAME); a client's own name never takes
	// it away.
	auth bool
}

// shadowAddr is an IPv4 address a configured name already has, and where
// it is defined ("/etc/hosts", a hostsdir file, "config").
type shadowAddr struct {
	addr   netip.Addr
	source string
}

// shadow is what the DNS configuration defines for one name that a
// lease name would compete with. Only IPv4 addresses count: dnsmasq looks
// for records of the lease's family, so a name with only an IPv6 hosts
// entry may still get a lease's IPv4 address.
type shadow struct {
	cname bool
	v4    []shadowAddr
}

// nameRules is what the check needs besides the claims.
type nameRules struct {
	domainFor func(netip.Addr) string // the DHCP domain of an address ("" none)
	shadowOf  func(key string) shadow // configured data for a lower-case name
	ttl       uint32                  // dhcp-ttl, else local-ttl
	now       int64                   // seconds since the epoch
}

// reservedNames are never given to a lease, whatever the hosts files
// say: names resolvers and operating systems treat as special (RFC 6761,
// the Debian and BSD /etc/hosts defaults).
var reservedNames = map[string]bool{
	"localhost": true, "localhost4": true, "localhost6": true,
	"ip6-localhost": true, "ip6-loopback": true, "localdomain": true,
	"broadcasthost": true, "local": true, "invalid": true, "arpa": true, "onion": true,
}

// buildLeaseNames checks every claim and returns the table for dnsd,
// sorted by address, and the refusals to log, in dnsmasq's words.
func buildLeaseNames(claims []nameClaim, rules nameRules) ([]*ipcpb.LocalRecord, []string) {
	var refusals []string
	claims = slices.Clone(claims)
	slices.SortFunc(claims, func(a, b nameClaim) int { return a.addr.Compare(b.addr) })
	winners := make(map[string]nameClaim, len(claims))
	for _, c := range claims {
		if c.expires != 0 && rules.now > c.expires {
			continue // over; the expiry deletes it shortly
		}
		key := strings.ToLower(c.name)
		if !legalLabel(key) {
			refusals = append(refusals, fmt.Sprintf("not giving name %q to the DHCP lease of %s because it is not a legal DNS label", c.name, c.addr))
			continue
		}
		domain := rules.domainFor(c.addr)
		if reservedNames[key] || key == domain {
			refusals = append(refusals, fmt.Sprintf("not giving name %s to the DHCP lease of %s because the name is reserved", key, c.addr))
			continue
		}
		if w, ok := winners[key]; ok && !newerClaim(c, w) {
			continue
		}
		winners[key] = c
	}
	out := make([]*ipcpb.LocalRecord, 0, len(winners))
	for _, c := range claims {
		key := strings.ToLower(c.name)
		if w, ok := winners[key]; !ok || w.addr != c.addr {
			continue
		}
		domain := rules.domainFor(c.addr)
		var candidates []string
		if domain != "" {
			// The qualified name comes first: dnsd answers PTR with it.
			if fq, ok := hosts.CanonicalName(key + "." + domain); ok {
				candidates = append(candidates, fq)
			}
		}
		candidates = append(candidates, key)
		var names []string
		for _, n := range candidates {
			ok, why := nameFree(n, c.addr, rules.shadowOf(n))
			if why != "" {
				refusals = append(refusals, why)
			}
			if ok {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			continue
		}
		out = append(out, &ipcpb.LocalRecord{Source: "DHCP", Host: &ipcpb.LocalHost{
			Kind: ipcpb.LocalHost_KIND_DHCP_LEASE, Address: c.addr.AsSlice(), Names: names,
			Ttl: rules.ttl, Expires: c.expires,
		}})
	}
	sort.Strings(refusals)
	return out, refusals
}

// newerClaim reports whether c takes a name from w: a configured name
// beats a client's, then the later claim wins (lower address on a tie,
// so that the result does not depend on map order).
func newerClaim(c, w nameClaim) bool {
	switch {
	case c.auth != w.auth:
		return c.auth
	case c.seq != w.seq:
		return c.seq > w.seq
	}
	return c.addr.Less(w.addr)
}

// nameFree is dnsmasq's cache_add_dhcp_entry test for one name: a cname
// refuses it; a hosts address equal to the lease's makes the lease's
// record unneeded (the hosts entry answers); another address refuses it.
// why is the line to log, "" when there is nothing to say.
func nameFree(name string, addr netip.Addr, sh shadow) (ok bool, why string) {
	if sh.cname {
		return false, fmt.Sprintf("%s is a CNAME, not giving it to the DHCP lease of %s", name, addr)
	}
	for _, s := range sh.v4 {
		if s.addr == addr {
			return false, ""
		}
	}
	if len(sh.v4) > 0 {
		s := sh.v4[0]
		return false, fmt.Sprintf("not giving name %s to the DHCP lease of %s because the name exists in %s with address %s",
			name, addr, s.source, s.addr)
	}
	return true, ""
}

// shadowIndex answers shadowOf for the names of one build from the DNS
// data of one generation: it scans the hosts table, hostsdir records,
// host-record and cname once for all the names not looked up before.
type shadowIndex struct {
	gen, dynGen uint64
	known       map[string]shadow
}

// maxShadowCache bounds the remembered lookups; past it the cache starts
// again (names from a dhcpd that invents them cannot grow it for ever).
const maxShadowCache = 1 << 16

// prepare makes sure every key in want is known, scanning d's data (d.mu
// held) when some are not. A new generation of the data starts afresh.
func (x *shadowIndex) prepare(d *dnsData, want map[string]bool) {
	if x.known == nil || x.gen != d.generation || x.dynGen != d.local.dynGen || len(x.known) > maxShadowCache {
		x.known, x.gen, x.dynGen = map[string]shadow{}, d.generation, d.local.dynGen
	}
	missing := map[string]bool{}
	for k := range want {
		if _, ok := x.known[k]; !ok {
			missing[k] = true
			x.known[k] = shadow{}
		}
	}
	if len(missing) == 0 {
		return
	}
	add := func(name string, addr netip.Addr, source string) {
		key := hosts.Key(name)
		if !missing[key] || !addr.Unmap().Is4() {
			return
		}
		sh := x.known[key]
		sh.v4 = append(sh.v4, shadowAddr{addr: addr.Unmap(), source: source})
		x.known[key] = sh
	}
	for _, e := range d.hosts {
		addr, _ := netip.AddrFromSlice(e.GetAddress())
		for _, n := range e.GetNames() {
			add(n, addr, e.GetSource())
		}
	}
	for _, r := range d.local.dirRecs {
		h := r.GetHost()
		addr, _ := netip.AddrFromSlice(h.GetAddress())
		for _, n := range h.GetNames() {
			add(n, addr, r.GetSource())
		}
	}
	if l := d.local.cfg; l != nil {
		for _, h := range l.HostRecords {
			for _, n := range h.Names {
				add(n, h.V4, "config")
			}
		}
		for _, c := range l.CNAMEs {
			for _, a := range c.Aliases {
				if key := hosts.Key(a); missing[key] {
					sh := x.known[key]
					sh.cname = true
					x.known[key] = sh
				}
			}
		}
	}
}

func (x *shadowIndex) lookup(key string) shadow { return x.known[key] }
