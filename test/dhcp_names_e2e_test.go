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

// Lease names in DNS (issue 4): a DHCP client's host name answers A and
// PTR through moat's DNS while its lease lives, as dnsmasq's does.

const dhcpNamesConf = `interface=%IF%
bind-interfaces
no-resolv
no-hosts
addn-hosts=%DIR%/hosts
domain=lan
dhcp-ttl=30
dhcp-range=192.0.2.50,192.0.2.99,12h
dhcp-leasefile=%DIR%/leases
no-ping
`

// udhcpcScript writes udhcpc's event script: it configures the address
// (a DHCPRELEASE is sent from it, unicast) and prints the lease.
func udhcpcScript(t *testing.T) string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "script")
	text := `#!/bin/sh
case "$1" in
deconfig) ip addr flush dev "$interface" ;;
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	echo "LEASE ip=$ip" ;;
esac
exit 0
`
	if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// leaseOf returns the address udhcpc's output says it was bound to.
func leaseOf(out string) (netip.Addr, bool) {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "LEASE ip="); ok {
			a, err := netip.ParseAddr(strings.TrimSpace(rest))
			return a, err == nil
		}
	}
	return netip.Addr{}, false
}

// udhcpcNamed runs busybox udhcpc once in the client namespace with the
// host name option (12) set to name and returns the address it was bound
// to; udhcpc quits with the lease kept.
func (l *dhcpLink) udhcpcNamed(t *testing.T, name string) netip.Addr {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", l.cli.name, "busybox", "udhcpc", "-i", l.cliIf,
		"-n", "-q", "-f", "-t", "5", "-T", "2", "-s", udhcpcScript(t), "-x", "hostname:"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
	a, ok := leaseOf(string(out))
	if !ok {
		t.Fatalf("udhcpc bound no address:\n%s", out)
	}
	return a
}

