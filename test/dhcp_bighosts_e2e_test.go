package test

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// bigHostsCount is the size of the dhcp-hostsfile: about 800 KB, far over
// one IPC message (64 KiB held about 1,500 hosts before the configuration
// was streamed).
const bigHostsCount = 20_000

// bigHostsFile returns n dhcp-host lines: host i has MAC
// 02:10:00:00:HH:LL and address 10.99.0.0 + 256 + i, on the server's
// 10.99.0.0/16.
func bigHostsFile(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s,%s,big%d\n", bigHostMAC(i), bigHostAddr(i), i)
	}
	return b.String()
}

func bigHostMAC(i int) string { return fmt.Sprintf("02:10:00:00:%02x:%02x", byte(i>>8), byte(i)) }

func bigHostAddr(i int) netip.Addr {
	j := i + 256
	return netip.AddrFrom4([4]byte{10, 99, byte(j >> 8), byte(j)})
}

const bigHostsConf = `port=0
interface=%IF%
dhcp-range=10.99.250.1,10.99.250.200,12h
dhcp-hostsfile=%DIR%/hosts
dhcp-leasefile=%DIR%/leases
no-ping
`

// TestDHCPBigHostsFile: with a dhcp-hostsfile of 20,000 hosts moat starts
// (the configuration reaches dhcpd streamed), and a client with one of
// the last MACs gets its fixed address; SIGHUP re-reads the file through
// the same path.
func TestDHCPBigHostsFile(t *testing.T) {
	testutil.RequireCommand(t, "busybox")
	l := newDHCPLink(t)
	run(t, "ip", "-n", l.srv.name, "addr", "add", "10.99.0.1/16", "dev", l.srvIf)
	m := startMoatd(t, l.srv, strings.ReplaceAll(bigHostsConf, "%IF%", l.srvIf), map[string]string{"hosts": bigHostsFile(bigHostsCount)})
	took := m.waitReady(t)
	t.Logf("moatd with %d dhcp-hosts ready in %v", bigHostsCount, took)
	waitFor(t, 10*time.Second, "dhcpd ready", func() bool { return strings.Contains(m.out.String(), "dhcpd[") })
	if !strings.Contains(m.out.String(), fmt.Sprintf("generation 1: %d hosts from files", bigHostsCount)) {
		t.Fatalf("the master did not read %d hosts:\n%s", bigHostsCount, m.out.String())
	}
	last := bigHostsCount - 2
	l.setMAC(t, bigHostMAC(last))
	if got := l.udhcpc(t); got != bigHostAddr(last) {
		t.Fatalf("host %d (%s) got %v, want its fixed %v", last, bigHostMAC(last), got, bigHostAddr(last))
	}

	// SIGHUP: the file is read again and streamed again; dhcpd keeps
	// serving (no restart) and the hosts still hold.
	pid := m.workers(t)["dhcpd"]
	if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the second generation", func() bool {
		return strings.Contains(m.out.String(), fmt.Sprintf("generation 2: %d hosts from files", bigHostsCount))
	})
	first := 0
	l.setMAC(t, bigHostMAC(first))
	if got := l.udhcpc(t); got != bigHostAddr(first) {
		t.Fatalf("after SIGHUP host %d got %v, want %v", first, got, bigHostAddr(first))
	}
	if now := m.workers(t)["dhcpd"]; now != pid {
		t.Fatalf("dhcpd restarted across SIGHUP (pid %d, then %d):\n%s", pid, now, m.out.String())
	}
}
