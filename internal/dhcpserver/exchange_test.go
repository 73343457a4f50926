package dhcpserver

import (
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/leases"
)

const (
	discoverT = dhcpv4.MessageTypeDiscover
	requestT  = dhcpv4.MessageTypeRequest
	declineT  = dhcpv4.MessageTypeDecline
	releaseT  = dhcpv4.MessageTypeRelease
	informT   = dhcpv4.MessageTypeInform
	offerT    = dhcpv4.MessageTypeOffer
	ackT      = dhcpv4.MessageTypeAck
	nakT      = dhcpv4.MessageTypeNak
)

// step is one request of a scenario and what must come back.
type step struct {
	name string
	in   msg
	at   time.Duration // after t0
	// typ is the reply's type, 0 for no reply.
	typ      dhcpv4.MessageType
	yiaddr   string // the reply's yiaddr; "" not checked
	delivery Delivery
	dest     string // "" not checked
	nakMsg   string
	check    func(t *testing.T, e *Engine, out Outbound, d *dhcpv4.DHCPv4, acts []Action)
}

// run plays steps against one engine.
func run(t *testing.T, e *Engine, steps []step) {
	t.Helper()
	for _, s := range steps {
		res := send(t, e, s.in, t0.Add(s.at))
		if s.typ == 0 {
			if len(res.out) != 0 {
				_, d := res.one(t)
				t.Fatalf("%s: want no reply, got %s %s (%s)", s.name, mtype(d), yiaddr(d), d.Message())
			}
			if s.check != nil {
				s.check(t, e, Outbound{}, nil, res.acts)
			}
			continue
		}
		if len(res.out) != 1 {
			t.Fatalf("%s: want one %s, got %d replies (actions %s)", s.name, s.typ, len(res.out), actionKinds(res.acts))
		}
		out, d := res.one(t)
		if mtype(d) != s.typ {
			t.Fatalf("%s: want %s, got %s %s (%s)", s.name, s.typ, mtype(d), yiaddr(d), d.Message())
		}
		if s.yiaddr != "" && yiaddr(d).String() != s.yiaddr && !(s.yiaddr == "0.0.0.0" && !yiaddr(d).IsValid()) {
			t.Errorf("%s: yiaddr %s, want %s", s.name, yiaddr(d), s.yiaddr)
		}
		if s.delivery != 0 && out.Delivery != s.delivery {
			t.Errorf("%s: delivery %s, want %s", s.name, out.Delivery, s.delivery)
		}
		if s.dest != "" && out.Dest.String() != s.dest {
			t.Errorf("%s: sent to %s, want %s", s.name, out.Dest, s.dest)
		}
		if s.nakMsg != "" && d.Message() != s.nakMsg {
			t.Errorf("%s: NAK says %q, want %q", s.name, d.Message(), s.nakMsg)
		}
		if s.check != nil {
			s.check(t, e, out, d, res.acts)
		}
	}
}

// The client of most scenarios: 02:00:00:00:00:01, which dnsmasq places
// at .140 of a .10-.200 range.
var (
	cli   = msg{xid: 1}
	other = msg{xid: 2, mac: "02:00:00:00:00:02"}
)

func sel(addr string) []opt { return []opt{requested(addr), serverID("10.0.0.1")} }

