package dhcpserver

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// probeOf returns the single Probe action.
func probeOf(t *testing.T, r result) Action {
	t.Helper()
	out, acts := r.out, r.acts
	if len(out) != 0 || len(acts) != 1 || acts[0].Kind != Probe {
		t.Fatalf("want one probe and no reply, got %d replies, actions %s", len(out), actionKinds(acts))
	}
	return acts[0]
}

func offerOf(t *testing.T, out []Outbound) *dhcpv4.DHCPv4 {
	t.Helper()
	_, d := result{out: out}.one(t)
	if mtype(d) != offerT {
		t.Fatalf("want OFFER, got %s", mtype(d))
	}
	return d
}

func TestPingCheck(t *testing.T) {
	pingArgs := []string{"--dhcp-range=10.0.0.10,10.0.0.200,1h"}
	t.Run("free address", func(t *testing.T) {
		e := newEngine(t, pingArgs...)
		p := probeOf(t, rv(e.Handle(cli.withType(discoverT).inbound(t), t0)))
		if p.Addr != ip("10.0.0.140") || p.IfIndex != eth0.Index {
			t.Fatalf("probe %+v", p)
		}
		if d := offerOf(t, first(e.ProbeResult(p.ID, false, t0.Add(time.Second)))); yiaddr(d) != p.Addr {
			t.Fatalf("offered %s after probing %s", yiaddr(d), p.Addr)
		}
		// Asked again soon: the probe's result still holds.
		offerOf(t, first(e.Handle(cli.withType(discoverT).inbound(t), t0.Add(5*time.Second))))
		if out, _ := e.ProbeResult(p.ID, false, t0); len(out) != 0 {
			t.Fatal("a probe answered twice produced a reply")
		}
	})
	t.Run("address in use", func(t *testing.T) {
		e := newEngine(t, pingArgs...)
		p := probeOf(t, rv(e.Handle(cli.withType(discoverT).inbound(t), t0)))
		p2 := probeOf(t, rv(e.ProbeResult(p.ID, true, t0.Add(3*time.Second))))
		if p2.Addr == p.Addr {
			t.Fatalf("probed %s again", p.Addr)
		}
		if d := offerOf(t, first(e.ProbeResult(p2.ID, false, t0.Add(6*time.Second)))); yiaddr(d) != p2.Addr {
			t.Fatalf("offered %s", yiaddr(d))
		}
		// Nobody gets the address that answered.
		out, acts := e.Handle(other.withType(discoverT).with(requested(p.Addr.String())).inbound(t), t0.Add(7*time.Second))
		if len(acts) == 1 && acts[0].Addr == p.Addr || len(out) == 1 && yiaddr(offerOf(t, out)) == p.Addr {
			t.Fatalf("%s offered again", p.Addr)
		}
	})
	t.Run("one client's probe does not hold up another", func(t *testing.T) {
		e := newEngine(t, pingArgs...)
		pa := probeOf(t, rv(e.Handle(cli.withType(discoverT).inbound(t), t0)))
		pb := probeOf(t, rv(e.Handle(other.withType(discoverT).inbound(t), t0)))
		if pa.Addr == pb.Addr || pa.ID == pb.ID {
			t.Fatalf("probes %+v %+v", pa, pb)
		}
		if d := offerOf(t, first(e.ProbeResult(pb.ID, false, t0.Add(time.Second)))); yiaddr(d) != pb.Addr || d.ClientHWAddr.String() != "02:00:00:00:00:02" {
			t.Fatalf("B's offer: %s to %s", yiaddr(d), d.ClientHWAddr)
		}
		if d := offerOf(t, first(e.ProbeResult(pa.ID, false, t0.Add(2*time.Second)))); yiaddr(d) != pa.Addr {
			t.Fatalf("A's offer: %s", yiaddr(d))
		}
	})
	t.Run("retransmission while probing", func(t *testing.T) {
		e := newEngine(t, pingArgs...)
		p := probeOf(t, rv(e.Handle(cli.withType(discoverT).inbound(t), t0)))
		again := cli.withType(discoverT)
		again.xid = 99
		if out, acts := e.Handle(again.inbound(t), t0.Add(time.Second)); len(out)+len(acts) != 0 {
			t.Fatalf("retransmission: %d replies, actions %s", len(out), actionKinds(acts))
		}
		if d := offerOf(t, first(e.ProbeResult(p.ID, false, t0.Add(2*time.Second)))); d.TransactionID != [4]byte{0, 0, 0, 99} {
			t.Fatalf("offer answers xid %v, want the latest", d.TransactionID)
		}
	})
	t.Run("the client's own lease is not pinged", func(t *testing.T) {
		e := newEngine(t, pingArgs...)
		res := send(t, e, cli.withType(requestT).with(sel("10.0.0.140")...), t0)
		res.one(t)
		offerOf(t, first(e.Handle(cli.withType(discoverT).inbound(t), t0.Add(time.Hour/2))))
	})
	t.Run("too many probes: offer without", func(t *testing.T) {
		var logged []string
		e := newEngineWith(t, func(s *Settings) {
			s.MaxProbes = 1
			s.Logf = func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }
		}, pingArgs...)
		probeOf(t, rv(e.Handle(cli.withType(discoverT).inbound(t), t0)))
		offerOf(t, first(e.Handle(other.withType(discoverT).inbound(t), t0)))
		offerOf(t, first(e.Handle(other.withType(discoverT).inbound(t), t0)))
		n := 0
		for _, l := range logged {
			if strings.Contains(l, "ping checks in flight") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("overload logged %d times, want once: %q", n, logged)
		}
	})
	t.Run("forgotten probes", func(t *testing.T) {
		e := newEngine(t, pingArgs...)
		p := probeOf(t, rv(e.Handle(cli.withType(discoverT).inbound(t), t0)))
		e.Tick(t0.Add(2 * pendingTimeout))
		if out, _ := e.ProbeResult(p.ID, false, t0.Add(2*pendingTimeout)); len(out) != 0 {
			t.Fatal("a forgotten probe produced a reply")
		}
		probeOf(t, rv(e.Handle(cli.withType(discoverT).inbound(t), t0.Add(2*pendingTimeout))))
	})
}

