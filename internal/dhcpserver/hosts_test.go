package dhcpserver

import (
	"bytes"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/leases"
)

var dyn = []string{"--dhcp-range=10.0.0.10,10.0.0.200,1h", "--no-ping"}

func cfg(extra ...string) []string { return append(append([]string{}, dyn...), extra...) }

// hasOpt checks whether a reply carries option code (with data, if given).
func hasOpt(code uint8, want ...byte) func(*testing.T, *Engine, Outbound, *dhcpv4.DHCPv4, []Action) {
	return func(t *testing.T, _ *Engine, out Outbound, d *dhcpv4.DHCPv4, _ []Action) {
		t.Helper()
		got, ok := d.Options[code]
		if !ok {
			t.Errorf("option %d missing (options %v)", code, optionOrder(out.Packet))
		} else if want != nil && !bytes.Equal(got, want) {
			t.Errorf("option %d is % x, want % x", code, got, want)
		}
	}
}

func lacksOpt(code uint8) func(*testing.T, *Engine, Outbound, *dhcpv4.DHCPv4, []Action) {
	return func(t *testing.T, _ *Engine, out Outbound, d *dhcpv4.DHCPv4, _ []Action) {
		t.Helper()
		if d.Options.Has(dhcpv4.GenericOptionCode(code)) {
			t.Errorf("option %d present (options %v)", code, optionOrder(out.Packet))
		}
	}
}