func TestRequestStates(t *testing.T) {
	base := []string{"--dhcp-range=10.0.0.10,10.0.0.200,1h", "--no-ping"}
	renew := cli.withType(requestT)
	renew.ciaddr, renew.src, renew.dst = "10.0.0.140", "10.0.0.140:68", "10.0.0.1"
	rebind := cli.withType(requestT)
	rebind.ciaddr, rebind.src = "10.0.0.140", "10.0.0.140:68"
	strangerRenew := other.withType(requestT)
	strangerRenew.ciaddr, strangerRenew.src, strangerRenew.dst = "10.0.0.77", "10.0.0.77:68", "10.0.0.1"
	strangerRebind := other.withType(requestT)
	strangerRebind.ciaddr, strangerRebind.src = "10.0.0.77", "10.0.0.77:68"

	t.Run("not authoritative", func(t *testing.T) {
		e := newEngine(t, base...)
		run(t, e, []step{
			{name: "DISCOVER", in: cli.withType(discoverT), typ: offerT, yiaddr: "10.0.0.140", delivery: Raw, dest: "10.0.0.140:68"},
			{name: "SELECTING other server", in: cli.withType(requestT).with(requested("10.0.0.140"), serverID("10.0.0.99"))},
			{name: "SELECTING", in: cli.withType(requestT).with(sel("10.0.0.140")...), typ: ackT, yiaddr: "10.0.0.140", delivery: Raw,
				check: func(t *testing.T, e *Engine, _ Outbound, _ *dhcpv4.DHCPv4, acts []Action) {
					if len(acts) != 1 || acts[0].Kind != Commit || !acts[0].Held || len(acts[0].Records) != 1 || acts[0].Records[0].Lease.Addr != ip("10.0.0.140") {
						t.Errorf("actions %+v, want one held commit of the lease", acts)
					}
				}},
			{name: "INIT-REBOOT", in: cli.withType(requestT).with(requested("10.0.0.140")), typ: ackT, yiaddr: "10.0.0.140"},
			{name: "INIT-REBOOT wrong address", in: cli.withType(requestT).with(requested("10.0.0.150")), typ: nakT, yiaddr: "0.0.0.0",
				nakMsg: "wrong address", delivery: Broadcast, dest: "255.255.255.255:68"},
			{name: "RENEWING", in: renew, typ: ackT, yiaddr: "10.0.0.140", delivery: Unicast, dest: "10.0.0.140:68",
				check: func(t *testing.T, _ *Engine, _ Outbound, d *dhcpv4.DHCPv4, _ []Action) {
					if addr4(d.ClientIPAddr) != ip("10.0.0.140") {
						t.Errorf("ciaddr %s, want the client's", d.ClientIPAddr)
					}
				}},
			{name: "REBINDING", in: rebind, typ: ackT, delivery: Unicast, dest: "10.0.0.140:68"},
			{name: "INIT-REBOOT unknown", in: other.withType(requestT).with(requested("10.0.0.77"))},
			{name: "REBINDING unknown (another server's client)", in: strangerRebind},
			{name: "RENEWING unknown, unicast to us", in: strangerRenew, typ: nakT, nakMsg: "lease not found", delivery: Broadcast},
		})
	})
	t.Run("authoritative", func(t *testing.T) {
		e := newEngine(t, append(base, "--dhcp-authoritative")...)
		run(t, e, []step{
			{name: "INIT-REBOOT unknown, address free: the lost lease comes back", in: other.withType(requestT).with(requested("10.0.0.77")), typ: ackT, yiaddr: "10.0.0.77"},
			{name: "INIT-REBOOT from another network", in: cli.withType(requestT).with(requested("192.168.7.7")), typ: nakT, nakMsg: "wrong network", delivery: Broadcast},
			{name: "INIT-REBOOT of an address in use", in: cli.withType(requestT).with(requested("10.0.0.77")), typ: nakT, nakMsg: "address in use"},
			{name: "SELECTING another server", in: cli.withType(requestT).with(requested("10.0.0.140"), serverID("10.0.0.99")), typ: nakT, nakMsg: "wrong server-ID"},
			{name: "REBINDING unknown, address free", in: rebind, typ: ackT, yiaddr: "10.0.0.140"},
		})
	})
}

func TestNAKToDistantClient(t *testing.T) {
	// A client on a routed subnet (no relay) renews straight to us; its
	// address has left the dynamic range: the NAK goes to its address,
	// where a broadcast would not reach (dnsmasq's exception).
	e := newEngine(t, "--dhcp-range=10.0.0.10,10.0.0.200,1h", "--dhcp-range=192.168.50.10,192.168.50.100,255.255.255.0,1h", "--no-ping")
	e.LoadLeases([]leases.Lease{{Addr: ip("192.168.50.5"), HWType: 1, HWAddr: macAddr("02:00:00:00:00:01"), Expires: t0.Unix() + 600}})
	m := cli.withType(requestT)
	m.ciaddr, m.src, m.dst = "192.168.50.5", "192.168.50.5:68", "10.0.0.1"
	run(t, e, []step{{name: "RENEWING", in: m, typ: nakT, nakMsg: "address not available", delivery: Unicast, dest: "192.168.50.5:68"}})
}

