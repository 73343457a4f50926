package dhcpserver

import (
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestDestination is RFC 2131 section 4.1's table of where a server's
// reply goes, with dnsmasq's refinements (the request's source port, a
// DHCPINFORM's source address) and moat's AF_PACKET condition.
func TestDestination(t *testing.T) {
	for _, tc := range []struct {
		name     string
		giaddr   string
		ciaddr   string
		bcast    bool
		htype    uint8
		mac      string
		yiaddr   string
		inform   bool
		src      string
		delivery Delivery
		dest     string
	}{
		{name: "relayed: to the relay's server port", giaddr: "192.168.1.1", ciaddr: "192.168.1.50", bcast: true, yiaddr: "192.168.1.50",
			delivery: Relay, dest: "192.168.1.1:67"},
		{name: "client with an address: unicast to its source", ciaddr: "10.0.0.50", src: "10.0.0.50:68", yiaddr: "10.0.0.50",
			delivery: Unicast, dest: "10.0.0.50:68"},
		{name: "its source port is believed", ciaddr: "10.0.0.50", src: "10.0.0.50:1068", delivery: Unicast, dest: "10.0.0.50:1068"},
		{name: "a source that is not ciaddr is not", ciaddr: "10.0.0.50", src: "10.0.0.9:1068", delivery: Unicast, dest: "10.0.0.50:68"},
		{name: "ciaddr beats the broadcast bit", ciaddr: "10.0.0.50", bcast: true, src: "10.0.0.50:68", delivery: Unicast, dest: "10.0.0.50:68"},
		{name: "no source port", ciaddr: "10.0.0.50", src: "10.0.0.50:0", delivery: Unicast, dest: "10.0.0.50:68"},
		{name: "INFORM: always its source", ciaddr: "10.0.0.50", src: "10.0.0.9:1068", inform: true, delivery: Unicast, dest: "10.0.0.9:1068"},
		{name: "broadcast bit: broadcast", bcast: true, yiaddr: "10.0.0.50", delivery: Broadcast, dest: "255.255.255.255:68"},
		{name: "no address, no broadcast bit: to yiaddr by AF_PACKET", yiaddr: "10.0.0.50", delivery: Raw, dest: "10.0.0.50:68"},
		{name: "not Ethernet: broadcast", htype: 6, yiaddr: "10.0.0.50", delivery: Broadcast, dest: "255.255.255.255:68"},
		{name: "no hardware address: broadcast", htype: 1, mac: "none", yiaddr: "10.0.0.50", delivery: Broadcast, dest: "255.255.255.255:68"},
		{name: "no yiaddr: broadcast", delivery: Broadcast, dest: "255.255.255.255:68"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &request{htype: 1, chaddr: macAddr("02:00:00:00:00:01"), giaddr: maybeIP(tc.giaddr)}
			if tc.htype != 0 {
				r.htype = tc.htype
			}
			if tc.mac == "none" {
				r.chaddr = nil
			}
			if tc.src != "" {
				r.in.Src = addrPort(tc.src)
			}
			d, dest := destination(r, maybeIP(tc.ciaddr), maybeIP(tc.yiaddr), tc.bcast, tc.inform)
			if d != tc.delivery || dest.String() != tc.dest {
				t.Errorf("got %s to %s, want %s to %s", d, dest, tc.delivery, tc.dest)
			}
		})
	}
}

func maybeIP(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return ip(s)
}

// TestReplyDelivery checks the destination of whole exchanges: relayed
// replies, NAKs (broadcast, with the bit set for the relay), the Raw
// reply's link-layer address, and dhcp-broadcast.
func TestReplyDelivery(t *testing.T) {
	args := []string{"--dhcp-range=10.0.0.10,10.0.0.200,1h", "--dhcp-range=192.168.1.10,192.168.1.100,255.255.255.0,1h", "--no-ping"}
	relayed := cli.withType(discoverT)
	relayed.giaddr = "192.168.1.1"
	relayedNak := cli.withType(requestT).with(requested("10.0.0.50"))
	relayedNak.giaddr = "192.168.1.1"
	run(t, newEngine(t, append(args, "--dhcp-authoritative")...), []step{
		{name: "OFFER through a relay", in: relayed, typ: offerT, delivery: Relay, dest: "192.168.1.1:67",
			check: func(t *testing.T, _ *Engine, out Outbound, d *dhcpv4.DHCPv4, _ []Action) {
				if a := yiaddr(d); a.Less(ip("192.168.1.10")) || ip("192.168.1.100").Less(a) {
					t.Errorf("yiaddr %s not from the relay's range", yiaddr(d))
				}
				if out.Src != ip("10.0.0.1") || addr4(d.ServerIdentifier()) != ip("10.0.0.1") {
					t.Errorf("server id %s, source %s: want the interface's address", d.ServerIdentifier(), out.Src)
				}
				if r := d.Router(); len(r) != 1 || addr4(r[0]) != ip("192.168.1.1") {
					t.Errorf("router %v, want the relay", r)
				}
			}},
		{name: "NAK through a relay", in: relayedNak, typ: nakT, delivery: Relay, dest: "192.168.1.1:67",
			check: func(t *testing.T, _ *Engine, _ Outbound, d *dhcpv4.DHCPv4, _ []Action) {
				if !d.IsBroadcast() {
					t.Error("a NAK for a relay must have the broadcast bit")
				}
			}},
		{name: "Raw OFFER goes to the client's MAC", in: cli.withType(discoverT), typ: offerT, delivery: Raw, dest: "10.0.0.140:68",
			check: func(t *testing.T, _ *Engine, out Outbound, _ *dhcpv4.DHCPv4, _ []Action) {
				if out.HWAddr.String() != "02:00:00:00:00:01" || out.IfIndex != eth0.Index || out.Src != ip("10.0.0.1") {
					t.Errorf("raw reply to %s on %d from %s", out.HWAddr, out.IfIndex, out.Src)
				}
			}},
	})
	run(t, newEngine(t, append(args, "--dhcp-broadcast")...), []step{
		{name: "dhcp-broadcast", in: cli.withType(discoverT), typ: offerT, delivery: Broadcast,
			check: func(t *testing.T, _ *Engine, _ Outbound, d *dhcpv4.DHCPv4, _ []Action) {
				if !d.IsBroadcast() {
					t.Error("broadcast bit not set")
				}
			}},
	})
	run(t, newEngine(t, append(args, "--dhcp-broadcast=tag:eth1")...), []step{
		{name: "dhcp-broadcast for another tag", in: cli.withType(discoverT), typ: offerT, delivery: Raw},
	})
}
