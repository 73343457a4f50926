package test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// dhcpLink is a server namespace and a client namespace joined by a veth
// pair: the server end has 192.0.2.1/24, the client end no address.
type dhcpLink struct {
	srv, cli     *netns
	srvIf, cliIf string
}

func newDHCPLink(t *testing.T) *dhcpLink {
	t.Helper()
	l := &dhcpLink{srv: newNetns(t), cli: newNetns(t)}
	n := nsCounter.Add(1)
	l.srvIf, l.cliIf = fmt.Sprintf("mds%d", n), fmt.Sprintf("mdc%d", n)
	run(t, "ip", "link", "add", l.srvIf, "netns", l.srv.name, "type", "veth", "peer", "name", l.cliIf, "netns", l.cli.name)
	run(t, "ip", "-n", l.srv.name, "addr", "add", "192.0.2.1/24", "dev", l.srvIf)
	run(t, "ip", "-n", l.srv.name, "link", "set", l.srvIf, "up")
	run(t, "ip", "-n", l.cli.name, "link", "set", l.cliIf, "up")
	return l
}

// udhcpc runs busybox udhcpc once in the client namespace and returns the
// address it was bound to, or fails the test.
func (l *dhcpLink) udhcpc(t *testing.T) netip.Addr {
	t.Helper()
	return l.udhcpcWith(t, 30*time.Second, "-t", "5", "-T", "2")
}

// udhcpcWith is udhcpc with its own time limit and extra arguments (the
// tries, a requested address).
func (l *dhcpLink) udhcpcWith(t *testing.T, limit time.Duration, extra ...string) netip.Addr {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	// The script prints the lease and configures nothing.
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"LEASE ip=$ip\"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// -q: quit after the lease; -n: fail if none.
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	args := append([]string{"netns", "exec", l.cli.name, "busybox", "udhcpc", "-i", l.cliIf, "-n", "-q", "-f", "-s", script}, extra...)
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "LEASE ip="); ok {
			a, err := netip.ParseAddr(strings.TrimSpace(rest))
			if err != nil {
				t.Fatalf("udhcpc printed %q: %v", line, err)
			}
			return a
		}
	}
	t.Fatalf("udhcpc bound no address:\n%s", out)
	return netip.Addr{}
}

const dhcpConf = `port=0
interface=%IF%
bind-interfaces
dhcp-range=192.0.2.50,192.0.2.99,12h
dhcp-leasefile=%LEASES%/leases
no-ping
`

// leaseLine returns the dnsmasq leases file line for addr, "" if none.
func leaseLine(t *testing.T, path string, addr netip.Addr) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && f[2] == addr.String() {
			return line
		}
	}
	return ""
}

// TestDHCPUdhcpcLeaseSurvivesKill: busybox udhcpc gets an address in the
// range over a veth pair; the leases file holds it in dnsmasq's format;
// after kill -9 of the master a new master loads it from the journal and
// gives the client the same address again.
func TestDHCPUdhcpcLeaseSurvivesKill(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and veth pairs")
	testutil.RequireCommand(t, "busybox")
	l := newDHCPLink(t)
	leaseDir := t.TempDir() // outlives the first master
	conf := strings.NewReplacer("%IF%", l.srvIf, "%LEASES%", leaseDir).Replace(dhcpConf)
	m := startMoatd(t, l.srv, conf, nil)
	m.waitReady(t)
	waitFor(t, 10*time.Second, "dhcpd ready", func() bool { return strings.Contains(m.out.String(), "dhcpd[") })

	addr := l.udhcpc(t)
	lo, hi := netip.MustParseAddr("192.0.2.50"), netip.MustParseAddr("192.0.2.99")
	if addr.Less(lo) || hi.Less(addr) {
		t.Fatalf("udhcpc got %v, outside the range %v-%v", addr, lo, hi)
	}
	waitFor(t, 5*time.Second, "DHCPACK in the log", func() bool {
		return strings.Contains(m.out.String(), "DHCPACK("+l.srvIf+") "+addr.String())
	})
	leases := filepath.Join(leaseDir, "leases")
	var line string
	waitFor(t, 10*time.Second, "lease in the leases file", func() bool {
		line = leaseLine(t, leases, addr)
		return line != ""
	})
	f := strings.Fields(line) // expiry MAC IP hostname client-id
	if len(f[1]) != len("00:00:00:00:00:00") || f[3] != "*" {
		t.Errorf("leases file line %q: want a MAC and no host name", line)
	}

	// The ACK left only after the journal fsync: kill -9 loses nothing.
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-m.exited
	if err := os.Remove(leases); err != nil {
		t.Fatal(err) // the journal alone must bring the lease back
	}
	m2 := startMoatd(t, l.srv, conf, nil)
	m2.waitReady(t)
	if !strings.Contains(m2.out.String(), ": 1 leases") {
		t.Errorf("the new master did not load the lease:\n%s", m2.out.String())
	}
	waitFor(t, 10*time.Second, "lease back in the leases file", func() bool { return leaseLine(t, leases, addr) != "" })
	if again := l.udhcpc(t); again != addr {
		t.Errorf("after restart the client got %v, want its lease %v", again, addr)
	}
}
