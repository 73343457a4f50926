package dhcpserver

import (
	"bytes"
	"errors"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/leases"
)

// discover answers a DHCPDISCOVER with an OFFER (or, with rapid commit,
// an ACK), choosing the address as dnsmasq does (leases.Allocator.Choose).
// An address that was not the client's before is pinged first unless
// no-ping is set: the request is parked and a Probe goes out.
func (e *Engine) discover(r *request, round int) {
	if r.ignore || (r.host != nil && r.host.Ignore) {
		if !e.c.flags.Quiet {
			e.logPacket("DHCPDISCOVER", r, netip.Addr{}, "", "ignored")
		}
		return
	}
	if len(e.probeByClient) > 0 && round == 0 {
		if id, ok := e.probeByClient[clientKey(r)]; ok {
			// A retransmission while its probe runs: answer the latest one.
			e.probes[id].in = parkCopy(r.in)
			return
		}
	}
	a := e.prepareAllocator(e.ctxs)
	ch, err := a.Choose(r.client, r.host, r.requested, e.tags.tagif)
	if err != nil {
		msg := "no address available"
		if errors.Is(err, leases.ErrNoUniqueID) {
			msg = "no unique-id"
		}
		e.logPacket("DHCPDISCOVER", r, netip.Addr{}, "", msg)
		return
	}
	if round == 0 {
		// Once per DISCOVER, as dnsmasq logs it, not again after each probe.
		e.logPacket("DHCPDISCOVER", r, r.requested, "", "")
	}
	ctx := narrow(e.ctxs, ch.Addr, e.tags.tagif)
	if ctx == nil {
		return
	}
	wantProbe := ch.Ping && !e.c.flags.NoPing && !e.probedFree(ch.Addr)
	if wantProbe && len(e.probes) >= e.maxProbes && !e.overloaded {
		// Said once per overload, not per offer.
		e.overloaded = true
		e.log("%d ping checks in flight: offering addresses unchecked until fewer are", e.maxProbes)
	}
	if wantProbe && len(e.probes) < e.maxProbes {
		if len(e.probes) < e.maxProbes/2 {
			e.overloaded = false // well below: a new overload is news
		}
		if round >= maxProbeRounds {
			return
		}
		e.nextID++
		key := clientKey(r)
		p := &pendingProbe{in: parkCopy(r.in), key: key, addr: ch.Addr, hash: ch.Hash, pool: ch.Pool, rounds: round, started: e.now.Unix()}
		e.probes[e.nextID] = p
		e.probeByClient[key] = e.nextID
		// Kept for this client while its probe runs: another client's
		// DISCOVER meanwhile must choose another address, not probe
		// this one again (and, finding it free, take it away).
		e.held[ch.Addr] = hold{hash: ch.Hash, until: e.now.Add(offerHold).Unix()}
		e.acts = append(e.acts, Action{Kind: Probe, ID: e.nextID, Addr: ch.Addr, IfIndex: r.in.Interface.Index})
		return
	}
	e.runTagIf(&e.tags, ctx.r.cfg.SetTag)
	if e.c.flags.RapidCommit {
		if _, ok := r.opt(optRapidCommit, 0); ok {
			e.ack(r, ch.Addr, e.ctxs, ctx, ackArgs{rapid: true})
			return
		}
	}
	h := e.held[ch.Addr]
	e.held[ch.Addr] = hold{hash: ch.Hash, until: e.now.Add(offerHold).Unix(), probed: h.probed && h.hash == ch.Hash}
	lt := e.leaseTime(ctx, r)
	e.logPacket("DHCPOFFER", r, ch.Addr, "", "")
	p := e.startReply(r)
	p.setAddr(offCiaddr, netip.Addr{})
	p.setAddr(offYiaddr, ch.Addr)
	p.putUint(optMessageType, 1, uint32(dhcpv4.MessageTypeOffer))
	p.putAddr(optServerID, r.serverIDFor(ctx, r.override))
	p.putUint(optLeaseTime, 4, lt)
	e.doOptions(r, p, ctx, r.offerName, e.domain(ch.Addr), lt, 0)
	e.emit(r, p, dhcpv4.MessageTypeOffer, false, r.serverIDFor(ctx, r.override))
}

// probedFree reports whether a probe found addr free lately.
func (e *Engine) probedFree(addr netip.Addr) bool {
	h, ok := e.held[addr]
	return ok && h.probed && h.until > e.now.Unix()
}

// clientKey identifies a client across retransmissions.
func clientKey(r *request) string {
	if r.clid != nil {
		return "i" + string(r.clid)
	}
	return "h" + string([]byte{r.htype}) + string(r.chaddr)
}

// ProbeResult reports the ping of Probe id: inUse when the address
// answered. The parked DISCOVER is answered now (an address found in use
// is avoided and another one chosen, perhaps with another probe). An
// unknown id (answered already, or forgotten by Tick) does nothing.
func (e *Engine) ProbeResult(id uint64, inUse bool, now time.Time) (out []Outbound, actions []Action) {
	e.begin(now)
	p, ok := e.probes[id]
	if !ok {
		return e.out, e.acts
	}
	delete(e.probes, id)
	if e.probeByClient[p.key] == id {
		delete(e.probeByClient, p.key)
	}
	if inUse {
		e.busy[p.addr] = now.Add(inUseBackoff).Unix()
		delete(e.held, p.addr)
		if p.pool != nil {
			p.pool.Conflict()
		}
		e.log("address %s is in use (it answered a ping): not offered for %v", p.addr, inUseBackoff)
	} else {
		// Free: keep it for the client that asked, without pinging again.
		e.held[p.addr] = hold{hash: p.hash, until: now.Add(offerHold).Unix(), probed: true}
	}
	e.handle(&p.in, p.rounds+1)
	return e.out, e.acts
}

// leaseTime is dnsmasq's calc_time: the dhcp-host's lease time, else the
// range's; a shorter one the client asks for (option 51, at least two
// minutes), unless the lease is infinite and the client asks for that.
func (e *Engine) leaseTime(ctx *netCtx, r *request) uint32 {
	t := ctx.r.lease
	if r.host != nil && e.c.hostInfo[r.hostIdx].lease != 0 {
		t = e.c.hostInfo[r.hostIdx].lease
	}
	if b, ok := r.opt(optLeaseTime, 4); ok {
		req := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		req = max(req, 120)
		if t == infinite || (req != infinite && req < t) {
			t = req
		}
	}
	return t
}

const infinite = 0xffffffff

// parkCopy copies a request that waits for its probe: dhcpv4.FromBytes
// leaves option data in the caller's receive buffer, which the worker
// reuses.
func parkCopy(in Inbound) Inbound {
	p := *in.Packet
	p.ClientHWAddr = bytes.Clone(p.ClientHWAddr)
	p.ClientIPAddr = bytes.Clone(p.ClientIPAddr)
	p.YourIPAddr = bytes.Clone(p.YourIPAddr)
	p.ServerIPAddr = bytes.Clone(p.ServerIPAddr)
	p.GatewayIPAddr = bytes.Clone(p.GatewayIPAddr)
	p.Options = make(dhcpv4.Options, len(in.Packet.Options))
	for k, v := range in.Packet.Options {
		p.Options[k] = bytes.Clone(v)
	}
	in.Packet = &p
	return in
}
