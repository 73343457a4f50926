package leases

import (
	"errors"
	"net/netip"
	"time"
)

// Pool is one IPv4 dhcp-range of the client's network.
type Pool struct {
	Start, End netip.Addr
	// Netmask is the network's (the range's own, or the interface's):
	// dhcp-host addresses anywhere in the network may be given out.
	Netmask netip.Addr
	Tags    []string // tag: filters
	Static  bool     // hands out dhcp-host addresses only
	// epoch moves the hash choice along after an address was found in
	// use (dnsmasq's addr_epoch), so the next client is less likely to
	// land on it; in sequential mode it counts addresses to skip.
	epoch uint32
}

// Conflict records that an address of the pool was found in use (it
// answered a ping, or a client declined it): later choices move on.
func (p *Pool) Conflict() { p.epoch++ }

func (p *Pool) contains(a netip.Addr) bool { return !a.Less(p.Start) && !p.End.Less(a) }

// inNetwork reports whether a is in the pool's network.
func (p *Pool) inNetwork(a netip.Addr) bool {
	if !p.Netmask.IsValid() {
		return p.contains(a)
	}
	x, y, m := a.As4(), p.Start.As4(), p.Netmask.As4()
	for i := range m {
		if x[i]&m[i] != y[i]&m[i] {
			return false
		}
	}
	return true
}

// Source says where a chosen address came from.
type Source uint8

const (
	FromHost    Source = iota + 1 // the client's dhcp-host address
	FromLease                     // the client's current lease
	FromRequest                   // the address the client asked for (option 50)
	FromPool                      // a new address from a range
)

var sourceNames = [...]string{"", "dhcp-host", "lease", "requested", "pool"}

func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "Source(?)"
}

// Choice is the address to offer a client.
type Choice struct {
	Addr   netip.Addr
	Source Source
	// Ping: dnsmasq makes sure the address is not in use (ICMP echo)
	// before offering it; it skips that for the client's own lease. The
	// caller does not ping with no-ping.
	Ping bool
	// Pool is the range a FromPool address came from: if the ping finds
	// it in use, the caller calls Pool.Conflict, marks it busy and
	// chooses again.
	Pool *Pool
	// Replaces is the lease that another hardware address of the same
	// dhcp-host holds at Addr: the host moved to another interface. The
	// caller deletes it when it acknowledges the new lease.
	Replaces *Lease
	// Hash is the client's hash (what Busy receives).
	Hash uint32
}

// Errors of Choose, with dnsmasq's log texts.
var (
	ErrNoAddress  = errors.New("no address available")
	ErrNoUniqueID = errors.New("no unique-id")
)

// Allocator chooses addresses as dnsmasq 2.90 does for a DISCOVER. Fill
// it per request (or keep it per network and update Now); it reads
// Leases and Hosts and changes only the pools' epochs (and the table's
// search caches: see occupancy.go). It is not safe for concurrent use.
type Allocator struct {
	Pools  []*Pool // the ranges of the client's network, in configuration order
	Leases *Table
	Hosts  []Host // every dhcp-host: their addresses are kept for them
	// Server holds the addresses of the server (or relay) on the network,
	// never handed out.
	Server []netip.Addr
	// Sequential (dhcp-sequential-ip): the lowest free address after the
	// highest leased one, instead of a hash of the client's MAC.
	Sequential bool
	// Busy reports an address that must not be offered now: declined
	// lately, answering pings, or offered to another client (hash is the
	// asking client's, so its own pending offer can be told apart). nil
	// means none.
	Busy func(addr netip.Addr, hash uint32) bool
	Now  time.Time

	reserved map[netip.Addr]*Host
}

// reservedBy returns the dhcp-host that keeps addr (dnsmasq's
// config_find_by_address), building the index on first use.
func (a *Allocator) reservedBy(addr netip.Addr) *Host {
	if a.reserved == nil {
		a.reserved = make(map[netip.Addr]*Host, len(a.Hosts))
		for i := range a.Hosts {
			if h := &a.Hosts[i]; h.Addr.IsValid() {
				a.reserved[h.Addr] = h
			}
		}
	}
	return a.reserved[addr]
}

func (a *Allocator) isServer(addr netip.Addr) bool {
	for _, s := range a.Server {
		if s == addr {
			return true
		}
	}
	return false
}

func (a *Allocator) busy(addr netip.Addr, hash uint32) bool {
	return a.Busy != nil && a.Busy(addr, hash)
}

// leaseAt returns the live lease at addr.
func (a *Allocator) leaseAt(addr netip.Addr) (*Lease, bool) {
	if a.Leases == nil {
		return nil, false
	}
	e, ok := a.Leases.byAddr[addr]
	if !ok || e.lease.Expired(a.Now) {
		return nil, false
	}
	return &e.lease, true
}

// available is dnsmasq's address_available: addr is in a dynamic range
// whose tag filter allows the client, and not the server's.
func (a *Allocator) available(addr netip.Addr, tags TagSet) bool {
	if a.isServer(addr) {
		return false
	}
	for _, p := range a.Pools {
		if !p.Static && p.contains(addr) && MatchTags(p.Tags, tags, true) {
			return true
		}
	}
	return false
}

func (a *Allocator) inNetwork(addr netip.Addr) bool {
	for _, p := range a.Pools {
		if p.inNetwork(addr) {
			return true
		}
	}
	return false
}

