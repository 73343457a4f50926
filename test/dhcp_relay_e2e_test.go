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

// dhcpRelayConf has a range on the server's own subnet and one on the
// relay's client-side subnet, which only relayed requests (giaddr) can
// select.
const dhcpRelayConf = `port=0
interface=%IF%
bind-interfaces
dhcp-range=192.0.2.50,192.0.2.99,12h
dhcp-range=198.51.100.50,198.51.100.99,255.255.255.0,12h
dhcp-leasefile=%DIR%/leases
no-ping
`

// TestDHCPRelayedClient: server, relay and client each in a namespace of
// their own. The relay (ISC dhcrelay) has 192.0.2.2 towards the server
// and 198.51.100.1 towards the client; the server routes the relay's
// client subnet back through it. The client's request arrives with
// giaddr 198.51.100.1, so moat must lease from the 198.51.100.0/24 range
// and answer the relay, which hands the lease to the client.
func TestDHCPRelayedClient(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and veth pairs")
	testutil.RequireCommand(t, "dhcrelay")
	srv, relay, cli := newNetns(t), newNetns(t), newNetns(t)
	n := nsCounter.Add(1)
	srvIf, upIf := fmt.Sprintf("mrs%d", n), fmt.Sprintf("mru%d", n)
	downIf, cliIf := fmt.Sprintf("mrd%d", n), fmt.Sprintf("mrc%d", n)
	run(t, "ip", "link", "add", srvIf, "netns", srv.name, "type", "veth", "peer", "name", upIf, "netns", relay.name)
	run(t, "ip", "link", "add", downIf, "netns", relay.name, "type", "veth", "peer", "name", cliIf, "netns", cli.name)
	for _, c := range [][]string{
		{"-n", srv.name, "addr", "add", "192.0.2.1/24", "dev", srvIf},
		{"-n", srv.name, "link", "set", srvIf, "up"},
		{"-n", srv.name, "route", "add", "198.51.100.0/24", "via", "192.0.2.2"},
		{"-n", relay.name, "addr", "add", "192.0.2.2/24", "dev", upIf},
		{"-n", relay.name, "addr", "add", "198.51.100.1/24", "dev", downIf},
		{"-n", relay.name, "link", "set", upIf, "up"},
		{"-n", relay.name, "link", "set", downIf, "up"},
		{"-n", cli.name, "link", "set", cliIf, "up"},
	} {
		run(t, "ip", c...)
	}

	// Issue 4: with a dhcp-script, the relayed lease's "add" names the
	// relay (giaddr) and the circuit id dhcrelay -a adds (its interface).
	scriptDir, script := scriptRecorder(t)
	m := startMoatd(t, srv, strings.ReplaceAll(dhcpRelayConf, "%IF%", srvIf)+"dhcp-script="+script+"\n", nil)
	m.waitReady(t)
	waitFor(t, 10*time.Second, "dhcpd ready", func() bool { return strings.Contains(m.out.String(), "dhcpd[") })

	// dhcrelay in the foreground (-d), its pid file in a temporary
	// directory; the namespace's clean-up ends it with everything else.
	relayCmd := relay.command("dhcrelay", "-4", "-d", "-pf", filepath.Join(t.TempDir(), "dhcrelay.pid"),
		"-a", "-id", downIf, "-iu", upIf, "192.0.2.1")
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
	waitFor(t, 10*time.Second, "dhcrelay listening", func() bool {
		return strings.Contains(relayOut.String(), "Sending on")
	})

	got := runUdhcpc(t, cli, cliIf)
	lo, hi := netip.MustParseAddr("198.51.100.50"), netip.MustParseAddr("198.51.100.99")
	if got.addr.Less(lo) || hi.Less(got.addr) {
		t.Errorf("relayed client got %v, want one of the relay subnet's range %v-%v", got.addr, lo, hi)
	}
	if got.env["subnet"] != "255.255.255.0" {
		t.Errorf("relayed client got netmask %q, want the range's 255.255.255.0", got.env["subnet"])
	}
	waitFor(t, 5*time.Second, "relayed DHCPACK in the log", func() bool {
		return strings.Contains(m.out.String(), "DHCPACK("+srvIf+") "+got.addr.String())
	})
	waitEvent(t, scriptDir, "add ")
	if txn := recorded(t, scriptDir, "txn"); len(txn) == 0 || !strings.HasPrefix(txn[0], "add|") ||
		!strings.HasSuffix(txn[0], "|"+srvIf+"|unset|198.51.100.1|"+downIf) {
		t.Errorf("relayed add's transaction %q, want interface %s, relay 198.51.100.1, circuit id %s", txn, srvIf, downIf)
	}
}
