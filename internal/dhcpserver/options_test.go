package dhcpserver

import (
	"bytes"
	"slices"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// order checks the codes of the reply's main options area, in order.
func order(want ...uint8) func(*testing.T, *Engine, Outbound, *dhcpv4.DHCPv4, []Action) {
	return func(t *testing.T, _ *Engine, out Outbound, _ *dhcpv4.DHCPv4, _ []Action) {
		t.Helper()
		if got := optionOrder(out.Packet); !slices.Equal(got, want) {
			t.Errorf("options %v, want %v", got, want)
		}
	}
}

func field(name string, want string) func(*testing.T, *Engine, Outbound, *dhcpv4.DHCPv4, []Action) {
	return func(t *testing.T, _ *Engine, _ Outbound, d *dhcpv4.DHCPv4, _ []Action) {
		t.Helper()
		var got string
		switch name {
		case "file":
			got = d.BootFileName
		case "sname":
			got = d.ServerHostName
		case "siaddr":
			got = addr4(d.ServerIPAddr).String()
		}
		if got != want {
			t.Errorf("%s %q, want %q", name, got, want)
		}
	}
}

func leaseName(addr, want string) func(*testing.T, *Engine, Outbound, *dhcpv4.DHCPv4, []Action) {
	return func(t *testing.T, e *Engine, _ Outbound, _ *dhcpv4.DHCPv4, _ []Action) {
		t.Helper()
		if l := leaseOf(t, e, ip(addr)); l.Hostname != want {
			t.Errorf("lease name %q, want %q", l.Hostname, want)
		}
	}
}

func TestOptions(t *testing.T) {
	d := cli.withType(discoverT)
	r := cli.withType(requestT).with(sel("10.0.0.140")...)
	for _, tc := range []struct {
		name  string
		args  []string
		steps []step
	}{
		{"defaults in dnsmasq's order; netmask and broadcast unasked", dyn, []step{
			{name: "PRL 1,3,6", in: d.with(prl(1, 3, 6)), typ: offerT, check: order(53, 54, 51, 58, 59, 1, 28, 3, 6)},
			{name: "PRL 1", in: d.with(prl(1)), typ: offerT, check: order(53, 54, 51, 58, 59, 1, 28)},
			{name: "no PRL: everything", in: d, typ: offerT, check: order(53, 54, 51, 58, 59, 1, 28, 3, 6)},
		}},
		{"configured: asked for or forced, newest line first", cfg("--dhcp-option=26,1400", "--dhcp-option=42,10.0.0.5", "--dhcp-option=42,10.0.0.6",
			"--dhcp-option-force=option:ntp-server,10.0.0.7", "--dhcp-option-force=19,1"), []step{
			// dnsmasq keeps these lines newest first: the forced 42 wins,
			// and the forced 19 goes out first.
			{name: "asked", in: d.with(prl(1, 26, 42)), typ: offerT, check: both(order(53, 54, 51, 58, 59, 1, 28, 19, 42, 26), hasOpt(42, 10, 0, 0, 7))},
			{name: "not asked", in: d.with(prl(1)), typ: offerT, check: order(53, 54, 51, 58, 59, 1, 28, 19, 42)},
		}},
		{"empty value switches a default off; 0.0.0.0 is the server", cfg("--dhcp-option=3", "--dhcp-option=option:dns-server,0.0.0.0,10.0.0.53"), []step{
			{name: "DISCOVER", in: d.with(prl(1, 3, 6)), typ: offerT, check: both(lacksOpt(3), hasOpt(6, 10, 0, 0, 1, 10, 0, 0, 53))},
		}},
		{"no DNS option 6 when DNS is not on port 53", cfg("--port=0"), []step{
			{name: "DISCOVER", in: d.with(prl(6)), typ: offerT, check: lacksOpt(6)},
		}},
		{"T1 and T2 from the configuration", cfg("--dhcp-option=option:T1,1000", "--dhcp-option=59,5000"), []step{
			{name: "DISCOVER", in: d.with(prl(58, 59)), typ: offerT, check: both(hasOpt(58, 0, 0, 0x03, 0xe8), hasOpt(59, 0, 0, 0x0c, 0x4e))},
		}},
		{"domain and client name", cfg("--domain=example.com"), []step{
			{name: "OFFER has no client name", in: d.with(prl(12, 15), ostr(optHostname, "laptop")), typ: offerT,
				check: both(hasOpt(15, []byte("example.com")...), lacksOpt(12))},
			{name: "ACK does", in: r.with(prl(12, 15), ostr(optHostname, "laptop")), typ: ackT,
				check: both(hasOpt(12, []byte("laptop")...), leaseName("10.0.0.140", "laptop"))},
			{name: "a client that NUL-terminates gets NULs", in: r.with(prl(12, 15), ostr(optHostname, "laptop\x00")), typ: ackT,
				check: both(hasOpt(12, []byte("laptop\x00")...), hasOpt(15, []byte("example.com\x00")...))},
			{name: "renewing without a name keeps it", in: r.with(prl(12)), typ: ackT,
				check: both(lacksOpt(12), leaseName("10.0.0.140", "laptop"))},
		}},
		{"configured name wins", cfg("--domain=example.com", "--dhcp-host=02:00:00:00:00:01,web"), []step{
			{name: "OFFER names it when the client sent no name", in: d.with(prl(12)), typ: offerT, check: hasOpt(12, []byte("web")...)},
			{name: "not when the client sent another", in: d.with(prl(12), ostr(optHostname, "laptop")), typ: offerT, check: lacksOpt(12)},
			{name: "ACK", in: r.with(prl(12), ostr(optHostname, "laptop")), typ: ackT, check: both(hasOpt(12, []byte("web")...), leaseName("10.0.0.140", "web"))},
		}},
		{"client FQDN", cfg("--domain=example.com"), []step{
			{name: "text", in: r.with(o(optClientFQDN, append([]byte{0, 0, 0}, "laptop.example.com"...)...)), typ: ackT,
				check: both(hasOpt(81, append([]byte{3, 255, 255}, "laptop.example.com"...)...), leaseName("10.0.0.140", "laptop"))},
			{name: "wire format", in: r.with(o(optClientFQDN, 5, 0, 0, 6, 'l', 'a', 'p', 't', 'o', 'p', 0)), typ: ackT,
				check: hasOpt(81, 5, 255, 255, 6, 'l', 'a', 'p', 't', 'o', 'p', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0)},
		}},
		{"dhcp-ignore-names", cfg("--dhcp-ignore-names"), []step{
			{name: "ACK", in: r.with(prl(12), ostr(optHostname, "laptop")), typ: ackT, check: both(lacksOpt(12), leaseName("10.0.0.140", ""))},
		}},
		{"dhcp-generate-names", cfg("--dhcp-generate-names"), []step{
			{name: "ACK", in: r.with(prl(12)), typ: ackT, check: both(hasOpt(12, []byte("02-00-00-00-00-01")...), leaseName("10.0.0.140", "02-00-00-00-00-01"))},
		}},
		{"vendor options for a vendor class", cfg("--dhcp-option=vendor:PXEClient,1,0.0.0.0", "--dhcp-option=vendor:MSFT,2,1b"), []step{
			{name: "asked", in: d.with(prl(43), ostr(optVendorClass, "PXEClient:Arch:00000")), typ: offerT,
				check: both(hasOpt(43, 1, 4, 0, 0, 0, 0, 255), hasOpt(60, []byte("PXEClient:Arch:00000")...))},
			{name: "not asked", in: d.with(prl(1), ostr(optVendorClass, "PXEClient:Arch:00000")), typ: offerT, check: both(lacksOpt(43), lacksOpt(60))},
			{name: "other class", in: d.with(prl(43), ostr(optVendorClass, "udhcp 1.30")), typ: offerT, check: lacksOpt(43)},
		}},
		{"encap: and vi-encap:", cfg("--dhcp-option=encap:175,190,user", "--dhcp-option=encap:175,191,pass", "--dhcp-option=vi-encap:4491,2,hello"), []step{
			{name: "asked", in: d.with(prl(175, 125)), typ: offerT, check: both(
				hasOpt(175, 191, 4, 'p', 'a', 's', 's', 190, 4, 'u', 's', 'e', 'r', 255),
				hasOpt(125, 0, 0, 0x11, 0x8b, 7, 2, 5, 'h', 'e', 'l', 'l', 'o'))},
			{name: "not asked", in: d.with(prl(1)), typ: offerT, check: both(lacksOpt(175), lacksOpt(125))},
		}},
		{"dhcp-boot", cfg("--dhcp-boot=pxelinux.0,boothost,10.0.0.3", "--dhcp-boot=tag:efi,grubx64.efi",
			"--dhcp-match=set:efi,option:client-arch,7"), []step{
			{name: "fields", in: d.with(prl(1)), typ: offerT, check: both(field("file", "pxelinux.0"), field("sname", "boothost"), field("siaddr", "10.0.0.3"))},
			{name: "as options when asked", in: d.with(prl(66, 67)), typ: offerT,
				check: both(field("file", ""), hasOpt(67, []byte("pxelinux.0\x00")...), hasOpt(66, []byte("boothost\x00")...))},
			{name: "tagged line", in: d.with(prl(1), o(93, 0, 7)), typ: offerT, check: both(field("file", "grubx64.efi"), field("siaddr", "10.0.0.1"))},
		}},
		{"dhcp-boot with dhcp-no-override", cfg("--dhcp-boot=pxelinux.0", "--dhcp-no-override"), []step{
			{name: "asked", in: d.with(prl(67)), typ: offerT, check: both(field("file", "pxelinux.0"), lacksOpt(67))},
		}},
		{"option 67 without dhcp-boot goes in the file field unless asked", cfg("--dhcp-option=67,boot.img"), []step{
			{name: "not asked", in: d.with(prl(1)), typ: offerT, check: both(field("file", "boot.img"), lacksOpt(67))},
			{name: "asked", in: d.with(prl(67)), typ: offerT, check: both(field("file", ""), hasOpt(67, []byte("boot.img\x00")...))},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, newEngine(t, tc.args...), tc.steps) })
	}
}