func TestDHCPHost(t *testing.T) {
	clid := clientID(1, 2, 3)
	for _, tc := range []struct {
		name  string
		args  []string
		steps []step
	}{
		{"by MAC, outside the dynamic range", cfg("--dhcp-host=02:00:00:00:00:01,10.0.0.5"), []step{
			{name: "DISCOVER", in: cli.withType(discoverT), typ: offerT, yiaddr: "10.0.0.5"},
			{name: "REQUEST", in: cli.withType(requestT).with(sel("10.0.0.5")...), typ: ackT, yiaddr: "10.0.0.5"},
			{name: "another MAC may not have it", in: other.withType(requestT).with(sel("10.0.0.5")...), typ: nakT, nakMsg: "address not available"},
			{name: "nor another address in the range", in: other.withType(discoverT).with(requested("10.0.0.5")), typ: offerT, yiaddr: "10.0.0.141"},
		}},
		{"by client-id", cfg("--dhcp-host=id:01:02:03,10.0.0.6"), []step{
			{name: "with the id", in: cli.withType(discoverT).with(clid), typ: offerT, yiaddr: "10.0.0.6"},
			{name: "same MAC, no id", in: other.withType(discoverT).withMAC("02:00:00:00:00:01"), typ: offerT, yiaddr: "10.0.0.140"},
		}},
		{"client-id before MAC", cfg("--dhcp-host=02:00:00:00:00:01,10.0.0.5", "--dhcp-host=id:01:02:03,10.0.0.6"), []step{
			{name: "both match", in: cli.withType(discoverT).with(clid), typ: offerT, yiaddr: "10.0.0.6"},
		}},
		{"wildcard MAC sets a tag; the exact MAC wins", cfg("--dhcp-host=02:00:00:00:*:*,set:wild", "--dhcp-host=02:00:00:00:00:02,10.0.0.9",
			"--dhcp-option=tag:wild,option:ntp-server,10.0.0.42"), []step{
			{name: "wildcard", in: cli.withType(discoverT).with(prl(42)), typ: offerT, check: hasOpt(42, 10, 0, 0, 42)},
			{name: "exact", in: other.withType(discoverT).with(prl(42)), typ: offerT, yiaddr: "10.0.0.9", check: lacksOpt(42)},
			{name: "no match", in: cli.withType(discoverT).withMAC("04:00:00:00:00:01").with(prl(42)), typ: offerT, check: lacksOpt(42)},
		}},
		{"ignore", cfg("--dhcp-host=02:00:00:00:00:01,ignore"), []step{
			{name: "DISCOVER", in: cli.withType(discoverT)},
			{name: "REQUEST", in: cli.withType(requestT).with(sel("10.0.0.140")...)},
			{name: "others are served", in: other.withType(discoverT), typ: offerT},
		}},
		{"set: and known tags", cfg("--dhcp-host=02:00:00:00:00:01,set:vip", "--dhcp-option=tag:vip,option:ntp-server,10.0.0.9",
			"--dhcp-option=tag:known,option:mtu,1400", "--dhcp-option=tag:!known,option:mtu,1300"), []step{
			{name: "the host", in: cli.withType(discoverT).with(prl(42, 26)), typ: offerT, check: both(hasOpt(42, 10, 0, 0, 9), hasOpt(26, 0x05, 0x78))},
			{name: "another", in: other.withType(discoverT).with(prl(42, 26)), typ: offerT, check: both(lacksOpt(42), hasOpt(26, 0x05, 0x14))},
		}},
		{"known-othernet", cfg("--dhcp-host=02:00:00:00:00:01,192.168.5.5", "--dhcp-option=tag:known-othernet,option:mtu,1400"), []step{
			{name: "DISCOVER", in: cli.withType(discoverT).with(prl(26)), typ: offerT, yiaddr: "10.0.0.140", check: hasOpt(26, 0x05, 0x78)},
		}},
		{"by name, for a host with no MAC and no id", cfg("--dhcp-host=printer,10.0.0.8"), []step{
			{name: "named", in: cli.withType(discoverT).with(ostr(optHostname, "printer")), typ: offerT, yiaddr: "10.0.0.8"},
			{name: "unnamed", in: other.withType(discoverT), typ: offerT, yiaddr: "10.0.0.141"},
		}},
		{"static range serves only hosts", []string{"--dhcp-range=10.0.0.0,static", "--dhcp-host=02:00:00:00:00:01,10.0.0.5", "--no-ping"}, []step{
			{name: "host", in: cli.withType(discoverT), typ: offerT, yiaddr: "10.0.0.5"},
			{name: "stranger", in: other.withType(discoverT)},
		}},
		{"infinite host lease", cfg("--dhcp-host=02:00:00:00:00:01,10.0.0.5,infinite"), []step{
			{name: "REQUEST", in: cli.withType(requestT).with(sel("10.0.0.5")...), typ: ackT,
				check: both(hasOpt(optLeaseTime, 0xff, 0xff, 0xff, 0xff), lacksOpt(optT1), lacksOpt(optT2),
					func(t *testing.T, e *Engine, _ Outbound, _ *dhcpv4.DHCPv4, _ []Action) {
						if l := leaseOf(t, e, ip("10.0.0.5")); !l.Infinite() {
							t.Errorf("lease expires %d", l.Expires)
						}
					})},
		}},
		{"host lease time beats the range's", cfg("--dhcp-host=02:00:00:00:00:01,10.0.0.5,10m"), []step{
			{name: "REQUEST", in: cli.withType(requestT).with(sel("10.0.0.5")...), typ: ackT,
				check: both(hasOpt(optLeaseTime, 0, 0, 0x02, 0x58), hasOpt(optT1, 0, 0, 0x01, 0x2c), hasOpt(optT2, 0, 0, 0x02, 0x0d))},
			{name: "a shorter time the client asks for", in: cli.withType(requestT).with(requested("10.0.0.5"), u32opt(optLeaseTime, 300)), typ: ackT,
				check: hasOpt(optLeaseTime, 0, 0, 0x01, 0x2c)},
			{name: "not under two minutes", in: cli.withType(requestT).with(requested("10.0.0.5"), u32opt(optLeaseTime, 30)), typ: ackT,
				check: hasOpt(optLeaseTime, 0, 0, 0, 120)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, newEngine(t, tc.args...), tc.steps) })
	}
}

func both(fs ...func(*testing.T, *Engine, Outbound, *dhcpv4.DHCPv4, []Action)) func(*testing.T, *Engine, Outbound, *dhcpv4.DHCPv4, []Action) {
	return func(t *testing.T, e *Engine, out Outbound, d *dhcpv4.DHCPv4, acts []Action) {
		t.Helper()
		for _, f := range fs {
			f(t, e, out, d, acts)
		}
	}
}

