package test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// TestDHCPNameFromLeaseOutsideRange: a leases file (dnsmasq's, or moat's
// before the range changed) holds a lease outside every dhcp-range under
// the name a client now asks for. The new lease takes the name, which
// rewrites the old lease without it; the master must accept that rewrite,
// or it refuses the whole commit and the client never gets its ACK.
func TestDHCPNameFromLeaseOutsideRange(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and veth pairs")
	testutil.RequireCommand(t, "busybox")
	l := newDHCPLink(t)
	leaseDir := t.TempDir()
	expiry := time.Now().Add(time.Hour).Unix()
	old := []byte(strings.Join([]string{
		strconv.FormatInt(expiry, 10), "02:00:00:00:09:09", "10.9.9.9", "vm1", "*",
	}, " ") + "\n")
	if err := os.WriteFile(filepath.Join(leaseDir, "leases"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("%IF%", l.srvIf, "%LEASES%", leaseDir).Replace(dhcpConf)
	m := startMoatd(t, l.srv, conf, nil)
	m.waitReady(t)
	waitFor(t, 10*time.Second, "dhcpd ready", func() bool { return strings.Contains(m.out.String(), "dhcpd[") })

	addr := l.udhcpcWith(t, 30*time.Second, "-t", "5", "-T", "2", "-x", "hostname:vm1")
	if strings.Contains(m.out.String(), "refused") {
		t.Errorf("a lease commit was refused:\n%s", m.out.String())
	}
	leases := filepath.Join(leaseDir, "leases")
	waitFor(t, 10*time.Second, "the new lease named vm1, the old one without a name", func() bool {
		data, _ := os.ReadFile(leases)
		text := string(data)
		return strings.Contains(text, " "+addr.String()+" vm1 ") && strings.Contains(text, " 10.9.9.9 * ")
	})
}