// TestNameConflicts: a configured name takes the name from a client
// that supplied it; a supplied name takes it from another supplied one.
func TestNameConflicts(t *testing.T) {
	e := newEngine(t, cfg("--dhcp-host=02:00:00:00:00:03,pc")...)
	third := msg{xid: 3, mac: "02:00:00:00:00:03"}
	a := dora(t, e, cli.with(ostr(optHostname, "pc")), t0)
	b := dora(t, e, other.with(ostr(optHostname, "pc")), t0)
	if leaseOf(t, e, a).Hostname != "" || leaseOf(t, e, b).Hostname != "pc" {
		t.Fatalf("names %q %q: the newer client should have taken it", leaseOf(t, e, a).Hostname, leaseOf(t, e, b).Hostname)
	}
	c := dora(t, e, third, t0)
	if leaseOf(t, e, b).Hostname != "" || leaseOf(t, e, c).Hostname != "pc" {
		t.Fatalf("the configured host did not take its name")
	}
	a = dora(t, e, cli.with(ostr(optHostname, "pc")), t0)
	if leaseOf(t, e, a).Hostname != "" || leaseOf(t, e, c).Hostname != "pc" {
		t.Fatalf("a client name took a configured one")
	}
}

// TestOverloadAndRelayAgent: options that do not fit the client's size
// go into the file and sname fields (option 52), the relay agent option
// comes back last and unchanged.
func TestOverloadAndRelayAgent(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 200)
	// Newest first: 224 fills the options area, 225 goes to the file
	// field, 226 still fits after option 52.
	e := newEngine(t, cfg("--dhcp-option-force=226,"+string(long[:40]), "--dhcp-option-force=225,"+string(long[:100]),
		"--dhcp-option-force=224,"+string(long), "--dhcp-range=10.0.1.10,10.0.1.20,255.255.255.0")...)
	agent := o(optAgentID, 1, 3, 'e', 't', '1')
	m := cli.withType(discoverT).with(prl(1), agent)
	m.giaddr = "10.0.1.1"
	res := send(t, e, m, t0)
	out, _ := res.one(t)
	codes := optionOrder(out.Packet)
	if codes[len(codes)-1] != optAgentID {
		t.Errorf("options %v: relay agent option not last", codes)
	}
	if !slices.Contains(codes, optOverload) {
		t.Fatalf("options %v: no overload", codes)
	}
	i := bytes.Index(out.Packet[optionsStart:], []byte{optOverload, 1})
	if ov := out.Packet[optionsStart+i+2]; ov&1 == 0 {
		t.Errorf("overload %d: file field not used", ov)
	}
	if f := out.Packet[offFile:]; f[0] != 225 || f[1] != 100 || f[102] != optEnd {
		t.Errorf("file field % x, want option 225 then END", f[:104])
	}
	if want := []uint8{53, 54, 51, 58, 59, 1, 28, 224, 52, 226, 82}; !slices.Equal(codes, want) {
		t.Errorf("options %v, want %v", codes, want)
	}
	if len(out.Packet) > dhcpPacketSize {
		t.Errorf("reply of %d bytes, client takes %d", len(out.Packet), dhcpPacketSize)
	}
	if a := out.Packet[len(out.Packet)-1]; a != 0 && a != optEnd {
		t.Errorf("packet ends with %d", a)
	}
	if !bytes.Contains(out.Packet, []byte{optAgentID, 5, 1, 3, 'e', 't', '1', optEnd}) {
		t.Errorf("relay agent option not echoed verbatim")
	}
}
