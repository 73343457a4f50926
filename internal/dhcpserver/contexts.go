package dhcpserver

import (
	"net/netip"

	"github.com/moatdns/moat/internal/leases"
)

// netCtx is a dhcp-range as it serves one request (dnsmasq's
// dhcp_context after complete_context): its network and the server's
// address there.
type netCtx struct {
	r *rangeInfo
	// local is the server's address on the client's network: the server
	// identifier, siaddr and the 0.0.0.0 of address options.
	local netip.Addr
	// router is the default router offered (option 3) unless configured:
	// the server itself on a direct link, the relay for relayed
	// requests; invalid for none.
	router    netip.Addr
	netmask   netip.Addr
	broadcast netip.Addr
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromU32(n uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func maskOf(bits int) netip.Addr {
	if bits <= 0 {
		return netip.AddrFrom4([4]byte{})
	}
	return fromU32(^uint32(0) << (32 - bits))
}

func sameNet(a, b, mask netip.Addr) bool {
	m := u32(mask)
	return u32(a)&m == u32(b)&m
}

// classfulMask is dnsmasq's guess for a relayed range without a netmask:
// the old class A, B or C mask when both ends are of that class.
func classfulMask(start, end netip.Addr) netip.Addr {
	s, e := start.As4()[0], end.As4()[0]
	switch {
	case s < 128 && e < 128:
		return maskOf(8)
	case s >= 128 && s < 192 && e >= 128 && e < 192:
		return maskOf(16)
	case s >= 192 && s < 224 && e >= 192 && e < 224:
		return maskOf(24)
	}
	return netip.Addr{}
}

func broadcastOf(r *rangeInfo, mask netip.Addr) netip.Addr {
	if r.cfg.Broadcast.IsValid() {
		return r.cfg.Broadcast
	}
	return fromU32(u32(r.cfg.Start) | ^u32(mask))
}

// linkMask is the netmask of range r on the arrival link: its own, or
// that of the interface network holding one of its ends (dnsmasq's
// guess_range_netmask).
func linkMask(r *rangeInfo, iface *Interface) (netip.Addr, netip.Prefix, bool) {
	for _, p := range iface.Addrs {
		if !p.Addr().Is4() {
			continue
		}
		mask := r.cfg.Netmask
		if !mask.IsValid() {
			m := maskOf(p.Bits())
			if !sameNet(p.Addr(), r.cfg.Start, m) && !sameNet(p.Addr(), r.cfg.End, m) {
				continue
			}
			mask = m
		}
		if sameNet(p.Addr(), r.cfg.Start, mask) && sameNet(p.Addr(), r.cfg.End, mask) {
			return mask, p, true
		}
	}
	return netip.Addr{}, netip.Prefix{}, false
}

// fallback is the server's address for requests that are not from the
// link: the interface's first IPv4 address.
func fallback(iface *Interface) netip.Addr {
	for _, p := range iface.Addrs {
		if p.Addr().Is4() {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

// findContexts sets e.ctxs to the ranges that can serve r, as dnsmasq
// does: the ranges of the arrival link; for a relayed request (giaddr)
// or one with a subnet selector, the ranges of that network instead (none
// is none); for a client with an address (ciaddr) off the link's ranges,
// the ranges of its network if there are some.
func (e *Engine) findContexts(r *request) {
	e.ctxs = e.ctxs[:0]
	iface := r.in.Interface
	for _, ri := range e.c.ranges {
		if mask, p, ok := linkMask(ri, iface); ok {
			e.ctxs = append(e.ctxs, netCtx{r: ri, local: p.Addr(), router: p.Addr(), netmask: mask, broadcast: broadcastOf(ri, mask)})
		}
	}
	var addr netip.Addr
	force := false
	switch {
	case r.subnetSel.IsValid():
		addr, force = r.subnetSel, true
	case r.giaddr.IsValid():
		addr, force = r.giaddr, true
	case r.ciaddr.IsValid():
		for _, c := range e.ctxs {
			if sameNet(r.ciaddr, c.r.cfg.Start, c.netmask) && sameNet(r.ciaddr, c.r.cfg.End, c.netmask) {
				return
			}
		}
		addr = r.ciaddr
	default:
		return
	}
	start := len(e.ctxs)
	for _, ri := range e.c.ranges {
		// A range of the arrival link keeps the link's addresses, as in
		// dnsmasq (which fills a range's server and router addresses
		// only where the link did not); others get the interface's
		// address and the relay as router.
		local, router := fallback(iface), r.giaddr
		mask := ri.cfg.Netmask
		if m, p, ok := linkMask(ri, iface); ok {
			mask, local, router = m, p.Addr(), p.Addr()
		} else if !mask.IsValid() {
			mask = classfulMask(ri.cfg.Start, ri.cfg.End)
		}
		if !mask.IsValid() || !sameNet(addr, ri.cfg.Start, mask) || !sameNet(addr, ri.cfg.End, mask) {
			continue
		}
		e.ctxs = append(e.ctxs, netCtx{r: ri, local: local, router: router, netmask: mask, broadcast: broadcastOf(ri, mask)})
	}
	if len(e.ctxs) > start || force {
		e.ctxs = append(e.ctxs[:0], e.ctxs[start:]...)
	} else {
		e.ctxs = e.ctxs[:start]
	}
}

// prepareAllocator points the engine's allocator at contexts ctxs.
func (e *Engine) prepareAllocator(ctxs []netCtx) *leases.Allocator {
	a := &e.alloc
	a.Now = e.now
	a.Pools = a.Pools[:0]
	a.Server = a.Server[:0]
	for i := range ctxs {
		c := &ctxs[i]
		c.r.pool.Netmask = c.netmask
		a.Pools = append(a.Pools, &c.r.pool)
		if c.router.IsValid() {
			a.Server = append(a.Server, c.router)
		}
		if c.local.IsValid() && c.local != c.router {
			a.Server = append(a.Server, c.local)
		}
	}
	return a
}

// available is dnsmasq's address_available: the first dynamic range of
// ctxs that holds addr and whose tag filter allows the client; nil for
// an address of the server or relay.
func available(ctxs []netCtx, addr netip.Addr, tags leases.TagSet) *netCtx {
	for i := range ctxs {
		if ctxs[i].router == addr || ctxs[i].local == addr {
			return nil
		}
	}
	for i := range ctxs {
		c := &ctxs[i]
		if !c.r.cfg.Static && inRange(c.r, addr) && leases.MatchTags(c.r.cfg.Tags, tags, true) {
			return c
		}
	}
	return nil
}

func inRange(r *rangeInfo, a netip.Addr) bool {
	return a.Is4() && !a.Less(r.cfg.Start) && !r.cfg.End.Less(a)
}

// narrow is dnsmasq's narrow_context: the range an address belongs to
// for this client: a dynamic range holding it, else a static range of
// its network, else any range of its network.
func narrow(ctxs []netCtx, addr netip.Addr, tags leases.TagSet) *netCtx {
	if !addr.Is4() {
		return nil
	}
	if c := available(ctxs, addr, tags); c != nil {
		return c
	}
	for pass := 0; pass < 2; pass++ {
		for i := range ctxs {
			c := &ctxs[i]
			if (pass == 1 || c.r.cfg.Static) && leases.MatchTags(c.r.cfg.Tags, tags, true) && sameNet(addr, c.r.cfg.Start, c.netmask) {
				return c
			}
		}
	}
	return nil
}
