package test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// notifyConf serves DNS and DHCP, so that READY=1 must wait for both
// workers.
const notifyConf = `port=5353
interface=%IF%
bind-interfaces
no-resolv
no-hosts
address=/notify.test/192.0.2.9
dhcp-range=192.0.2.50,192.0.2.99,12h
dhcp-leasefile=%LEASES%/leases
no-ping
`

// TestSystemdNotify runs moatd as systemd runs a Type=notify service with
// WatchdogSec=: NOTIFY_SOCKET names a unixgram socket the test listens on.
// READY=1 must be the first notification and arrive only once dnsd and
// dhcpd exist and are confined; watchdog pings follow; SIGHUP is
// bracketed by RELOADING=1 and READY=1; SIGTERM sends STOPPING=1.
func TestSystemdNotify(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and veth pairs")
	l := newDHCPLink(t)
	// DNS on the interface: no IPv6 link-local address still in DAD.
	run(t, "ip", "netns", "exec", l.srv.name, "sysctl", "-q", "-w", "net.ipv6.conf."+l.srvIf+".disable_ipv6=1")
	dir := t.TempDir()
	sockPath := filepath.Join(dir, "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	notes := make(chan string, 256)
	go func() { // ends when the socket is closed
		buf := make([]byte, 4096)
		for {
			n, err := sock.Read(buf)
			if err != nil {
				close(notes)
				return
			}
			notes <- string(buf[:n])
		}
	}()

	conf := strings.NewReplacer("%IF%", l.srvIf, "%LEASES%", dir).Replace(notifyConf)
	confPath := filepath.Join(dir, "moatd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := l.srv.command(moatdBin, "--conf-file="+confPath, "--keep-in-foreground", "--log-facility=-", "--pid-file=", "--run-dir="+filepath.Join(dir, "run"))
	// WATCHDOG_USEC as systemd sets it for WatchdogSec=1s: a ping every 0.5s.
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=1000000")
	m := runMoatd(t, cmd, dir)

	first := nextNote(t, m, notes)
	if !strings.HasPrefix(first, "READY=1\n") {
		t.Fatalf("first notification %q, want READY=1 first", first)
	}
	// At READY=1 both workers must be running and confined already.
	workers := m.workers(t)
	for _, role := range []string{"dnsd", "dhcpd"} {
		pid := workers[role]
		if pid == 0 {
			t.Fatalf("READY=1 sent while %s does not exist (workers %v)", role, workers)
		}
		st := procStatus(t, pid)
		if st["Seccomp"] != "2" || st["NoNewPrivs"] != "1" {
			t.Errorf("READY=1 sent before %s was confined: Seccomp=%s NoNewPrivs=%s", role, st["Seccomp"], st["NoNewPrivs"])
		}
	}
	if !strings.Contains(first, "STATUS=dnsd ready") || !strings.Contains(first, "dhcpd ready") {
		t.Errorf("READY=1 status %q does not name both ready workers", first)
	}
	if got := strings.TrimSpace(l.srv.dig("@192.0.2.1", "-p", "5353", "+short", "notify.test")); got != "192.0.2.9" {
		t.Errorf("after READY=1: notify.test = %q, want 192.0.2.9", got)
	}

	waitNote(t, m, notes, "WATCHDOG=1")
	if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitNote(t, m, notes, "RELOADING=1")
	if ready := waitNote(t, m, notes, "READY=1"); !strings.Contains(ready, "STATUS=") {
		t.Errorf("READY=1 after reload has no status: %q", ready)
	}
	waitNote(t, m, notes, "WATCHDOG=1") // still supervising after the reload

	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitNote(t, m, notes, "STOPPING=1")
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("moatd did not exit within 10s of SIGTERM")
	}
	if m.err != nil {
		t.Errorf("moatd exit after SIGTERM: %v", m.err)
	}
}

// nextNote returns the next notification, failing if none comes within
// 15s or moatd exits first.
func nextNote(t *testing.T, m *moatd, notes <-chan string) string {
	t.Helper()
	select {
	case n, ok := <-notes:
		if !ok {
			t.Fatal("notify socket closed")
		}
		return n
	case <-m.exited:
		// A notification sent just before the exit may still be queued.
		select {
		case n, ok := <-notes:
			if ok {
				return n
			}
		default:
		}
		t.Fatalf("moatd exited (%v) while a notification was awaited", m.err)
	case <-time.After(15 * time.Second):
		t.Fatal("no notification within 15s")
	}
	return ""
}

// waitNote skips notifications until one holds the assignment want; at
// most 100 are read.
func waitNote(t *testing.T, m *moatd, notes <-chan string, want string) string {
	t.Helper()
	for range 100 {
		n := nextNote(t, m, notes)
		for _, line := range strings.Split(n, "\n") {
			if line == want {
				return n
			}
		}
	}
	t.Fatalf("no %s among 100 notifications", want)
	return ""
}