// udhcpcReleasing is udhcpcNamed for a client that stays (busybox's -q
// leaves before the lease counts as bound, so -R would release nothing):
// once bound it is stopped with SIGTERM and, with -R, releases its
// lease on the way out.
func (l *dhcpLink) udhcpcReleasing(t *testing.T, name string) netip.Addr {
	t.Helper()
	var out testutil.SyncBuffer
	cmd := exec.Command("ip", "netns", "exec", l.cli.name, "busybox", "udhcpc", "-i", l.cliIf,
		"-n", "-f", "-R", "-t", "5", "-T", "2", "-s", udhcpcScript(t), "-x", "hostname:"+name)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	var a netip.Addr
	waitFor(t, 20*time.Second, "udhcpc bound", func() bool {
		var ok bool
		a, ok = leaseOf(out.String())
		return ok
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		exited <- nil // for the deferred wait
	case <-time.After(10 * time.Second):
		t.Fatalf("udhcpc did not exit on SIGTERM:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "unicasting a release") {
		t.Fatalf("udhcpc sent no release:\n%s", out.String())
	}
	return a
}

// setClientMAC gives the client end of the link another MAC address, so
// that the next udhcpc is another client.
func (l *dhcpLink) setClientMAC(t *testing.T, mac string) {
	t.Helper()
	run(t, "ip", "-n", l.cli.name, "link", "set", "dev", l.cliIf, "address", mac)
}

// short asks moat (at 192.0.2.1) one question and returns dig +short's
// lines, space-joined.
func short(n *netns, args ...string) string {
	out := n.dig(append([]string{"@192.0.2.1", "+short"}, args...)...)
	return strings.Join(strings.Fields(out), " ")
}

// TestDHCPLeaseNamesInDNS: udhcpc's host name answers A for the name and
// name.lan and PTR with name.lan; a restarted dnsd answers them again; a
// name addn-hosts gives another address is refused with dnsmasq's log
// line (the qualified name, which the hosts file does not have, is given,
// as dnsmasq does); "localhost" is refused; a release takes the names
// away; a lease imported from a dnsmasq leases file answers at start and
// is gone when it expires.
func TestDHCPLeaseNamesInDNS(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and veth pairs")
	testutil.RequireCommand(t, "busybox")
	testutil.RequireCommand(t, "dig")
	l := newDHCPLink(t)
	soon := time.Now().Unix() + 6
	files := map[string]string{
		"hosts": "192.0.2.9 taken\n",
		// expiry MAC IP hostname client-id, as dnsmasq writes it.
		"leases": fmt.Sprintf("%d 02:00:00:00:00:99 192.0.2.77 shortlived *\n", soon),
	}
	// No IPv6 on the server end: a link-local address still tentative
	// (DAD) cannot be bound, and the DNS part here is IPv4.
	run(t, "ip", "netns", "exec", l.srv.name, "sysctl", "-q", "-w", "net.ipv6.conf."+l.srvIf+".disable_ipv6=1")
	conf := strings.ReplaceAll(dhcpNamesConf, "%IF%", l.srvIf)
	m := startMoatd(t, l.srv, conf, files)
	m.waitReady(t)

	// The imported lease answers from the start, until it expires.
	waitFor(t, 5*time.Second, "shortlived.lan from the imported lease", func() bool {
		return short(l.srv, "shortlived.lan") == "192.0.2.77"
	})

	l.setClientMAC(t, "02:00:00:00:00:01")
	addr := l.udhcpcNamed(t, "laptop")
	waitFor(t, 2*time.Second, "laptop.lan in DNS", func() bool { return short(l.srv, "laptop.lan") == addr.String() })
	if got := short(l.srv, "laptop"); got != addr.String() {
		t.Errorf("laptop: %q, want %v", got, addr)
	}
	if got := short(l.srv, "-x", addr.String()); got != "laptop.lan." {
		t.Errorf("PTR %v: %q, want laptop.lan.", addr, got)
	}
	ttl := strings.Fields(l.srv.dig("@192.0.2.1", "+noall", "+answer", "laptop.lan"))
	if len(ttl) < 2 || ttl[1] != "30" {
		t.Errorf("laptop.lan answer %q: want TTL 30 (dhcp-ttl)", ttl)
	}

	// A dnsd killed and restarted by the master gets the names again.
	dnsd := m.workers(t)["dnsd"]
	if dnsd == 0 {
		t.Fatal("no dnsd worker")
	}
	if err := syscall.Kill(dnsd, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "laptop.lan from a restarted dnsd", func() bool {
		w := m.workers(t)["dnsd"]
		return w != 0 && w != dnsd && short(l.srv, "laptop.lan") == addr.String()
	})

	// A name the hosts file has with another address.
	l.setClientMAC(t, "02:00:00:00:00:02")
	taken := l.udhcpcNamed(t, "taken")
	if taken == addr {
		t.Fatalf("two clients got %v", taken)
	}
	waitFor(t, 2*time.Second, "taken.lan in DNS", func() bool { return short(l.srv, "taken.lan") == taken.String() })
	if got := short(l.srv, "taken"); got != "192.0.2.9" {
		t.Errorf("taken: %q, want the hosts file's 192.0.2.9", got)
	}
	hostsPath := filepath.Join(m.dir, "hosts")
	line := fmt.Sprintf("not giving name taken to the DHCP lease of %v because the name exists in %s with address 192.0.2.9", taken, hostsPath)
	if n := strings.Count(m.out.String(), line); n != 1 {
		t.Errorf("log has %q %d times, want once", line, n)
	}

	// A reserved name is never given (dnsmasq with no-hosts would).
	l.setClientMAC(t, "02:00:00:00:00:03")
	local := l.udhcpcNamed(t, "localhost")
	waitFor(t, 2*time.Second, "the refusal of localhost in the log", func() bool {
		return strings.Contains(m.out.String(), fmt.Sprintf("not giving name localhost to the DHCP lease of %v because the name is reserved", local))
	})
	if got := short(l.srv, "localhost.lan"); got != "" {
		t.Errorf("localhost.lan: %q, want no answer", got)
	}

	// The expired imported lease has left the DNS.
	waitFor(t, 15*time.Second, "shortlived.lan gone after its lease expired", func() bool {
		return short(l.srv, "shortlived.lan") == ""
	})
	if got := short(l.srv, "-x", "192.0.2.77"); got != "" {
		t.Errorf("PTR of the expired lease: %q", got)
	}

	// laptop comes back and releases its lease on exit: its names go.
	l.setClientMAC(t, "02:00:00:00:00:01")
	if again := l.udhcpcReleasing(t, "laptop"); again != addr {
		t.Fatalf("laptop got %v the second time, want %v", again, addr)
	}
	waitFor(t, 2*time.Second, "laptop.lan gone after the release", func() bool {
		return short(l.srv, "laptop.lan") == "" && short(l.srv, "laptop") == ""
	})
	if got := short(l.srv, "-x", addr.String()); got != "" {
		t.Errorf("PTR %v after the release: %q", addr, got)
	}
	if got := short(l.srv, "taken.lan"); got != taken.String() {
		t.Errorf("taken.lan after laptop's release: %q", got)
	}
}
