package test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// dhcpOptionsConf is a server whose options differ from every default a
// client or server could fall back on: the router is not the server, the
// DNS servers are two others, the domain is set, a site-specific option
// carries a string, and the lease time is 2h.
const dhcpOptionsConf = `port=0
interface=%IF%
bind-interfaces
dhcp-range=192.0.2.50,192.0.2.99,255.255.255.0,2h
dhcp-leasefile=%DIR%/leases
no-ping
domain=lan.test
dhcp-option=option:router,192.0.2.254
dhcp-option=option:dns-server,192.0.2.53,192.0.2.54
dhcp-option=224,"moat-custom"
`

// startDHCPServer starts moatd in l's server namespace with conf (%IF%
// replaced by the server's interface) and waits until dhcpd is up.
func startDHCPServer(t *testing.T, l *dhcpLink, conf string) *moatd {
	t.Helper()
	m := startMoatd(t, l.srv, strings.ReplaceAll(conf, "%IF%", l.srvIf), nil)
	m.waitReady(t)
	waitFor(t, 10*time.Second, "dhcpd ready", func() bool { return strings.Contains(m.out.String(), "dhcpd[") })
	return m
}

// TestDHCPRealClientsGetOptions: dhclient, busybox udhcpc and dhcpcd
// each obtain a lease in the range over a veth pair and receive the
// configured router, DNS servers, domain name, lease time and the custom
// option, one after the other from the same server.
func TestDHCPRealClientsGetOptions(t *testing.T) {
	l := newDHCPLink(t)
	m := startDHCPServer(t, l, dhcpOptionsConf)
	clients := []struct {
		name string
		run  func(*testing.T, *netns, string) clientLease
	}{
		{"udhcpc", func(t *testing.T, n *netns, i string) clientLease { return runUdhcpc(t, n, i) }},
		{"dhclient", runDhclient},
		{"dhcpcd", runDhcpcd},
	}
	lo, hi := netip.MustParseAddr("192.0.2.50"), netip.MustParseAddr("192.0.2.99")
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			got := c.run(t, l.cli, l.cliIf)
			t.Logf("%s bound %v: router %q, dns %q, domain %q, lease %q, option %d %q",
				c.name, got.addr, got.router, got.dns, got.domain, got.leaseTS, customOptionCode, got.custom)
			if got.addr.Less(lo) || hi.Less(got.addr) {
				t.Errorf("address %v outside the range %v-%v", got.addr, lo, hi)
			}
			checks := []struct{ what, got, want string }{
				{"router", got.router, "192.0.2.254"},
				{"DNS servers", strings.Join(strings.Fields(got.dns), " "), "192.0.2.53 192.0.2.54"},
				{"domain name", got.domain, "lan.test"},
				{"lease time", got.leaseTS, fmt.Sprint(2 * 3600)},
				{fmt.Sprintf("option %d", customOptionCode), got.custom, customOptionValue},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
			if t.Failed() {
				t.Logf("client environment: %v", got.env)
			}
			waitFor(t, 5*time.Second, "DHCPACK in the log", func() bool {
				return strings.Contains(m.out.String(), "DHCPACK("+l.srvIf+") "+got.addr.String())
			})
		})
	}
}