// rv collects a call's two results.
func rv(out []Outbound, acts []Action) result { return result{out: out, acts: acts} }

// first drops the second result.
func first(out []Outbound, _ []Action) []Outbound { return out }

// TestContinueIDs: an engine that replaces another numbers its probes
// after the old one's, so a late answer to an old probe finds nothing.
func TestContinueIDs(t *testing.T) {
	args := []string{"--dhcp-range=10.0.0.10,10.0.0.200,1h"}
	old := newEngine(t, args...)
	p := probeOf(t, rv(old.Handle(cli.withType(discoverT).inbound(t), t0)))
	e := newEngine(t, args...)
	e.ContinueIDs(old)
	q := probeOf(t, rv(e.Handle(other.withType(discoverT).inbound(t), t0)))
	if q.ID <= p.ID {
		t.Fatalf("new engine's probe %d, old engine's %d", q.ID, p.ID)
	}
	if out, _ := e.ProbeResult(p.ID, false, t0); len(out) != 0 {
		t.Fatal("the old engine's probe id answered the new engine's DISCOVER")
	}
}

// TestProbeKeepsAddress: while a client's probe runs its address is kept
// for it: a second client asking for the same address is probed (and
// offered) another one, and the first still gets its own after the
// probe.
func TestProbeKeepsAddress(t *testing.T) {
	e := newEngine(t, "--dhcp-range=10.0.0.10,10.0.0.200,1h")
	want := ip("10.0.0.77")
	pa := probeOf(t, rv(e.Handle(cli.withType(discoverT).with(requested(want.String())).inbound(t), t0)))
	if pa.Addr != want {
		t.Fatalf("probed %s, want the requested %s", pa.Addr, want)
	}
	pb := probeOf(t, rv(e.Handle(other.withType(discoverT).with(requested(want.String())).inbound(t), t0)))
	if pb.Addr == want {
		t.Fatalf("the second client's probe is for %s, kept for the first", pb.Addr)
	}
	if d := offerOf(t, first(e.ProbeResult(pb.ID, false, t0.Add(3*time.Second)))); yiaddr(d) != pb.Addr {
		t.Fatalf("B offered %s", yiaddr(d))
	}
	if d := offerOf(t, first(e.ProbeResult(pa.ID, false, t0.Add(3*time.Second)))); yiaddr(d) != want {
		t.Fatalf("A offered %s, want %s", yiaddr(d), want)
	}
}
