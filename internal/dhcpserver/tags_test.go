package dhcpserver

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// ntp is what --dhcp-option=tag:<tag>,42,10.0.0.N sends.
func ntp(n byte) func(*testing.T, *Engine, Outbound, *dhcpv4.DHCPv4, []Action) {
	return hasOpt(42, 10, 0, 0, n)
}

func TestTags(t *testing.T) {
	relayed := cli.withType(discoverT).with(prl(42), o(optAgentID, 1, 2, 0, 1, 2, 3, 'r', 'e', 'm'))
	relayed.giaddr = "10.0.0.254"
	for _, tc := range []struct {
		name  string
		args  []string
		steps []step
	}{
		{"interface name", cfg("--dhcp-option=tag:eth0,42,10.0.0.9"), []step{
			{name: "DISCOVER", in: cli.withType(discoverT).with(prl(42)), typ: offerT, check: ntp(9)},
		}},
		{"tag-if chains in order", cfg("--dhcp-host=02:00:00:00:00:01,set:a", "--tag-if=set:b,tag:a", "--tag-if=set:c,tag:b,tag:!x",
			"--dhcp-option=tag:c,42,10.0.0.9"), []step{
			{name: "host", in: cli.withType(discoverT).with(prl(42)), typ: offerT, check: ntp(9)},
			{name: "other", in: other.withType(discoverT).with(prl(42)), typ: offerT, check: lacksOpt(42)},
		}},
		{"dhcp-match on a value in an array", cfg("--dhcp-match=set:efi,option:client-arch,7", "--dhcp-option=tag:efi,42,10.0.0.9"), []step{
			{name: "arch 7 among others", in: cli.withType(discoverT).with(prl(42), o(93, 0, 0, 0, 7)), typ: offerT, check: ntp(9)},
			{name: "arch 0", in: cli.withType(discoverT).with(prl(42), o(93, 0, 0)), typ: offerT, check: lacksOpt(42)},
		}},
		{"dhcp-match on presence", cfg("--dhcp-match=set:ipxe,175", "--dhcp-option=tag:ipxe,42,10.0.0.9"), []step{
			{name: "present", in: cli.withType(discoverT).with(prl(42), o(175, 1, 1, 1)), typ: offerT, check: ntp(9)},
			{name: "empty is absent", in: cli.withType(discoverT).with(prl(42), o(175)), typ: offerT, check: lacksOpt(42)},
		}},
		{"dhcp-match vi-encap", cfg("--dhcp-match=set:vi,vi-encap:4491", "--dhcp-option=tag:vi,42,10.0.0.9"), []step{
			{name: "enterprise 4491", in: cli.withType(discoverT).with(prl(42), o(optVIVendor, 0, 0, 0x11, 0x8b, 4, 3, 'a', 'b', 'c')), typ: offerT, check: ntp(9)},
			{name: "another enterprise", in: cli.withType(discoverT).with(prl(42), o(optVIVendor, 0, 0, 0x11, 0x8c, 4, 3, 'a', 'b', 'c')), typ: offerT, check: lacksOpt(42)},
		}},
		{"vendor class substring", cfg("--dhcp-vendorclass=set:pxe,PXEClient", "--dhcp-option=tag:pxe,42,10.0.0.9"), []step{
			{name: "PXE", in: cli.withType(discoverT).with(prl(42), ostr(optVendorClass, "PXEClient:Arch:00000:UNDI:002001")), typ: offerT, check: ntp(9)},
			{name: "other", in: cli.withType(discoverT).with(prl(42), ostr(optVendorClass, "MSFT 5.0")), typ: offerT, check: lacksOpt(42)},
		}},
		{"user class, RFC 3004 or plain", cfg("--dhcp-userclass=set:acct,accounts", "--dhcp-option=tag:acct,42,10.0.0.9"), []step{
			{name: "RFC 3004", in: cli.withType(discoverT).with(prl(42), o(optUserClass, append([]byte{8}, "accounts"...)...)), typ: offerT, check: ntp(9)},
			{name: "plain (dhclient)", in: cli.withType(discoverT).with(prl(42), ostr(optUserClass, "accounts")), typ: offerT, check: ntp(9)},
			{name: "other", in: cli.withType(discoverT).with(prl(42), ostr(optUserClass, "sales")), typ: offerT, check: lacksOpt(42)},
		}},
		{"dhcp-mac", cfg("--dhcp-mac=set:vm,52:54:00:*:*:*", "--dhcp-option=tag:vm,42,10.0.0.9"), []step{
			{name: "VM", in: cli.withMAC("52:54:00:12:34:56").withType(discoverT).with(prl(42)), typ: offerT, check: ntp(9)},
			{name: "other", in: cli.withType(discoverT).with(prl(42)), typ: offerT, check: lacksOpt(42)},
		}},
		{"circuit and remote id", cfg("--dhcp-circuitid=set:port1,00:01", "--dhcp-remoteid=set:rem,rem", "--dhcp-range=10.0.1.10,10.0.1.20,255.255.255.0",
			"--dhcp-option=tag:port1,42,10.0.0.9", "--dhcp-option=tag:rem,option:mtu,1400"), []step{
			{name: "relayed", in: relayed.with(prl(26)), typ: offerT, check: both(ntp(9), hasOpt(26, 5, 0x78))},
		}},
		{"dhcp-ignore by tag", cfg("--dhcp-mac=set:vm,52:54:00:*:*:*", "--dhcp-ignore=tag:vm"), []step{
			{name: "VM", in: cli.withMAC("52:54:00:12:34:56").withType(discoverT)},
			{name: "other", in: cli.withType(discoverT), typ: offerT},
		}},
		{"dhcp-name-match", cfg("--dhcp-name-match=set:cam,cam*", "--dhcp-ignore=tag:cam"), []step{
			{name: "cam42", in: cli.withType(discoverT).with(ostr(optHostname, "cam42"))},
			{name: "laptop", in: cli.withType(discoverT).with(ostr(optHostname, "laptop")), typ: offerT},
		}},
		{"range tag is second class", []string{"--dhcp-range=set:lan,10.0.0.10,10.0.0.200", "--no-ping", "--dhcp-host=02:00:00:00:00:01,set:vip",
			"--dhcp-option=tag:lan,42,10.0.0.1", "--dhcp-option=tag:vip,42,10.0.0.2"}, []step{
			{name: "vip", in: cli.withType(discoverT).with(prl(42)), typ: offerT, check: ntp(2)},
			{name: "other", in: other.withType(discoverT).with(prl(42)), typ: offerT, check: ntp(1)},
		}},
		{"range tag filters", []string{"--dhcp-range=tag:known,10.0.0.10,10.0.0.20", "--dhcp-range=tag:!known,10.0.0.100,10.0.0.110", "--no-ping",
			"--dhcp-host=02:00:00:00:00:01,set:vip"}, []step{
			{name: "known", in: cli.withType(discoverT), typ: offerT, yiaddr: "10.0.0.15"},
			{name: "unknown", in: other.withType(discoverT), typ: offerT, yiaddr: "10.0.0.106"},
		}},
		{"TR-069 device identity", cfg("--dhcp-option=tag:cpewan-id,42,10.0.0.9"), []step{
			{name: "CPE", in: cli.withType(discoverT).with(prl(42), o(optVIVendorOpts, 0, 0, 0x0d, 0xe9, 6, 1, 1, 'a', 2, 1, 'b')), typ: offerT, check: ntp(9)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, newEngine(t, tc.args...), tc.steps) })
	}
}
