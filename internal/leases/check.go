package leases

import (
	"errors"
	"net/netip"
)

// Reasons to refuse (NAK) a REQUEST, with dnsmasq's log texts.
var (
	ErrWrongNetwork    = errors.New("wrong network")
	ErrNotAvailable    = errors.New("address not available")
	ErrStaticAvailable = errors.New("static lease available")
	ErrReserved        = errors.New("address reserved")
	ErrInUse           = errors.New("address in use")
)

// Grant is what acknowledging a requested address changes in the table
// besides the new lease itself.
type Grant struct {
	// Drop is the client's own lease at another address, which dnsmasq
	// removes ("a lease exists for this host and another address").
	Drop *Lease
	// Replaces is the lease that another MAC of the same dhcp-host holds
	// at the address; it is abandoned to this client.
	Replaces *Lease
}

// Check decides whether client c may have addr (a REQUEST, in any of its
// states), as dnsmasq 2.90 does before it ACKs: the address must be on
// the client's network (a range whose tag filter allows the client),
// within a dynamic range unless it is the client's dhcp-host address,
// not kept for another dhcp-host, not the server's, and not leased to
// another client, except another MAC of the same dhcp-host; and a client
// whose dhcp-host address has become free is sent back to take it
// (ErrStaticAvailable).
func (a *Allocator) Check(c Client, host *Host, addr netip.Addr, tags TagSet) (Grant, error) {
	var g Grant
	if !addr.Is4() || !a.onNetwork(addr, tags) {
		return g, ErrWrongNetwork
	}
	own, hasOwn := a.Leases.ByClient(c)
	if hasOwn && own.Expired(a.Now) {
		hasOwn = false
	}
	if hasOwn && own.Addr != addr {
		drop := own
		g.Drop = &drop
		hasOwn = false
	}
	hostAddr := host != nil && host.Addr.IsValid()
	switch {
	case a.isServer(addr):
		return Grant{}, ErrNotAvailable
	case !a.available(addr, tags) && !(hostAddr && host.Addr == addr):
		return Grant{}, ErrNotAvailable
	case hostAddr && host.Addr != addr && a.inNetwork(host.Addr):
		if l, leased := a.leaseAt(host.Addr); !leased || c.Owns(*l) {
			return Grant{}, ErrStaticAvailable
		}
	}
	if r := a.reservedBy(addr); r != nil && r != host {
		return Grant{}, ErrReserved
	}
	if l, leased := a.leaseAt(addr); leased && !hasOwn && !c.Owns(*l) {
		if host == nil || !host.HasMAC(l.HWType, l.HWAddr) {
			return Grant{}, ErrInUse
		}
		old := l.Clone()
		g.Replaces = &old
	}
	return g, nil
}

// onNetwork is dnsmasq's narrow_context: addr is in a dynamic range open
// to the client, or in the network of a range whose tags allow it.
func (a *Allocator) onNetwork(addr netip.Addr, tags TagSet) bool {
	if a.available(addr, tags) {
		return true
	}
	for _, p := range a.Pools {
		if MatchTags(p.Tags, tags, true) && p.inNetwork(addr) {
			return true
		}
	}
	return false
}
