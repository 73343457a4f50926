package test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// TestDHCPRelayReplyRouted: the relay's requests arrive on the server's
// DHCP interface, but the server's route back to the relay's client
// subnet goes out of another interface, through a router (asymmetric
// routing). Replies to the relay must follow the routing table, as
// dnsmasq's do, not leave by the interface the request came in on.
//
//	cli --- relay(downIf 198.51.100.1; bridge br 192.0.2.2) --- srvIf 192.0.2.1 [server]
//	                          br --- router r1 192.0.2.3, r0 203.0.113.2 --- srvB 203.0.113.1 [server]
//
// The server routes 198.51.100.0/24 via 203.0.113.2; the relay answers
// ARP only on the interface that holds the address asked for, so a reply
// pushed out of srvIf towards 198.51.100.1 finds nobody.
func TestDHCPRelayReplyRouted(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and veth pairs")
	testutil.RequireCommand(t, "dhcrelay")
	testutil.RequireCommand(t, "busybox")
	srv, relay, router, cli := newNetns(t), newNetns(t), newNetns(t), newNetns(t)
	n := nsCounter.Add(1)
	name := func(s string) string { return fmt.Sprintf("mq%s%d", s, n) }
	srvIf, srvB, br, down, cliIf := name("s"), name("b"), name("br"), name("d"), name("c")
	for _, c := range [][]string{
		{"link", "add", srvIf, "netns", srv.name, "type", "veth", "peer", "name", name("pa"), "netns", relay.name},
		{"link", "add", srvB, "netns", srv.name, "type", "veth", "peer", "name", name("r0"), "netns", router.name},
		{"link", "add", name("r1"), "netns", router.name, "type", "veth", "peer", "name", name("pb"), "netns", relay.name},
		{"link", "add", down, "netns", relay.name, "type", "veth", "peer", "name", cliIf, "netns", cli.name},
		{"-n", relay.name, "link", "add", br, "type", "bridge"},
		{"-n", relay.name, "link", "set", name("pa"), "master", br},
		{"-n", relay.name, "link", "set", name("pb"), "master", br},
		{"-n", srv.name, "addr", "add", "192.0.2.1/24", "dev", srvIf},
		{"-n", srv.name, "addr", "add", "203.0.113.1/24", "dev", srvB},
		{"-n", router.name, "addr", "add", "203.0.113.2/24", "dev", name("r0")},
		{"-n", router.name, "addr", "add", "192.0.2.3/24", "dev", name("r1")},
		{"-n", relay.name, "addr", "add", "192.0.2.2/24", "dev", br},
		{"-n", relay.name, "addr", "add", "198.51.100.1/24", "dev", down},
	} {
		run(t, "ip", c...)
	}
	for _, l := range []struct{ ns, dev string }{{srv.name, srvIf}, {srv.name, srvB}, {router.name, name("r0")}, {router.name, name("r1")},
		{relay.name, name("pa")}, {relay.name, name("pb")}, {relay.name, br}, {relay.name, down}, {cli.name, cliIf}} {
		run(t, "ip", "-n", l.ns, "link", "set", l.dev, "up")
	}
	run(t, "ip", "-n", srv.name, "route", "add", "198.51.100.0/24", "via", "203.0.113.2")
	run(t, "ip", "-n", router.name, "route", "add", "198.51.100.0/24", "via", "192.0.2.2")
	run(t, "ip", "-n", relay.name, "route", "add", "203.0.113.0/24", "via", "192.0.2.3")
	run(t, "ip", "netns", "exec", router.name, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	run(t, "ip", "netns", "exec", relay.name, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore")
	// The way back works before the server starts.
	waitFor(t, 10*time.Second, "the server reaches the relay's client side through the router", func() bool {
		return srv.command("busybox", "ping", "-c", "1", "-W", "1", "-I", "203.0.113.1", "198.51.100.1").Run() == nil
	})

	m := startMoatd(t, srv, strings.ReplaceAll(dhcpRelayConf, "%IF%", srvIf), nil)
	m.waitReady(t)
	waitFor(t, 10*time.Second, "dhcpd ready", func() bool { return strings.Contains(m.out.String(), "dhcpd[") })
	relayCmd := relay.command("dhcrelay", "-4", "-d", "-pf", filepath.Join(t.TempDir(), "dhcrelay.pid"),
		"-id", down, "-iu", br, "192.0.2.1")
	var relayOut testutil.SyncBuffer
	relayCmd.Stdout, relayCmd.Stderr = &relayOut, &relayOut
	if err := relayCmd.Start(); err != nil {
		t.Fatalf("start dhcrelay: %v", err)
	}
	t.Cleanup(func() {
		_ = relayCmd.Process.Kill()
		_ = relayCmd.Wait()
		if t.Failed() {
			t.Logf("dhcrelay output:\n%s", relayOut.String())
		}
	})
	waitFor(t, 10*time.Second, "dhcrelay listening", func() bool { return strings.Contains(relayOut.String(), "Sending on") })

	got := runUdhcpc(t, cli, cliIf)
	if !netip.MustParsePrefix("198.51.100.0/24").Contains(got.addr) {
		t.Fatalf("relayed client got %v, want 198.51.100.x", got.addr)
	}
}
