package test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// TestStartFromDnsmasqLeases (issue 6): dnsmasq 2.90 gives a real client
// (busybox udhcpc, with a host name) a lease and writes its leases file;
// a DHCPv6 part is added as dnsmasq writes it (moat has no DHCPv6 and
// must keep it). dnsmasq stops and moatd starts on the same file, the
// way a switch of binary goes: moatd imports the lease, rewrites the file
// byte for byte as dnsmasq wrote it, and gives the client the same
// address again.
func TestStartFromDnsmasqLeases(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and veth pairs")
	testutil.RequireCommand(t, "busybox")
	requireDnsmasq(t)
	l := newDHCPLink(t)
	dir := t.TempDir()
	leases := filepath.Join(dir, "dnsmasq.leases")
	const dhcp = "--dhcp-range=192.0.2.50,192.0.2.99,12h"

	cmd := l.srv.command("dnsmasq", "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null", "--port=0",
		"--interface="+l.srvIf, "--bind-interfaces", dhcp, "--dhcp-leasefile="+leases, "--no-ping", "--pid-file=", "--user=root")
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stopDnsmasq := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(func() {
		stopDnsmasq()
		if t.Failed() {
			t.Logf("dnsmasq output:\n%s", out.String())
		}
	})
	waitFor(t, 10*time.Second, "dnsmasq DHCP ready", func() bool { return strings.Contains(out.String(), "DHCP, IP range") })

	addr := l.udhcpcNamed(t, "vm-one")
	var line string
	waitFor(t, 10*time.Second, "the lease in dnsmasq's leases file", func() bool {
		line = leaseLine(t, leases, addr)
		return line != ""
	})
	f := strings.Fields(line) // expiry MAC IP name client-id
	if f[3] != "vm-one" || !strings.HasPrefix(f[4], "01:") {
		t.Fatalf("dnsmasq's line %q: want the host name and udhcpc's client-id", line)
	}
	stopDnsmasq()
	v6 := "duid 00:01:00:01:2c:5f:6a:01:52:54:00:12:34:56\n" +
		"1900000000 1234 2001:db8::10 v6host 00:01:00:01:2c:5f:6a:02:52:54:00:ab:cd:ef\n"
	if err := appendFile(leases, v6); err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(leases)
	if err != nil {
		t.Fatal(err)
	}
	st0, err := os.Stat(leases)
	if err != nil {
		t.Fatal(err)
	}

	conf := "port=0\ninterface=" + l.srvIf + "\nbind-interfaces\n" + strings.TrimPrefix(dhcp, "--") +
		"\ndhcp-leasefile=" + leases + "\nno-ping\n"
	m := startMoatd(t, l.srv, conf, nil)
	m.waitReady(t)
	waitFor(t, 10*time.Second, "the imported lease in the log", func() bool { return strings.Contains(m.out.String(), ": 1 leases") })
	// The file is rewritten after the import; wait until it has been
	// (its inode changes with the atomic rename), then compare.
	waitFor(t, 10*time.Second, "the leases file rewritten", func() bool {
		st, err := os.Stat(leases)
		return err == nil && !os.SameFile(st, st0)
	})
	if got, _ := os.ReadFile(leases); string(got) != string(written) {
		t.Errorf("moat rewrote the leases file as:\n%s\ndnsmasq (and the DHCPv6 part) wrote:\n%s", got, written)
	}

	again := l.udhcpcNamed(t, "vm-one")
	if again != addr {
		t.Errorf("after the switch the client got %v, dnsmasq had given it %v", again, addr)
	}
	waitFor(t, 10*time.Second, "the renewed lease in the file", func() bool {
		n := leaseLine(t, leases, addr)
		g := strings.Fields(n)
		return len(g) == 5 && g[1] == f[1] && g[3] == "vm-one" && g[4] == f[4]
	})
	if got, _ := os.ReadFile(leases); !strings.HasSuffix(string(got), v6) {
		t.Errorf("the DHCPv6 part was not kept at the end:\n%s", got)
	}
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
