package dhcpserver

import (
	"errors"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/leases"
)

// ackArgs is the state of a REQUEST (or rapid-commit DISCOVER) on its way
// to an ACK or a NAK.
type ackArgs struct {
	rapid       bool       // DHCPDISCOVER with rapid commit: no NAK, an ACK with option 80
	selecting   bool       // the client names a server (SELECTING)
	message     string     // why it will be NAKed, if it already is
	unicastDest bool       // the request was unicast to us
	fuzz        uint16     // jitter for T1 and T2 of a renewal
	override    netip.Addr // the server identifier to use
}

// request handles a DHCPREQUEST in each of its states (RFC 2131 section
// 4.3.2), as dnsmasq does:
//
//   - SELECTING (option 50 and a server identifier): a REQUEST for another
//     server is ignored (NAKed with dhcp-authoritative);
//   - INIT-REBOOT (option 50, no server identifier): with no lease the
//     request is ignored unless authoritative; a lease at another address
//     is a NAK;
//   - RENEWING/REBINDING (ciaddr): a lease that is not the client's, or
//     none (unless authoritative), is a NAK if the request was unicast to
//     us and ignored if broadcast (another server's client rebinding).
func (e *Engine) request(r *request) {
	if r.ignore || (r.host != nil && r.host.Ignore) {
		return
	}
	a := ackArgs{unicastDest: r.unicastDest, override: r.override}
	ctxs := e.ctxs
	var yiaddr netip.Addr
	auth := e.c.flags.Authoritative
	if r.hasRequested {
		yiaddr = r.requested
		if r.hasServerID {
			a.selecting = true
			if a.override.IsValid() {
				if r.serverID != a.override {
					return
				}
			} else if i := ctxIndexByLocal(ctxs, r.serverID); i >= 0 {
				ctxs = ctxs[i:]
			} else if ifaceHas(r.in.Interface, r.serverID) {
				a.override = r.serverID
			} else {
				if !auth {
					return
				}
				a.message = "wrong server-ID"
			}
		} else if !r.hasLease && !auth {
			return
		} else if r.hasLease && r.lease.Addr != yiaddr {
			a.message = "wrong address"
		}
	} else {
		if (r.hasLease && r.ciaddr != r.lease.Addr) || (!r.hasLease && !auth) {
			if !a.unicastDest {
				return
			}
			a.message = "lease not found"
			a.unicastDest = false
		}
		a.fuzz = uint16(e.rng.Uint32())
		yiaddr = r.ciaddr
	}
	e.logPacket("DHCPREQUEST", r, yiaddr, "", "")
	e.ack(r, yiaddr, ctxs, nil, a)
}

func ctxIndexByLocal(ctxs []netCtx, a netip.Addr) int {
	for i := range ctxs {
		if ctxs[i].local == a {
			return i
		}
	}
	return -1
}

func ifaceHas(iface *Interface, a netip.Addr) bool {
	for _, p := range iface.Addrs {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// nakReasons maps the allocator's refusals to dnsmasq's log texts.
var nakReasons = []error{leases.ErrWrongNetwork, leases.ErrNotAvailable, leases.ErrStaticAvailable, leases.ErrReserved, leases.ErrInUse}

// ack grants yiaddr to the client or refuses it. A grant writes the lease
// into the engine's table at once (so that no other client gets the
// address) and returns a held Commit: the ACK leaves only when the master
// has the lease on disk (Committed).
func (e *Engine) ack(r *request, yiaddr netip.Addr, ctxs []netCtx, ctx *netCtx, a ackArgs) {
	var grant leases.Grant
	if a.message == "" {
		ctx = narrow(ctxs, yiaddr, e.tags.tagif)
		host := r.host
		if host != nil && host.Addr.IsValid() && host.Addr != yiaddr &&
			(a.selecting || isRouter(ctxs, host.Addr) || e.declined(host.Addr)) {
			// dnsmasq checks "static lease available" only when that
			// cannot loop: not for a client that chose our offer, and
			// not while the host's address is unusable.
			h := *host
			h.Addr = netip.Addr{}
			host = &h
		}
		alloc := e.prepareAllocator(ctxs)
		g, err := alloc.Check(r.client, host, yiaddr, e.tags.tagif)
		switch {
		case err != nil:
			a.message = err.Error()
			for _, known := range nakReasons {
				if errors.Is(err, known) {
					a.message = known.Error()
				}
			}
			if errors.Is(err, leases.ErrWrongNetwork) {
				a.unicastDest = false
			}
		case len(r.emac) == 0:
			a.message = "no unique-id"
		case !r.ownsAt(yiaddr) && g.Replaces == nil && g.Drop == nil && e.store.t.Len() >= e.c.flags.LeaseMax:
			a.message = "no leases left"
		}
		grant = g
	}
	if a.message != "" {
		if a.rapid {
			e.logPacket("NOANSWER", r, yiaddr, "", a.message)
			return
		}
		e.nak(r, ctxs, ctx, a)
		return
	}
	e.runTagIf(&e.tags, ctx.r.cfg.SetTag)
	e.grant(r, yiaddr, ctx, grant, a)
}

// ownsAt reports whether the client's current lease is at addr.
func (r *request) ownsAt(addr netip.Addr) bool { return r.hasLease && r.lease.Addr == addr }

func isRouter(ctxs []netCtx, a netip.Addr) bool {
	for i := range ctxs {
		if ctxs[i].router == a {
			return true
		}
	}
	return false
}

// declined reports whether a client declined addr lately.
func (e *Engine) declined(addr netip.Addr) bool {
	until, ok := e.busy[addr]
	return ok && until > e.now.Unix()
}

// nak refuses a request. It is broadcast (RFC 2131 section 4.1), with one
// exception kept from dnsmasq: a client on another subnet that unicast
// its request to us gets the NAK at its address, since a broadcast would
// not reach it.
func (e *Engine) nak(r *request, ctxs []netCtx, ctx *netCtx, a ackArgs) {
	e.logPacket("DHCPNAK", r, r.requestedOrCiaddr(), "", a.message)
	if ctx == nil && len(ctxs) > 0 {
		ctx = &ctxs[0]
	}
	sid := r.serverIDFor(ctx, a.override)
	p := e.startReply(r)
	p.setAddr(offCiaddr, r.ciaddr)
	p.putUint(optMessageType, 1, uint32(dhcpv4.MessageTypeNak))
	p.putAddr(optServerID, sid)
	p.putString(optMessage, a.message, r.borken)
	if !a.unicastDest || r.giaddr.IsValid() || !r.ciaddr.IsValid() ||
		(ctx != nil && sameNet(ctx.local, r.ciaddr, ctx.netmask)) {
		p.setBroadcast()
		p.setAddr(offCiaddr, netip.Addr{})
	}
	e.emit(r, p, dhcpv4.MessageTypeNak, false, sid)
}

func (r *request) requestedOrCiaddr() netip.Addr {
	if r.hasRequested {
		return r.requested
	}
	return r.ciaddr
}
