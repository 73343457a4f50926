package dhcpserver

import (
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/leases"
)

// grant writes the client's lease and holds the ACK for its commit.
func (e *Engine) grant(r *request, yiaddr netip.Addr, ctx *netCtx, g leases.Grant, a ackArgs) {
	lt := e.leaseTime(ctx, r)
	l := leases.Lease{Addr: yiaddr, HWType: r.htype, HWAddr: r.chaddr, ClientID: r.clid, Expires: leases.ExpiresAt(e.now, lt)}
	if len(r.chaddr) == 0 {
		l.HWType = 0
	}
	name := r.hostname
	if !r.hostnameAuth && matchAny(e.c.ignoreNm, e.tags.tagif) {
		name = ""
	}
	if name == "" && len(r.emac) != 0 && matchAny(e.c.genNames, e.tags.tagif) {
		name = generatedName(r.emac)
	}
	// The ACK names the client as dnsmasq's does, whether or not the
	// lease may have the name; and dnsmasq only ever sets a lease's name,
	// so a lease keeps the one it has.
	replyName := name
	if name == "" && r.ownsAt(yiaddr) {
		name = r.lease.Hostname
	}
	var stolen []leases.Lease
	l.Hostname, stolen = e.claimName(name, r.hostnameAuth, l)

	recs := make([]leases.Record, 0, 2+len(stolen))
	var undos []undo
	if g.Drop != nil {
		recs = append(recs, leases.DeleteRecord(g.Drop.Addr))
		undos = append(undos, e.undoFor(g.Drop.Addr, leases.Lease{}, false))
		e.store.delete(g.Drop.Addr)
	}
	for _, o := range stolen {
		recs = append(recs, leases.PutRecord(o))
		undos = append(undos, e.undoFor(o.Addr, o, true))
		e.store.put(o)
	}
	// Copies: HWAddr and ClientID point into the request.
	l = l.Clone()
	recs = append(recs, leases.PutRecord(l))
	undos = append(undos, e.undoFor(l.Addr, l, true))
	e.store.put(l)
	delete(e.held, yiaddr)
	if g.Replaces != nil {
		e.log("abandoning lease to %s of %s", macString(g.Replaces.HWAddr), yiaddr)
	}

	kind := "DHCPACK"
	e.logPacket(kind, r, yiaddr, l.Hostname, "")
	sid := r.serverIDFor(ctx, a.override)
	p := e.startReply(r)
	p.setAddr(offCiaddr, r.ciaddr)
	p.setAddr(offYiaddr, yiaddr)
	p.putUint(optMessageType, 1, uint32(dhcpv4.MessageTypeAck))
	p.putAddr(optServerID, sid)
	p.putUint(optLeaseTime, 4, lt)
	if a.rapid {
		p.put(optRapidCommit, nil)
	}
	e.doOptions(r, p, ctx, replyName, e.domain(yiaddr), lt, a.fuzz)
	var txn *Transaction
	if wantsTxn(r, yiaddr, a) {
		txn = e.transaction(r, yiaddr, ctx.r.cfg.SetTag) // txn.go
	}
	e.hold(e.reply(r, p, dhcpv4.MessageTypeAck, false, sid), recs, undos, txn)
}

// hold parks reply until its records are on disk and asks for the commit.
// txn, when set, is the request's data for the dhcp-script.
func (e *Engine) hold(reply Outbound, recs []leases.Record, undos []undo, txn *Transaction) {
	e.nextID++
	e.commits[e.nextID] = &pendingCommit{reply: reply, held: true, undo: undos, started: e.now.Unix()}
	e.acts = append(e.acts, Action{Kind: Commit, ID: e.nextID, Records: recs, Held: true, Txn: txn})
}

// commitNow asks for records that no reply waits for (RELEASE, DECLINE).
func (e *Engine) commitNow(recs []leases.Record) {
	e.nextID++
	e.acts = append(e.acts, Action{Kind: Commit, ID: e.nextID, Records: recs})
}

func (e *Engine) undoFor(addr netip.Addr, now leases.Lease, wrote bool) undo {
	prev, had := e.store.t.ByAddr(addr)
	return undo{addr: addr, now: now, wrote: wrote, prev: prev, had: had}
}

// Committed reports the commit of Action id: ok when the records are on
// disk. It returns the ACK that waited for them. When the commit failed
// the ACK is dropped (the client asks again) and the engine's table goes
// back to what it was, where nothing else changed it since. An unknown
// id, or one no reply waits for, returns nothing.
func (e *Engine) Committed(id uint64, ok bool, now time.Time) []Outbound {
	e.now = now
	e.out = e.out[:0]
	c, found := e.commits[id]
	if !found {
		return e.out
	}
	delete(e.commits, id)
	if ok {
		e.out = append(e.out, c.reply)
		return e.out
	}
	for i := len(c.undo) - 1; i >= 0; i-- {
		u := c.undo[i]
		cur, has := e.store.t.ByAddr(u.addr)
		if has != u.wrote || (has && !cur.Equal(u.now)) {
			continue // changed since: leave it
		}
		if u.had {
			e.store.put(u.prev)
		} else {
			e.store.delete(u.addr)
		}
	}
	e.log("lease commit %d failed: ACK not sent", id)
	return e.out
}

// Tick does the engine's housekeeping at now: leases that are over are
// dropped (a Commit of their deletions is returned: the master may
// journal them, or expire them itself, deleting twice is harmless), and
// probes and commits the worker never answered are forgotten.
func (e *Engine) Tick(now time.Time) []Action {
	e.begin(now)
	t := now.Unix()
	for id, p := range e.probes {
		if t-p.started > int64(pendingTimeout/time.Second) {
			delete(e.probes, id)
			if e.probeByClient[p.key] == id {
				delete(e.probeByClient, p.key)
			}
		}
	}
	for id, c := range e.commits {
		if t-c.started > int64(pendingTimeout/time.Second) {
			delete(e.commits, id)
		}
	}
	for a, h := range e.held {
		if h.until <= t {
			delete(e.held, a)
		}
	}
	for a, until := range e.busy {
		if until <= t {
			delete(e.busy, a)
		}
	}
	return e.acts
}

// PendingCommits is the number of replies waiting for Committed: under
// load, how far the lease store is behind.
func (e *Engine) PendingCommits() int { return len(e.commits) }
