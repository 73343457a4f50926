package dhcpserver

import (
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/config"
)

func TestBOOTP(t *testing.T) {
	e := newEngine(t, cfg("--dhcp-host=02:00:00:00:00:01,10.0.0.5,bootbox", "--dhcp-boot=tag:bootp,boot.img", "--domain=example.com")...)
	bootReq := msg{xid: 5, bcast: true}
	res := send(t, e, bootReq, t0)
	out, d := res.one(t)
	if out.Type != 0 || d.Options.Has(dhcpv4.OptionDHCPMessageType) {
		t.Errorf("BOOTP reply has a DHCP message type")
	}
	if yiaddr(d) != ip("10.0.0.5") || d.BootFileName != "boot.img" || len(out.Packet) != minPacketSize {
		t.Errorf("reply %s file %q size %d", yiaddr(d), d.BootFileName, len(out.Packet))
	}
	if len(res.acts) != 1 || !res.acts[0].Held {
		t.Errorf("actions %s: the lease is not committed first", actionKinds(res.acts))
	}
	if l := leaseOf(t, e, ip("10.0.0.5")); !l.Infinite() || l.Hostname != "bootbox" {
		t.Errorf("lease %+v, want infinite and named", l)
	}
	send(t, e, bootReq.withMAC("02:00:00:00:00:02"), t0).none(t)
}

func TestInterfaceSelection(t *testing.T) {
	eth1 := &Interface{Name: "eth1", Index: 3, Addrs: []netip.Prefix{netip.MustParsePrefix("172.16.0.1/16"), netip.MustParsePrefix("10.9.0.1/24")}}
	e := newEngine(t, "--dhcp-range=10.0.0.10,10.0.0.200", "--dhcp-range=10.9.0.10,10.9.0.20", "--dhcp-range=172.16.5.1,172.16.5.9", "--no-ping",
		"--no-dhcp-interface=wl*")
	on := func(iface *Interface, m msg) msg { m.iface = iface; return m }
	inRange := func(lo, hi string) func(*testing.T, *Engine, Outbound, *dhcpv4.DHCPv4, []Action) {
		return func(t *testing.T, _ *Engine, out Outbound, d *dhcpv4.DHCPv4, _ []Action) {
			if a := yiaddr(d); a.Less(ip(lo)) || ip(hi).Less(a) {
				t.Errorf("offered %s, want %s-%s", a, lo, hi)
			}
		}
	}
	relayed := cli.withType(discoverT)
	relayed.giaddr = "10.9.0.254"
	unknownRelay := relayed
	unknownRelay.giaddr = "192.168.77.1"
	run(t, e, []step{
		{name: "eth0", in: cli.withType(discoverT), typ: offerT, check: inRange("10.0.0.10", "10.0.0.200")},
		{name: "eth1: both of its subnets, first range first", in: on(eth1, cli.withType(discoverT)), typ: offerT, check: inRange("10.9.0.10", "10.9.0.20")},
		{name: "subnet selector picks the other", in: on(eth1, cli.withType(discoverT).with(oaddr(optSubnetSelect, "172.16.5.0"))), typ: offerT,
			check: both(inRange("172.16.5.1", "172.16.5.9"), hasOpt(optSubnetSelect, 172, 16, 5, 0))},
		{name: "relay: its network's range", in: relayed, typ: offerT, delivery: Relay, check: inRange("10.9.0.10", "10.9.0.20")},
		{name: "relay from a network with no range", in: unknownRelay},
		{name: "no-dhcp-interface", in: on(&Interface{Name: "wlan0", Index: 4, Addrs: eth0.Addrs}, cli.withType(discoverT))},
		{name: "interface without a range", in: on(&Interface{Name: "eth5", Index: 5, Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24")}}, cli.withType(discoverT))},
	})
}

func TestSequentialIP(t *testing.T) {
	e := newEngine(t, cfg("--dhcp-sequential-ip")...)
	want := []string{"10.0.0.10", "10.0.0.11", "10.0.0.12"}
	for i, w := range want {
		m := msg{xid: uint32(i), mac: "02:00:00:00:01:0" + string(rune('0'+i))}
		if a := dora(t, e, m, t0); a != ip(w) {
			t.Errorf("client %d got %s, want %s", i, a, w)
		}
	}
}

func TestDropsMalformed(t *testing.T) {
	e := newEngine(t, dyn...)
	for _, tc := range []struct {
		name string
		in   Inbound
	}{
		{"no packet", Inbound{Interface: eth0}},
		{"no interface", Inbound{Packet: cli.withType(discoverT).inbound(t).Packet}},
		{"a reply", func() Inbound {
			in := cli.withType(discoverT).inbound(t)
			in.Packet.OpCode = dhcpv4.OpcodeBootReply
			return in
		}()},
		{"hardware type 0 with an address", func() Inbound { in := cli.withType(discoverT).inbound(t); in.Packet.HWType = 0; return in }()},
		{"message type 0", cli.with(o(optMessageType, 0)).inbound(t)},
	} {
		if out, acts := e.Handle(tc.in, t0); len(out)+len(acts) != 0 {
			t.Errorf("%s: %d replies, actions %s", tc.name, len(out), actionKinds(acts))
		}
	}
}

// TestDomains: the last domain= line whose range holds the address wins
// (as dnsmasq 2.90 does), else the default domain.
func TestDomains(t *testing.T) {
	c, err := config.Parse([]string{"--domain=c.com", "--domain=a.com,10.0.0.0/24", "--domain=b.com,10.0.0.128/25"}, "")
	if err != nil {
		t.Fatal(err)
	}
	domain := DomainsFromConfig(&c.Local)
	for addr, want := range map[string]string{"10.0.0.140": "b.com", "10.0.0.5": "a.com", "192.168.1.1": "c.com"} {
		if got := domain(ip(addr)); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
}
