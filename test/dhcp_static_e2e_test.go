package test

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

// setMAC gives the client end of l a fixed hardware address.
func (l *dhcpLink) setMAC(t *testing.T, mac string) {
	t.Helper()
	run(t, "ip", "-n", l.cli.name, "link", "set", l.cliIf, "down")
	run(t, "ip", "-n", l.cli.name, "link", "set", l.cliIf, "address", mac)
	run(t, "ip", "-n", l.cli.name, "link", "set", l.cliIf, "up")
}

// clientIDOpt is udhcpc's -x argument that sends option 61 with raw bytes.
func clientIDOpt(id []byte) string { return "0x3d:" + hex.EncodeToString(id) }

const staticMAC = "02:00:5e:10:00:01"

// dhcpStaticConf reserves one address by MAC and one by client-id, both
// outside the dynamic range.
const dhcpStaticConf = `port=0
interface=%IF%
bind-interfaces
dhcp-range=192.0.2.50,192.0.2.99,12h
dhcp-leasefile=%DIR%/leases
no-ping
dhcp-host=` + staticMAC + `,192.0.2.20
dhcp-host=id:moat-client-7,192.0.2.21
`

// TestDHCPStaticHost: every client on the reserved MAC gets the reserved
// address, and a client that sends the reserved client-id (from another
// MAC) gets the address reserved for that id.
func TestDHCPStaticHost(t *testing.T) {
	l := newDHCPLink(t)
	startDHCPServer(t, l, dhcpStaticConf)
	l.setMAC(t, staticMAC)
	cases := []struct {
		name string
		run  func(*testing.T) clientLease
		want string
	}{
		{"udhcpc by MAC", func(t *testing.T) clientLease { return runUdhcpc(t, l.cli, l.cliIf) }, "192.0.2.20"},
		{"dhclient by MAC", func(t *testing.T) clientLease { return runDhclient(t, l.cli, l.cliIf) }, "192.0.2.20"},
		{"dhcpcd by MAC", func(t *testing.T) clientLease { return runDhcpcd(t, l.cli, l.cliIf) }, "192.0.2.20"},
		{"udhcpc by client-id", func(t *testing.T) clientLease {
			l.setMAC(t, "02:00:5e:10:00:02")
			return runUdhcpc(t, l.cli, l.cliIf, "-x", clientIDOpt([]byte("moat-client-7")))
		}, "192.0.2.21"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.run(t).addr; got != netip.MustParseAddr(c.want) {
				t.Errorf("got %v, want the reserved %v", got, c.want)
			}
		})
	}
}

// TestDHCPBootLoaderThenOS is the scenario of dnsmasq's FAQ: a machine
// whose MAC has a static address boots through a loader that sends no
// client-id, then its OS asks again with one (01:MAC, or an RFC 4361
// DUID as dhcpcd sends), then it reboots. Each step gets the static
// address: the lease of the earlier incarnation, being on the reserved
// MAC, does not keep the address from the next one. FAQ remedy (3),
// id:* (ignore client-ids for this host), gives the same result. The
// reserved address lies inside the dynamic range here (dnsmasq allows
// that; TestDHCPStaticHost covers one outside it).
func TestDHCPBootLoaderThenOS(t *testing.T) {
	mac := []byte{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	duid := []byte{0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x04, 0x6d, 0x6f, 0x61, 0x74, 0x2d, 0x64, 0x75, 0x69, 0x64}
	steps := []struct {
		name  string
		extra []string
	}{
		{"boot loader without client-id", []string{"-C"}},
		{"OS with client-id 01:MAC", nil}, // udhcpc's default client-id
		{"OS with a DUID client-id", []string{"-C", "-x", clientIDOpt(duid)}},
		{"boot loader after reboot", []string{"-C"}},
		{"OS after reboot", []string{"-x", clientIDOpt(append([]byte{1}, mac...))}},
	}
	const static = "192.0.2.60"
	for _, host := range []string{staticMAC + "," + static, staticMAC + ",id:*," + static} {
		t.Run("dhcp-host="+host, func(t *testing.T) {
			l := newDHCPLink(t)
			conf := strings.Replace(dhcpStaticConf, "dhcp-host="+staticMAC+",192.0.2.20", "dhcp-host="+host, 1)
			m := startDHCPServer(t, l, conf)
			l.setMAC(t, staticMAC)
			for _, s := range steps {
				got := runUdhcpc(t, l.cli, l.cliIf, s.extra...).addr
				if got != netip.MustParseAddr(static) {
					t.Fatalf("%s: got %v, want the static %s\n%s", s.name, got, static, m.out.String())
				}
			}
		})
	}
}