// TestSeveralMACs: a dhcp-host with two MACs (a laptop's wired and
// wireless interfaces) lets the address move to whichever asks.
func TestSeveralMACs(t *testing.T) {
	e := newEngine(t, cfg("--dhcp-host=02:00:00:00:00:01,02:00:00:00:00:02,10.0.0.7")...)
	if a := dora(t, e, cli, t0); a != ip("10.0.0.7") {
		t.Fatalf("first MAC got %s", a)
	}
	if a := dora(t, e, other, t0.Add(time.Minute)); a != ip("10.0.0.7") {
		t.Fatalf("second MAC got %s", a)
	}
	if l := leaseOf(t, e, ip("10.0.0.7")); !bytes.Equal(l.HWAddr, macAddr("02:00:00:00:00:02")) {
		t.Fatalf("lease belongs to %x", l.HWAddr)
	}
	if n := len(e.Leases()); n != 1 {
		t.Fatalf("%d leases, want 1", n)
	}
}

// TestClientIDIdentity is dnsmasq's FAQ: a lease belongs to the client-id
// when one is sent, else to the MAC; a boot loader that sends none and
// then the OS that sends one keep one address, static or not.
func TestClientIDIdentity(t *testing.T) {
	osID := clientID(1, 2, 0, 0, 0, 0, 1)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"static", cfg("--dhcp-host=02:00:00:00:00:01,10.0.0.5"), "10.0.0.5"},
		{"dynamic", dyn, "10.0.0.140"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, tc.args...)
			for i, m := range []msg{cli, cli.with(osID), cli, cli.with(osID)} {
				if a := dora(t, e, m, t0.Add(time.Duration(i)*time.Minute)); a != ip(tc.want) {
					t.Fatalf("boot %d got %s, want %s", i, a, tc.want)
				}
			}
			if l := leaseOf(t, e, ip(tc.want)); !bytes.Equal(l.ClientID, osID.data) {
				t.Errorf("lease client-id % x, want the OS's", l.ClientID)
			}
			if n := len(e.Leases()); n != 1 {
				t.Errorf("%d leases", n)
			}
			// Another client-id on the same MAC is another client, unless
			// a dhcp-host names the MAC (then it is the same machine).
			_, d := send(t, e, cli.withType(discoverT).with(clientID(1, 9, 9, 9)), t0.Add(time.Hour/2)).one(t)
			if (yiaddr(d) == ip(tc.want)) != (tc.name == "static") {
				t.Errorf("a different client-id was offered %s", yiaddr(d))
			}
		})
	}
}

func TestIgnoreClientID(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"dhcp-ignore-clid", cfg("--dhcp-ignore-clid")},
		{"id:* on the host", cfg("--dhcp-host=02:00:00:00:00:01,id:*,10.0.0.5")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, tc.args...)
			a := dora(t, e, cli.with(clientID(1, 2, 3)), t0)
			if b := dora(t, e, cli.with(clientID(4, 5, 6)), t0); b != a {
				t.Fatalf("second client-id got %s, first %s", b, a)
			}
			if l := leaseOf(t, e, a); l.ClientID != nil {
				t.Errorf("lease keeps client-id % x", l.ClientID)
			}
		})
	}
}

func TestStaticLeaseAvailable(t *testing.T) {
	// The client holds a dynamic lease; then a dhcp-host gives it .5.
	e := newEngine(t, cfg("--dhcp-host=02:00:00:00:00:01,10.0.0.5")...)
	e.LoadLeases([]leases.Lease{{Addr: ip("10.0.0.140"), HWType: 1, HWAddr: macAddr("02:00:00:00:00:01"), Expires: t0.Unix() + 600}})
	renew := cli.withType(requestT)
	renew.ciaddr, renew.src, renew.dst = "10.0.0.140", "10.0.0.140:68", "10.0.0.1"
	run(t, e, []step{
		{name: "SELECTING the old address is allowed (no loop)", in: cli.withType(requestT).with(sel("10.0.0.140")...), typ: ackT},
		{name: "RENEWING it is sent to DISCOVER", in: renew, typ: nakT, nakMsg: "static lease available"},
		{name: "DISCOVER offers the static address", in: cli.withType(discoverT), typ: offerT, yiaddr: "10.0.0.5"},
	})
}
