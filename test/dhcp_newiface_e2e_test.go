package test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// addDHCPLink adds to srv a veth pair whose server end srvIf (with addr)
// stays in srv and whose client end goes to a new client namespace, as a
// bridge or veth that libvirt or Incus creates while moat runs.
func addDHCPLink(t *testing.T, srv *netns, srvIf, addr string) *dhcpLink {
	t.Helper()
	l := &dhcpLink{srv: srv, cli: newNetns(t), srvIf: srvIf, cliIf: srvIf + "c"}
	run(t, "ip", "link", "add", l.srvIf, "netns", srv.name, "type", "veth", "peer", "name", l.cliIf, "netns", l.cli.name)
	run(t, "ip", "-n", srv.name, "addr", "add", addr, "dev", l.srvIf)
	run(t, "ip", "-n", srv.name, "link", "set", l.srvIf, "up")
	run(t, "ip", "-n", l.cli.name, "link", "set", l.cliIf, "up")
	return l
}

const newIfaceConf = `port=0
%INTERFACES%
dhcp-range=192.0.2.50,192.0.2.99,12h
dhcp-range=198.51.100.50,198.51.100.99,12h
dhcp-leasefile=%DIR%/leases
no-ping
`

// TestDHCPInterfaceAppears: moat starts with a dhcp-range for a network
// no interface has yet; the interface is created afterwards (named by
// interface=, or with no interface= at all) and a client on it gets a
// lease without a restart of dhcpd. When the interface is deleted, a
// client on the other link is still served, by the same dhcpd.
func TestDHCPInterfaceAppears(t *testing.T) {
	testutil.RequireCommand(t, "busybox")
	for _, tc := range []struct {
		name  string
		named bool // interface= names both links
	}{
		{"named by interface=", true},
		{"no interface=", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := newDHCPLink(t)
			// The later link's name is known before it exists.
			later := fmt.Sprintf("mdn%d", nsCounter.Add(1))
			interfaces := ""
			if tc.named {
				interfaces = "interface=" + first.srvIf + "\ninterface=" + later
			}
			m := startMoatd(t, first.srv, strings.ReplaceAll(newIfaceConf, "%INTERFACES%", interfaces), nil)
			m.waitReady(t)
			waitFor(t, 10*time.Second, "dhcpd ready", func() bool { return strings.Contains(m.out.String(), "dhcpd[") })
			pid := m.workers(t)["dhcpd"]
			if a := first.udhcpc(t); !netip.MustParsePrefix("192.0.2.0/24").Contains(a) {
				t.Fatalf("client on the first link got %v", a)
			}

			l := addDHCPLink(t, first.srv, later, "198.51.100.1/24")
			waitFor(t, 10*time.Second, "dhcpd serving the new interface", func() bool {
				return strings.Contains(m.out.String(), "]: interface "+l.srvIf+": served") // dhcpd's line
			})
			if a := l.udhcpc(t); !netip.MustParsePrefix("198.51.100.0/24").Contains(a) {
				t.Fatalf("client on the new link got %v, want 198.51.100.x", a)
			}

			run(t, "ip", "-n", first.srv.name, "link", "del", l.srvIf)
			waitFor(t, 10*time.Second, "dhcpd dropping the deleted interface", func() bool {
				return strings.Contains(m.out.String(), "]: interface "+l.srvIf+": gone")
			})
			if a := first.udhcpc(t); !netip.MustParsePrefix("192.0.2.0/24").Contains(a) {
				t.Fatalf("after the deletion the client on the first link got %v", a)
			}
			if now := m.workers(t)["dhcpd"]; now != pid {
				t.Fatalf("dhcpd restarted (pid %d, then %d):\n%s", pid, now, m.out.String())
			}
		})
	}
}
