package dnsd

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/moatdns/moat/internal/hosts"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// leaseTable is TABLE_LEASE_NAMES: the names of the live DHCP leases,
// which the master has checked (legal labels under the DHCP domain, no
// name a hosts file or host-record defines, one lease per name). dnsd
// checks every entry again and answers from it as dnsmasq answers DHCP
// names: A for the name and the qualified name, PTR with the qualified
// name, after hosts files, host-record and hostsdir, with TTL
// min(dhcp-ttl or local-ttl, the lease's remaining time), and nothing
// once the lease is over. It is immutable; dnsd swaps whole tables.
type leaseTable struct {
	names   map[string][]leaseAddr // lower-case name -> addresses
	reverse map[netip.Addr]leaseAddr
	// above holds the proper ancestors of the names ("lan" for
	// "pc.lan"): a handful of DHCP domains and their parents.
	above map[string]struct{}
}

// leaseAddr is one lease's address under one of its names.
type leaseAddr struct {
	addr    netip.Addr
	name    string // the first (qualified) name, for PTR
	ttl     uint32
	expires int64 // seconds since the epoch; 0 never
}

// live reports whether the lease still holds at now (dnsmasq keeps a
// lease through the second it ends).
func (l leaseAddr) live(now int64) bool { return l.expires == 0 || now <= l.expires }

// ttlAt is the TTL answered at now: the configured one, capped by the
// lease's remaining time, as dnsmasq's crec_ttl does for DHCP names.
func (l leaseAddr) ttlAt(now int64) uint32 {
	if l.expires != 0 && l.expires-now < int64(l.ttl) {
		return uint32(max(l.expires-now, 0))
	}
	return l.ttl
}

// newLeaseTable checks and indexes a received TABLE_LEASE_NAMES; one bad
// entry rejects the table (the master never sends one).
func newLeaseTable(recs []*ipcpb.LocalRecord) (*leaseTable, error) {
	t := &leaseTable{names: make(map[string][]leaseAddr, 2*len(recs)), reverse: make(map[netip.Addr]leaseAddr, len(recs)), above: map[string]struct{}{}}
	for i, r := range recs {
		if err := ipc.ValidateLeaseName(r); err != nil {
			return nil, fmt.Errorf("lease names[%d]: %w", i, err)
		}
		h := r.GetHost()
		addr := netip.AddrFrom4([4]byte(h.GetAddress()))
		var first string
		for j, raw := range h.GetNames() {
			key, ok := leaseHostName(raw)
			if !ok {
				return nil, fmt.Errorf("lease names[%d]: name %q is not a host name: %w", i, raw, ipc.ErrInvalid)
			}
			if j == 0 {
				first = key
			}
			la := leaseAddr{addr: addr, name: first, ttl: h.GetTtl(), expires: h.GetExpires()}
			t.names[key] = append(t.names[key], la)
			if _, taken := t.reverse[addr]; !taken && j == 0 {
				t.reverse[addr] = la
			}
			for s := key; ; {
				k := strings.IndexByte(s, '.')
				if k < 0 {
					break
				}
				s = s[k+1:]
				if _, seen := t.above[s]; seen {
					break // and so are its ancestors
				}
				t.above[s] = struct{}{}
			}
		}
	}
	return t, nil
}

// leaseHostName accepts what a lease may be called: a name in canonical
// form (lower case, no trailing dot) whose first label is a host name
// (letters, digits, inner hyphens): the label alone, or the label under
// the DHCP domain.
func leaseHostName(raw string) (string, bool) {
	key, ok := hosts.CanonicalName(raw)
	if !ok || key != raw {
		return "", false
	}
	label, _, _ := strings.Cut(key, ".")
	if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
		return "", false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "", false
		}
	}
	return key, true
}

// leaseNames returns the zone's lease table (nil for none).
func (z *localZone) leaseNames() *leaseTable {
	if z == nil {
		return nil
	}
	return z.leases
}

// lookup returns the live addresses of key at now.
func (t *leaseTable) lookup(key string, now int64) []leaseAddr {
	if t == nil {
		return nil
	}
	var out []leaseAddr
	for _, la := range t.names[key] {
		if la.live(now) {
			out = append(out, la)
		}
	}
	return out
}

// reverseOf returns the lease name of addr at now.
func (t *leaseTable) reverseOf(addr netip.Addr, now int64) (leaseAddr, bool) {
	if t == nil {
		return leaseAddr{}, false
	}
	la, ok := t.reverse[addr]
	if !ok || !la.live(now) {
		return leaseAddr{}, false
	}
	return la, true
}

// hasAtOrBelow reports whether a lease name is key or under it (NODATA
// rather than NXDOMAIN in a local domain).
func (t *leaseTable) hasAtOrBelow(key string) bool {
	if t == nil {
		return false
	}
	if _, ok := t.names[key]; ok {
		return true
	}
	_, ok := t.above[key]
	return ok
}

// leaseAddresses appends the live lease addresses of the answer's name
// (IPv4 only: dnsmasq gives leases only IPv4 names).
func (a *localAnswer) leaseAddresses(list []localAddr) []localAddr {
	return a.leaseAddressesOf(a.key, list)
}

// leaseAddressesOf is leaseAddresses for another name (an MX or SRV
// target in the additional section).
func (a *localAnswer) leaseAddressesOf(key string, list []localAddr) []localAddr {
	now := cacheClock().Unix()
	for _, la := range a.req.st.local.leaseNames().lookup(key, now) {
		list = appendAddr(list, localAddr{addr: la.addr, ttl: la.ttlAt(now), source: "DHCP", ownTTL: true})
	}
	return list
}

// hasLeaseName reports whether the answer's name is a live lease name
// (selfmx and localmx give those an MX record too).
func (a *localAnswer) hasLeaseName() bool {
	return len(a.req.st.local.leaseNames().lookup(a.key, cacheClock().Unix())) > 0
}

// leasePTR answers PTR for addr from the lease names; it reports whether
// it did.
func (a *localAnswer) leasePTR(addr netip.Addr) bool {
	now := cacheClock().Unix()
	la, ok := a.req.st.local.leaseNames().reverseOf(addr, now)
	if !ok {
		return false
	}
	a.ptrTo(addr, reverseName{name: la.name, source: "DHCP", ttl: la.ttlAt(now), ownTTL: true})
	return true
}

// receiveLeaseNames installs a received TABLE_LEASE_NAMES: the zone is
// rebuilt around it (the static and dynamic parts are shared).
func (s *Server) receiveLeaseNames(items []*ipcpb.TableItem) error {
	t, err := newLeaseTable(ipc.LocalRecordsOf(items))
	if err != nil {
		return fmt.Errorf("ipc: %s: %w", ipcpb.Table_TABLE_LEASE_NAMES, err)
	}
	s.localSet.leases = t
	return nil
}
