package dhcpserver

import (
	"bytes"
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/leases"
)

// decline handles a DHCPDECLINE: the client found the address (option
// 50) in use. Its lease there goes, and the address is not offered for
// declineBackoff (dnsmasq does that for dhcp-host addresses and, for
// others, only moves the hash choice along, which moat does too).
func (e *Engine) decline(r *request) {
	if !r.hasServerID || r.serverID != r.serverIDFor(&e.ctxs[0], r.override) || !r.hasRequested {
		return
	}
	addr := r.requested
	e.logPacket("DHCPDECLINE", r, addr, "", sanitise(r.p.Options[optMessage]))
	if r.hasLease && r.lease.Addr == addr {
		e.store.delete(addr)
		e.commitNow([]leases.Record{leases.DeleteRecord(addr)})
	}
	if r.host != nil && r.host.Addr == addr {
		e.log("disabling DHCP static address %s for %v", addr, declineBackoff)
	} else {
		for i := range e.ctxs {
			e.ctxs[i].r.pool.Conflict()
		}
	}
	e.busy[addr] = e.now.Add(declineBackoff).Unix()
	delete(e.held, addr)
}

// sanitise keeps the printable characters of a client's message.
func sanitise(b []byte) string {
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c >= 0x7f {
			return -1
		}
		return c
	}, string(b))
}

// release handles a DHCPRELEASE of ciaddr addressed to us.
func (e *Engine) release(r *request) {
	ctx := narrow(e.ctxs, r.ciaddr, e.tags.tagif)
	if ctx == nil || !r.hasServerID || r.serverID != r.serverIDFor(ctx, r.override) {
		return
	}
	if r.hasLease && r.lease.Addr == r.ciaddr {
		e.store.delete(r.ciaddr)
		e.commitNow([]leases.Record{leases.DeleteRecord(r.ciaddr)})
		e.logPacket("DHCPRELEASE", r, r.ciaddr, "", "")
		return
	}
	e.logPacket("DHCPRELEASE", r, r.ciaddr, "", "unknown lease")
}

// inform answers a DHCPINFORM: configuration for a client that has its
// address (ciaddr) already, with no lease.
func (e *Engine) inform(r *request) {
	if r.ignore || (r.host != nil && r.host.Ignore) {
		e.logPacket("DHCPINFORM", r, r.ciaddr, "", "ignored")
		return
	}
	if !r.ciaddr.IsValid() {
		return
	}
	ctx := narrow(e.ctxs, r.ciaddr, e.tags.tagif)
	lease, hasLease := r.lease, r.hasLease
	hostname := r.hostname
	if !hasLease {
		if l, ok := e.store.t.ByAddr(r.ciaddr); ok && !l.Expired(e.now) {
			lease, hasLease = l, true
			if l.Hostname != "" {
				hostname = l.Hostname
			}
		}
	}
	if ctx != nil {
		e.runTagIf(&e.tags, ctx.r.cfg.SetTag)
	}
	e.logPacket("DHCPINFORM", r, r.ciaddr, "", "")
	e.logPacket("DHCPACK", r, r.ciaddr, hostname, "")
	sid := r.serverIDFor(ctx, r.override)
	p := e.startReply(r)
	p.setAddr(offCiaddr, r.ciaddr)
	// yiaddr stays 0 (RFC 2131 table 3); dnsmasq echoes the request's.
	p.putUint(optMessageType, 1, uint32(dhcpv4.MessageTypeAck))
	p.putAddr(optServerID, sid)
	// RFC 2131 says no lease time in an INFORM's ACK; dnsmasq sends the
	// time left when it is asked for (its dhcp_lease_time utility).
	if hasLease && r.inPRL(optLeaseTime) {
		left := uint32(infinite)
		if !lease.Infinite() {
			left = uint32(max(lease.Expires-e.now.Unix(), 0))
		}
		p.putUint(optLeaseTime, 4, left)
	}
	e.doOptions(r, p, ctx, hostname, e.domain(r.ciaddr), infinite, 0)
	e.emit(r, p, dhcpv4.MessageTypeAck, true, sid)
}

// bootp answers a BOOTP request (no DHCP message type). As in dnsmasq
// without bootp-dynamic, only a client with a dhcp-host address gets one;
// its lease is infinite unless the dhcp-host gives a time, and like an
// ACK the reply waits for the lease's commit.
func (e *Engine) bootp(r *request) {
	if r.htype == 0 || len(r.chaddr) == 0 {
		return
	}
	var message string
	if r.host != nil && r.host.Ignore {
		message = "disabled"
	}
	if r.host != nil {
		for _, t := range e.c.hostInfo[r.hostIdx].setTags {
			e.tags.add(t)
		}
		if hi := e.c.hostInfo[r.hostIdx]; hi.name != "" {
			r.hostname, r.hostnameAuth = hi.name, true
		}
	}
	if f := r.p.BootFileName; f != "" {
		e.tags.add(f)
	}
	e.tags.add(tagBOOTP)
	e.runTagIf(&e.tags, "")
	if matchAll(e.c.ignore, e.tags.tagif) {
		message = "ignored"
	}
	var addr netip.Addr
	if message == "" {
		if r.host == nil || !r.host.Addr.IsValid() {
			message = "no address configured"
		} else {
			addr = r.host.Addr
			if l, ok := e.store.t.ByAddr(addr); ok && !l.Expired(e.now) && (l.HWType != r.htype || !bytes.Equal(l.HWAddr, r.chaddr)) {
				message = "address in use"
			}
		}
	}
	var ctx *netCtx
	if message == "" {
		if ctx = narrow(e.ctxs, addr, e.tags.base); ctx == nil {
			message = "wrong network"
		}
	}
	if message == "" {
		if _, ok := e.store.t.ByAddr(addr); !ok && e.store.t.Len() >= e.c.flags.LeaseMax {
			message = "no leases left"
		}
	}
	if message != "" {
		e.logPacket("BOOTP", r, addr, "", message)
		return
	}
	e.runTagIf(&e.tags, ctx.r.cfg.SetTag)
	lt := uint32(infinite)
	if hi := e.c.hostInfo[r.hostIdx]; hi.lease != 0 {
		lt = hi.lease
	}
	l := leases.Lease{Addr: addr, HWType: r.htype, HWAddr: r.chaddr, Expires: leases.ExpiresAt(e.now, lt)}
	var stolen []leases.Lease
	l.Hostname, stolen = e.claimName(r.hostname, true, l)
	recs := make([]leases.Record, 0, 1+len(stolen))
	var undos []undo
	for _, o := range stolen {
		recs = append(recs, leases.PutRecord(o))
		undos = append(undos, e.undoFor(o.Addr, o, true))
		e.store.put(o)
	}
	l = l.Clone()
	recs = append(recs, leases.PutRecord(l))
	undos = append(undos, e.undoFor(addr, l, true))
	e.store.put(l)
	e.logPacket("BOOTP", r, addr, l.Hostname, "")
	p := e.startReply(r)
	p.end = minPacketSize // the BOOTP vendor area is 64 bytes
	p.agentID = nil
	p.setAddr(offCiaddr, r.ciaddr)
	p.setAddr(offYiaddr, addr)
	e.doOptions(r, p, ctx, l.Hostname, e.domain(addr), infinite, 0)
	e.hold(e.reply(r, p, 0, false, ctx.local), recs, undos, nil) // BOOTP: dnsmasq keeps no transaction
}