func TestDeclineReleaseInform(t *testing.T) {
	e := newEngine(t, "--dhcp-range=10.0.0.10,10.0.0.200,1h", "--no-ping")
	a := dora(t, e, cli, t0)
	if a != ip("10.0.0.140") {
		t.Fatalf("got %s", a)
	}
	deleted := func(addr string) func(*testing.T, *Engine, Outbound, *dhcpv4.DHCPv4, []Action) {
		return func(t *testing.T, e *Engine, _ Outbound, _ *dhcpv4.DHCPv4, acts []Action) {
			if len(acts) != 1 || acts[0].Held || len(acts[0].Records) != 1 || !acts[0].Records[0].Delete || acts[0].Records[0].Lease.Addr != ip(addr) {
				t.Errorf("actions %+v, want the deletion of %s", acts, addr)
			}
			if _, ok := e.Lease(ip(addr)); ok {
				t.Errorf("lease at %s still there", addr)
			}
		}
	}
	inf := other.withType(informT).with(prl(1, 3, 51))
	inf.ciaddr, inf.src, inf.dst = "10.0.0.50", "10.0.0.50:68", "10.0.0.1"
	infLeased := cli.withType(informT).with(prl(1, 51))
	infLeased.ciaddr, infLeased.src = "10.0.0.140", "10.0.0.140:68"
	rel := cli.withType(releaseT)
	rel.ciaddr, rel.src, rel.dst = "10.0.0.140", "10.0.0.140:68", "10.0.0.1"
	run(t, e, []step{
		{name: "INFORM", in: inf, typ: ackT, yiaddr: "0.0.0.0", delivery: Unicast, dest: "10.0.0.50:68",
			check: func(t *testing.T, _ *Engine, out Outbound, d *dhcpv4.DHCPv4, _ []Action) {
				if d.Options.Has(dhcpv4.OptionIPAddressLeaseTime) || d.Options.Has(dhcpv4.OptionRenewTimeValue) {
					t.Errorf("lease times in an INFORM's ACK: %v", optionOrder(out.Packet))
				}
			}},
		{name: "INFORM of a leased client asking for 51 (dhcp_lease_time)", in: infLeased, at: 10 * time.Second, typ: ackT,
			check: func(t *testing.T, _ *Engine, _ Outbound, d *dhcpv4.DHCPv4, _ []Action) {
				if got := d.IPAddressLeaseTime(0); got != 3590*time.Second {
					t.Errorf("lease time %v, want what is left (3590s)", got)
				}
			}},
		{name: "RELEASE to another server", in: rel.with(serverID("10.0.0.99"))},
		{name: "RELEASE", in: rel.with(serverID("10.0.0.1")), check: deleted("10.0.0.140")},
	})
	a = dora(t, e, cli, t0)
	run(t, e, []step{
		{name: "DECLINE", in: cli.withType(declineT).with(sel(a.String())...), check: deleted(a.String())},
		{name: "DISCOVER after DECLINE: another address", in: cli.withType(discoverT), typ: offerT,
			check: func(t *testing.T, _ *Engine, _ Outbound, d *dhcpv4.DHCPv4, _ []Action) {
				if yiaddr(d) == a {
					t.Errorf("offered the declined address %s again", a)
				}
			}},
		{name: "another client is not offered it either", in: other.withType(discoverT).with(requested(a.String())), typ: offerT,
			check: func(t *testing.T, _ *Engine, _ Outbound, d *dhcpv4.DHCPv4, _ []Action) {
				if yiaddr(d) == a {
					t.Errorf("offered the declined address %s", a)
				}
			}},
		{name: "it is free again after the backoff", in: other.withType(discoverT).with(requested(a.String())), at: declineBackoff + time.Second,
			typ: offerT, yiaddr: a.String()},
	})
}

