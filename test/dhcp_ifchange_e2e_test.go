package test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

const ifChangeConf = `port=0
interface=%IF%
bind-interfaces
dhcp-range=192.0.2.50,192.0.2.99,12h
dhcp-range=198.51.100.50,198.51.100.99,12h
dhcp-leasefile=%LEASES%/leases
no-ping
`

// TestDHCPInterfaceAddressChange: the server's interface changes its
// address after start (192.0.2.1/24 replaced by 198.51.100.1/24); the
// master tells dhcpd, and the next client is served from the range of
// the new network, with the new address as server identifier.
func TestDHCPInterfaceAddressChange(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and veth pairs")
	testutil.RequireCommand(t, "busybox")
	l := newDHCPLink(t)
	conf := strings.NewReplacer("%IF%", l.srvIf, "%LEASES%", t.TempDir()).Replace(ifChangeConf)
	m := startMoatd(t, l.srv, conf, nil)
	m.waitReady(t)
	waitFor(t, 10*time.Second, "dhcpd ready", func() bool { return strings.Contains(m.out.String(), "dhcpd[") })
	if a := l.udhcpc(t); !netip.MustParsePrefix("192.0.2.0/24").Contains(a) {
		t.Fatalf("before the change the client got %v, want 192.0.2.x", a)
	}
	run(t, "ip", "-n", l.srv.name, "addr", "del", "192.0.2.1/24", "dev", l.srvIf)
	run(t, "ip", "-n", l.srv.name, "addr", "add", "198.51.100.1/24", "dev", l.srvIf)
	waitFor(t, 10*time.Second, "dhcpd told of the new address", func() bool {
		return strings.Contains(m.out.String(), "]: interface "+l.srvIf+": addresses now [198.51.100.1/24]") // dhcpd's line
	})
	if a := l.udhcpc(t); !netip.MustParsePrefix("198.51.100.0/24").Contains(a) {
		t.Fatalf("after the change the client got %v, want 198.51.100.x\n%s", a, m.out.String())
	}
}
