package masterd

import (
	"context"
	"net/netip"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// With wildcard sockets (neither bind-interfaces nor bind-dynamic),
// dnsmasq decides at every query whether its arrival interface is one
// that interface= names and except-interface does not, by name: an
// interface created after it started (a libvirt or Incus bridge) is
// answered on as soon as it exists. dnsd knows interfaces by index only
// and cannot read them (no netlink), so the master follows them: on
// every rtnetlink link or address event it plans again and, when the
// lists of allowed and excluded interfaces (and their addresses) have
// changed, gives dnsd its DNSConfig with the new lists.

// allowFollower holds the current lists of a wildcard plan.
type allowFollower struct {
	mu          sync.Mutex
	allowed     []netip.Addr
	allowedIfs  []uint32
	excludedIfs []uint32
	missing     []string
	// named: interface= or listen-address names what to serve (else
	// every interface is, but the excluded ones).
	named bool
}

func newAllowFollower(p listenPlan, named bool) *allowFollower {
	return &allowFollower{allowed: p.allowed, allowedIfs: p.allowedIfs, excludedIfs: p.excludedIfs, missing: p.missing, named: named}
}

// noInterface is an interface index no interface has (indexes are
// positive int32s): an allow-list holding only it answers nothing, where
// an empty one would answer everything.
const noInterface = ^uint32(0)

// allowLists are the lists dnsd is to check wildcard arrivals against:
// the follower's current ones, else the plan's. When interface= or
// listen-address names something but nothing matches now (every named
// interface is missing or excluded), the allowed interfaces are
// noInterface alone, so that dnsd answers no one rather than everyone.
func (p listenPlan) allowLists() (allowed []netip.Addr, allowedIfs, excludedIfs []uint32) {
	f := p.follow
	if f == nil {
		return p.allowed, p.allowedIfs, p.excludedIfs
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	allowed, allowedIfs, excludedIfs = f.allowed, f.allowedIfs, f.excludedIfs
	if f.named && len(allowed) == 0 && len(allowedIfs) == 0 {
		allowedIfs = []uint32{noInterface}
	}
	return allowed, allowedIfs, excludedIfs
}

// update stores the lists of p; it reports whether they changed, the
// interface= names that existed not before and do now, and those that
// existed and do no more (deleted: answered again once re-created).
func (f *allowFollower) update(p listenPlan) (changed bool, appeared, gone []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, name := range f.missing {
		if !slices.Contains(p.missing, name) {
			appeared = append(appeared, name)
		}
	}
	for _, name := range p.missing {
		if !slices.Contains(f.missing, name) {
			gone = append(gone, name)
		}
	}
	changed = !slices.Equal(f.allowed, p.allowed) || !slices.Equal(f.allowedIfs, p.allowedIfs) || !slices.Equal(f.excludedIfs, p.excludedIfs)
	f.allowed, f.allowedIfs, f.excludedIfs, f.missing = p.allowed, p.allowedIfs, p.excludedIfs, p.missing
	return changed, appeared, gone
}

// setAllowLists writes the lists into a DNSConfig, as dnsData.load does.
func setAllowLists(dc *ipcpb.DNSConfig, allowed []netip.Addr, allowedIfs, excludedIfs []uint32) {
	dc.AllowedIfindexes, dc.ExcludedIfindexes = allowedIfs, excludedIfs
	dc.AllowedAddresses = dc.AllowedAddresses[:0]
	for _, a := range allowed {
		dc.AllowedAddresses = append(dc.AllowedAddresses, a.WithZone("").String())
	}
}

// followInterfaces warns of the interface= names missing at start, as
// dnsmasq does, then follows the interfaces until ctx ends (rtnetlink
// events, else a look every pollInterval). Without a follower (bound
// sockets, or nothing named) it returns at once.
func (m *master) followInterfaces(ctx context.Context) {
	f := m.plan.follow
	if f == nil {
		return
	}
	f.mu.Lock()
	missing := slices.Clone(f.missing)
	f.mu.Unlock()
	for _, name := range missing {
		m.log.printf("master", "warning: interface %s does not currently exist", name)
	}
	events, err := subscribeAddrEvents() // binddynamic.go
	if err != nil {
		m.log.printf("master", "DNS interfaces: %v; checking the interfaces every %v instead", err, pollInterval)
		everyTick(ctx, pollInterval, m.refollow)
		return
	}
	// A change between the start-up plan and the subscription is caught
	// by this first look.
	m.refollow()
	followAddrEvents(ctx, events, m.log, "DNS interfaces", m.refollow) // binddynamic.go
}

// refollow plans again and, when the lists changed, gives dnsd (the
// running one, and through dnsData the next) its DNSConfig with them.
func (m *master) refollow() {
	p, err := planListenersNow(m.cfg)
	if err != nil {
		m.log.printf("master", "DNS interfaces: %v", err)
		return
	}
	changed, appeared, gone := m.plan.follow.update(p)
	for _, name := range appeared {
		m.log.printf("master", "DNS interface %s appeared: answering queries on it", name)
	}
	for _, name := range gone {
		m.log.printf("master", "DNS interface %s is gone: answering on it again if it comes back", name)
	}
	if !changed {
		return
	}
	allowed, allowedIfs, excludedIfs := m.plan.allowLists()
	d := &m.dns
	d.mu.Lock()
	var dc *ipcpb.DNSConfig
	if d.config != nil {
		dc = proto.Clone(d.config).(*ipcpb.DNSConfig)
		setAllowLists(dc, allowed, allowedIfs, excludedIfs)
		d.config = dc
	}
	d.mu.Unlock()
	if dc == nil {
		return
	}
	err = m.withRole("dnsd", func(c *ipc.Conn) error {
		return c.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: dc}})
	})
	if err != nil {
		m.log.printf("master", "DNS interfaces: send to dnsd: %v", err)
	}
}
