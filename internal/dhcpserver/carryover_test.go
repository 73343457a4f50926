package dhcpserver

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// reloaded builds the engine a configuration reload makes, with a router
// option the old one did not have (so a reply says which engine built
// it), and carries old's state over.
func reloaded(t *testing.T, old *Engine, args ...string) *Engine {
	t.Helper()
	e := newEngine(t, append(args, "--dhcp-option=option:router,10.0.0.254")...)
	e.CarryOver(old)
	return e
}

func routerOf(d *dhcpv4.DHCPv4) netip.Addr {
	if r := d.Router(); len(r) == 1 {
		if a, ok := netip.AddrFromSlice(r[0].To4()); ok {
			return a
		}
	}
	return netip.Addr{}
}

// TestCarryOverProbe: a DISCOVER parked for its ping check when the
// configuration is reloaded is answered by the new engine when the probe
// ends, as the new configuration says.
func TestCarryOverProbe(t *testing.T) {
	args := []string{"--dhcp-range=10.0.0.10,10.0.0.200,1h"}
	for _, tc := range []struct {
		name    string
		newArgs []string // the reloaded configuration's range
		inUse   bool     // the probed address answered
	}{
		{"free", args, false},
		{"in use: another address probed", args, true},
		{"in use, range changed", []string{"--dhcp-range=10.0.0.100,10.0.0.220,1h"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := newEngine(t, args...)
			p := probeOf(t, rv(old.Handle(cli.withType(discoverT).inbound(t), t0)))
			e := reloaded(t, old, tc.newArgs...)
			now := t0.Add(3 * time.Second)
			out, acts := e.ProbeResult(p.ID, tc.inUse, now)
			if tc.inUse {
				p2 := probeOf(t, rv(out, acts))
				if p2.Addr == p.Addr || p2.ID <= p.ID {
					t.Fatalf("after %s answered: probe %+v", p.Addr, p2)
				}
				p, out = p2, first(e.ProbeResult(p2.ID, false, now.Add(3*time.Second)))
			}
			d := offerOf(t, out)
			if yiaddr(d) != p.Addr || routerOf(d) != ip("10.0.0.254") {
				t.Fatalf("offer of %s with router %v, want %s from the new configuration", yiaddr(d), routerOf(d), p.Addr)
			}
			if got, _ := old.ProbeResult(p.ID, false, now); len(got) != 0 {
				t.Error("the old engine still answers the probe")
			}
		})
	}
}

// TestCarryOverHeld: what was set aside before the reload stays set
// aside: the address a probe runs for is not given to another client,
// nor is one that answered a ping.
func TestCarryOverHeld(t *testing.T) {
	args := []string{"--dhcp-range=10.0.0.10,10.0.0.200,1h"}
	old := newEngine(t, args...)
	want := ip("10.0.0.77")
	pa := probeOf(t, rv(old.Handle(cli.withType(discoverT).with(requested(want.String())).inbound(t), t0)))
	busy := ip("10.0.0.78")
	pb := probeOf(t, rv(old.Handle(other.withType(discoverT).with(requested(busy.String())).inbound(t), t0)))
	pb2 := probeOf(t, rv(old.ProbeResult(pb.ID, true, t0)))
	e := reloaded(t, old, args...)
	for i, a := range []netip.Addr{want, busy} {
		// A client of its own for each (a second DISCOVER of one client
		// would be a retransmission while its probe runs).
		c := msg{xid: uint32(3 + i), mac: fmt.Sprintf("02:00:00:00:00:%02x", 3+i)}
		out, acts := e.Handle(c.withType(discoverT).with(requested(a.String())).inbound(t), t0.Add(time.Second))
		if p := probeOf(t, rv(out, acts)); p.Addr == a {
			t.Errorf("%s, set aside before the reload, probed for another client", a)
		}
	}
	if d := offerOf(t, first(e.ProbeResult(pa.ID, false, t0.Add(3*time.Second)))); yiaddr(d) != want {
		t.Fatalf("first client offered %s, want %s", yiaddr(d), want)
	}
	if d := offerOf(t, first(e.ProbeResult(pb2.ID, false, t0.Add(3*time.Second)))); yiaddr(d) == busy {
		t.Fatalf("second client offered %s, which answered a ping", busy)
	}
}

// TestCarryOverCommit: an ACK held for its commit when the configuration
// is reloaded leaves when the master confirms the commit; a commit that
// failed undoes its lease in the new engine.
func TestCarryOverCommit(t *testing.T) {
	args := []string{"--dhcp-range=10.0.0.10,10.0.0.200,1h", "--no-ping"}
	for _, ok := range []bool{true, false} {
		old := newEngine(t, args...)
		_, acts := old.Handle(cli.withType(requestT).with(sel("10.0.0.140")...).inbound(t), t0)
		if len(acts) != 1 || acts[0].Kind != Commit || !acts[0].Held {
			t.Fatalf("REQUEST: actions %s, want one held commit", actionKinds(acts))
		}
		id := acts[0].ID
		e := reloaded(t, old, args...)
		out := e.Committed(id, ok, t0.Add(time.Millisecond))
		_, has := e.Lease(ip("10.0.0.140"))
		switch {
		case ok && (len(out) != 1 || !has):
			t.Fatalf("commit confirmed after the reload: %d replies, lease %v; want the ACK and the lease", len(out), has)
		case !ok && (len(out) != 0 || has):
			t.Fatalf("commit failed after the reload: %d replies, lease %v; want neither", len(out), has)
		}
		if ok {
			_, d := result{out: out}.one(t)
			if mtype(d) != ackT || yiaddr(d) != ip("10.0.0.140") {
				t.Fatalf("got %s of %s, want the ACK of 10.0.0.140", mtype(d), yiaddr(d))
			}
		}
		if n := e.PendingCommits(); n != 0 {
			t.Errorf("%d commits still pending", n)
		}
	}
}

// TestCarryOverLeases: the lease table moves to the new engine, and new
// probes and commits are numbered after the old engine's.
func TestCarryOverLeases(t *testing.T) {
	args := []string{"--dhcp-range=10.0.0.10,10.0.0.200,1h"}
	old := newEngine(t, args...)
	p := probeOf(t, rv(old.Handle(cli.withType(discoverT).inbound(t), t0)))
	a := yiaddr(offerOf(t, first(old.ProbeResult(p.ID, false, t0))))
	if _, d := send(t, old, cli.withType(requestT).with(sel(a.String())...), t0).one(t); mtype(d) != ackT {
		t.Fatalf("REQUEST answered %s", mtype(d))
	}
	p = probeOf(t, rv(old.Handle(other.withType(discoverT).inbound(t), t0)))
	e := reloaded(t, old, args...)
	if l := leaseOf(t, e, a); macString(l.HWAddr) != "02:00:00:00:00:01" {
		t.Fatalf("lease %+v", l)
	}
	if _, ok := old.Lease(a); ok {
		t.Error("the old engine still has the lease")
	}
	third := msg{xid: 3, mac: "02:00:00:00:00:03"}
	if q := probeOf(t, rv(e.Handle(third.withType(discoverT).inbound(t), t0))); q.ID <= p.ID {
		t.Fatalf("new engine's probe %d, old engine's %d", q.ID, p.ID)
	}
}
