package leases

import (
	"net/netip"
	"slices"
	"time"
)

// Table is the set of current leases, at most one per address, indexed by
// address, client-id and hardware address. It is what replaying the
// journal builds, and what the allocator consults. A Table is not safe for
// concurrent use.
type Table struct {
	byAddr     map[netip.Addr]*entry
	byClientID map[string][]*entry
	byHW       map[string][]*entry
	seq        uint64
	// ranges are the occupancy bitmaps of the ranges the allocator has
	// searched (see occupancy.go).
	ranges []*occupancy
	// expiryFloor is a lower bound of the earliest finite expiry (0: no
	// finite lease put since it was last computed).
	expiryFloor int64
}

type entry struct {
	lease Lease
	seq   uint64 // order of Put: later puts win ties, as dnsmasq's newest-first list
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{
		byAddr:     map[netip.Addr]*entry{},
		byClientID: map[string][]*entry{},
		byHW:       map[string][]*entry{},
	}
}

func hwKey(typ uint8, addr []byte) string { return string(append([]byte{typ}, addr...)) }

// Len is the number of leases.
func (t *Table) Len() int { return len(t.byAddr) }

// Apply performs a journal record.
func (t *Table) Apply(r Record) {
	if r.Delete {
		t.Delete(r.Lease.Addr)
	} else {
		t.Put(r.Lease)
	}
}

// Put stores a copy of l, replacing any lease at its address. It does not
// remove other leases of the same client: when a client moves to a new
// address, the caller deletes (and journals the deletion of) the old one.
func (t *Table) Put(l Lease) {
	t.Delete(l.Addr)
	t.seq++
	e := &entry{lease: l.Clone(), seq: t.seq}
	t.byAddr[l.Addr] = e
	if len(l.ClientID) > 0 {
		k := string(l.ClientID)
		t.byClientID[k] = append(t.byClientID[k], e)
	}
	if len(l.HWAddr) > 0 {
		k := hwKey(l.HWType, l.HWAddr)
		t.byHW[k] = append(t.byHW[k], e)
	}
	t.markOccupancy(l.Addr, true)
	if l.Expires != 0 && (t.expiryFloor == 0 || l.Expires < t.expiryFloor) {
		t.expiryFloor = l.Expires
	}
}

// Delete removes the lease at addr, reporting whether there was one.
func (t *Table) Delete(addr netip.Addr) bool {
	e, ok := t.byAddr[addr]
	if !ok {
		return false
	}
	delete(t.byAddr, addr)
	t.markOccupancy(addr, false)
	drop := func(m map[string][]*entry, k string) {
		list := slices.DeleteFunc(m[k], func(x *entry) bool { return x == e })
		if len(list) == 0 {
			delete(m, k)
		} else {
			m[k] = list
		}
	}
	if len(e.lease.ClientID) > 0 {
		drop(t.byClientID, string(e.lease.ClientID))
	}
	if len(e.lease.HWAddr) > 0 {
		drop(t.byHW, hwKey(e.lease.HWType, e.lease.HWAddr))
	}
	return true
}

// ByAddr returns the lease at addr.
func (t *Table) ByAddr(addr netip.Addr) (Lease, bool) {
	if e, ok := t.byAddr[addr]; ok {
		return e.lease.Clone(), true
	}
	return Lease{}, false
}

// ByClient returns the lease that belongs to c (see Client.Owns): one with
// c's client-id, else one with c's hardware address where the lease or c
// has no client-id. Of several, the most recently written wins.
func (t *Table) ByClient(c Client) (Lease, bool) {
	var best *entry
	consider := func(e *entry) {
		if c.Owns(e.lease) && (best == nil || e.seq > best.seq) {
			best = e
		}
	}
	if len(c.ClientID) > 0 {
		for _, e := range t.byClientID[string(c.ClientID)] {
			consider(e)
		}
		if best != nil {
			return best.lease.Clone(), true
		}
	}
	if len(c.HWAddr) > 0 {
		for _, e := range t.byHW[hwKey(c.HWType, c.HWAddr)] {
			consider(e)
		}
	}
	if best == nil {
		return Lease{}, false
	}
	return best.lease.Clone(), true
}

// All returns every lease, sorted by address.
func (t *Table) All() []Lease {
	out := make([]Lease, 0, len(t.byAddr))
	for _, e := range t.byAddr {
		out = append(out, e.lease.Clone())
	}
	slices.SortFunc(out, func(a, b Lease) int { return a.Addr.Compare(b.Addr) })
	return out
}

// Expired returns the leases that are over at now, sorted by address; the
// caller deletes and journals them.
func (t *Table) Expired(now time.Time) []Lease {
	var out []Lease
	for _, e := range t.byAddr {
		if e.lease.Expired(now) {
			out = append(out, e.lease.Clone())
		}
	}
	slices.SortFunc(out, func(a, b Lease) int { return a.Addr.Compare(b.Addr) })
	return out
}

// NextExpiry is the earliest expiry among finite leases, 0 for none: when
// to look again.
func (t *Table) NextExpiry() int64 {
	var next int64
	for _, e := range t.byAddr {
		if x := e.lease.Expires; x != 0 && (next == 0 || x < next) {
			next = x
		}
	}
	return next
}

// maxAddrIn is the highest leased address in [start, end], or start when
// there is none above it: dnsmasq's seed for dhcp-sequential-ip
// (lease_find_max_addr).
func (t *Table) maxAddrIn(start, end netip.Addr) netip.Addr {
	best := start
	for a := range t.byAddr {
		if start.Less(a) && !end.Less(a) && best.Less(a) {
			best = a
		}
	}
	return best
}