// Choose picks the address to offer client c, in dnsmasq's order:
//
//  1. its dhcp-host's address (host, from FindHost; may be nil), unless
//     another client leases it (a lease of another MAC of the same
//     dhcp-host is taken over: see Choice.Replaces), it is the server's,
//     or it is busy;
//  2. its current lease, if the address is still in a range open to it
//     and not kept for a dhcp-host;
//  3. the address it asked for (requested, invalid for none), on the
//     same conditions and not leased to anyone;
//  4. a free address from a range: first the ranges whose tag filter
//     matches, then also the untagged ones. The search starts at a hash of
//     the client's MAC (Client.HashKey), so a client tends to get the same
//     address again, or (Sequential) after the highest leased address; it
//     skips leased, kept, busy and server addresses and, in the old class
//     C space, addresses ending in .0 or .255 (Windows mishandles them).
func (a *Allocator) Choose(c Client, host *Host, requested netip.Addr, tags TagSet) (Choice, error) {
	hash := uint32(0)
	if key := c.HashKey(); len(key) > 0 {
		hash = Hash(key)
	}
	if host != nil && host.Addr.IsValid() && a.inNetwork(host.Addr) {
		if ch, ok := a.hostChoice(c, host, hash); ok {
			return ch, nil
		}
	}
	if l, ok := a.Leases.ByClient(c); ok && !l.Expired(a.Now) && a.available(l.Addr, tags) && a.reservedBy(l.Addr) == nil {
		return Choice{Addr: l.Addr, Source: FromLease, Hash: hash}, nil
	}
	if requested.Is4() && a.available(requested, tags) && a.reservedBy(requested) == nil && !a.busy(requested, hash) {
		if _, leased := a.leaseAt(requested); !leased {
			return Choice{Addr: requested, Source: FromRequest, Ping: true, Hash: hash}, nil
		}
	}
	if hash == 0 {
		return Choice{}, ErrNoUniqueID
	}
	for pass := 0; pass < 2; pass++ {
		for _, p := range a.Pools {
			if p.Static || !MatchTags(p.Tags, tags, pass == 1) {
				continue
			}
			if addr, ok := a.fromPool(p, hash); ok {
				return Choice{Addr: addr, Source: FromPool, Ping: true, Pool: p, Hash: hash}, nil
			}
		}
	}
	return Choice{}, ErrNoAddress
}

// hostChoice decides whether the dhcp-host's address can be offered.
func (a *Allocator) hostChoice(c Client, host *Host, hash uint32) (Choice, bool) {
	addr := host.Addr
	ch := Choice{Addr: addr, Source: FromHost, Ping: true, Hash: hash}
	if l, ok := a.leaseAt(addr); ok {
		switch {
		case c.Owns(*l):
			ch.Ping = false
		case host.HasMAC(l.HWType, l.HWAddr):
			old := l.Clone()
			ch.Replaces = &old
		default:
			return Choice{}, false // leased to another client
		}
	}
	if a.isServer(addr) || a.busy(addr, hash) {
		return Choice{}, false
	}
	return ch, true
}

// fromPool walks the pool from its seed for a free address.
func (a *Allocator) fromPool(p *Pool, hash uint32) (netip.Addr, bool) {
	start, end := be32(p.Start), be32(p.End)
	size := uint64(end) - uint64(start) + 1
	var seed uint32
	if a.Sequential {
		seed = be32(a.Leases.maxAddrIn(p.Start, p.End))
	} else {
		seed = start + uint32((uint64(hash)+uint64(p.epoch))%size)
	}
	if a.Leases == nil || a.Leases.anyExpired(a.Now) {
		// An expired lease still in the table is free: the bitmap
		// cannot tell. The engine prunes first, so this is rare.
		return a.walkPool(p, seed, hash)
	}
	occ := a.Leases.occupancyOf(start, end)
	if occ == nil {
		return a.walkPool(p, seed, hash)
	}
	// The same walk as walkPool's, in two straight runs (seed to end,
	// then start to seed) that skip leased addresses a word at a time.
	from := uint64(seed - start)
	for _, run := range [2][2]uint64{{from, size}, {0, from}} {
		for off := occ.nextClear(run[0], run[1]); off < run[1]; off = occ.nextClear(off+1, run[1]) {
			if ip, ok := a.take(p, fromBE32(start+uint32(off)), hash); ok {
				return ip, true
			}
		}
	}
	return netip.Addr{}, false
}

// walkPool is fromPool's search address by address: dnsmasq's
// address_allocate loop.
func (a *Allocator) walkPool(p *Pool, seed, hash uint32) (netip.Addr, bool) {
	start, end := be32(p.Start), be32(p.End)
	size := uint64(end) - uint64(start) + 1
	addr := seed
	for i := uint64(0); i < size; i++ {
		if ip, ok := a.take(p, fromBE32(addr), hash); ok {
			return ip, true
		}
		if addr == end {
			addr = start
		} else {
			addr++
		}
	}
	return netip.Addr{}, false
}

// take reports whether the walk stops at ip.
func (a *Allocator) take(p *Pool, ip netip.Addr, hash uint32) (netip.Addr, bool) {
	if !a.free(ip, hash) {
		return netip.Addr{}, false
	}
	if !a.Sequential || p.epoch == 0 {
		return ip, true
	}
	// dhcp-sequential-ip: skip as many free addresses as clients have
	// turned down, so a client that declined one is not offered it again.
	p.epoch--
	return netip.Addr{}, false
}

// free reports whether a pool address may be offered.
func (a *Allocator) free(ip netip.Addr, hash uint32) bool {
	if a.isServer(ip) || a.reservedBy(ip) != nil {
		return false
	}
	if _, leased := a.leaseAt(ip); leased {
		return false
	}
	if b := ip.As4(); b[0]&0xe0 == 0xc0 && (b[3] == 0 || b[3] == 255) {
		return false
	}
	return !a.busy(ip, hash)
}

func be32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromBE32(n uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}