func TestRapidCommit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config bool
		opt    bool
		want   dhcpv4.MessageType
	}{
		{"both", true, true, ackT},
		{"server only", true, false, offerT},
		{"client only", false, true, offerT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--dhcp-range=10.0.0.10,10.0.0.200,1h", "--no-ping"}
			if tc.config {
				args = append(args, "--dhcp-rapid-commit")
			}
			m := cli.withType(discoverT)
			if tc.opt {
				m = m.with(o(optRapidCommit))
			}
			run(t, newEngine(t, args...), []step{{name: "DISCOVER", in: m, typ: tc.want, yiaddr: "10.0.0.140",
				check: func(t *testing.T, e *Engine, out Outbound, d *dhcpv4.DHCPv4, acts []Action) {
					_, has := e.Lease(ip("10.0.0.140"))
					if has != (tc.want == ackT) || d.Options.Has(dhcpv4.OptionRapidCommit) != (tc.want == ackT) {
						t.Errorf("lease %v, option 80 %v", has, d.Options.Has(dhcpv4.OptionRapidCommit))
					}
				}}})
		})
	}
}

func TestLeaseMax(t *testing.T) {
	e := newEngine(t, "--dhcp-range=10.0.0.10,10.0.0.200,1h", "--no-ping", "--dhcp-lease-max=1")
	dora(t, e, cli, t0)
	run(t, e, []step{
		{name: "second client is offered", in: other.withType(discoverT), typ: offerT, yiaddr: "10.0.0.141"},
		{name: "but not given", in: other.withType(requestT).with(sel("10.0.0.141")...), typ: nakT, nakMsg: "no leases left"},
		{name: "the first renews", in: cli.withType(requestT).with(requested("10.0.0.140")), typ: ackT},
	})
}

func TestCommitGatesACK(t *testing.T) {
	e := newEngine(t, "--dhcp-range=10.0.0.10,10.0.0.200,1h", "--no-ping")
	out, acts := e.Handle(cli.withType(requestT).with(sel("10.0.0.140")...).inbound(t), t0)
	if len(out) != 0 {
		t.Fatalf("an ACK left before its commit")
	}
	if len(acts) != 1 || acts[0].Kind != Commit || !acts[0].Held {
		t.Fatalf("actions %+v, want one held commit", acts)
	}
	if _, ok := e.Lease(ip("10.0.0.140")); !ok {
		t.Fatal("the engine's table does not hold the lease while it is being committed")
	}
	if got := e.Committed(acts[0].ID, false, t0); len(got) != 0 {
		t.Fatalf("failed commit released %d packets", len(got))
	}
	if _, ok := e.Lease(ip("10.0.0.140")); ok {
		t.Fatal("failed commit left the lease in the table")
	}
	if got := e.Committed(acts[0].ID, true, t0); len(got) != 0 {
		t.Fatal("a commit answered twice released a packet")
	}
	_, acts = e.Handle(cli.withType(requestT).with(sel("10.0.0.140")...).inbound(t), t0)
	got := e.Committed(acts[0].ID, true, t0)
	if len(got) != 1 || got[0].Type != ackT {
		t.Fatalf("committed: %+v", got)
	}
}

func TestExpiry(t *testing.T) {
	e := newEngine(t, "--dhcp-range=10.0.0.10,10.0.0.200,2m", "--no-ping")
	a := dora(t, e, cli, t0)
	if acts := e.Tick(t0.Add(2 * time.Minute)); len(acts) != 0 {
		t.Fatalf("lease expired early: %+v", acts)
	}
	acts := e.Tick(t0.Add(2*time.Minute + time.Second))
	if len(acts) != 1 || len(acts[0].Records) != 1 || !acts[0].Records[0].Delete || acts[0].Records[0].Lease.Addr != a {
		t.Fatalf("actions %+v, want the deletion of %s", acts, a)
	}
	if len(e.Leases()) != 0 {
		t.Fatal("expired lease still in the table")
	}
}
