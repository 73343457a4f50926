package test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// baseConf serves 127.0.0.1:53 in the namespace, forwards to the dnsmasq
// upstream at 127.0.0.2 and answers myhost.test from an addn-hosts file.
const baseConf = `# moat end-to-end configuration
port=53
listen-address=127.0.0.1
bind-interfaces
no-resolv
server=127.0.0.2
addn-hosts=%DIR%/hosts
pid-file=%DIR%/moatd.pid
run-dir=%DIR%/run
log-queries
`

const testHosts = "192.0.2.10 myhost.test myhost\n2001:db8::10 myhost.test\n"

// startStack starts the namespace, the upstream and moatd with conf.
func startStack(t *testing.T, conf string) (*netns, *moatd) {
	t.Helper()
	n := newNetns(t)
	startUpstream(t, n, "127.0.0.2")
	return n, startMoatd(t, n, conf, map[string]string{"hosts": testHosts})
}

func TestDNSAnswersHostsAndForwarded(t *testing.T) {
	n, m := startStack(t, baseConf)
	startup := m.waitReady(t)
	waitFor(t, 5*time.Second, "first answer", func() bool {
		return strings.TrimSpace(n.dig("@127.0.0.1", "+short", "forwarded.test")) == "192.0.2.55"
	})
	t.Logf("e2e: start to ready %v, start to first answered query %v", startup.Round(time.Millisecond), time.Since(m.started).Round(time.Millisecond))

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"hosts A", []string{"myhost.test", "A"}, "192.0.2.10"},
		{"hosts AAAA", []string{"myhost.test", "AAAA"}, "2001:db8::10"},
		{"hosts PTR", []string{"-x", "192.0.2.10"}, "myhost.test."},
		{"forwarded A", []string{"forwarded.test", "A"}, "192.0.2.55"},
		{"forwarded subdomain", []string{"www.forwarded.test", "A"}, "192.0.2.55"},
		{"forwarded TXT", []string{"txt.forwarded.test", "TXT"}, `"upstream"`},
		{"forwarded over TCP", []string{"+tcp", "forwarded.test", "A"}, "192.0.2.55"},
		{"hosts over TCP", []string{"+tcp", "myhost.test", "A"}, "192.0.2.10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := strings.TrimSpace(n.dig(append([]string{"@127.0.0.1", "+short"}, c.args...)...))
			if got != c.want {
				t.Errorf("dig %v = %q, want %q", c.args, got, c.want)
			}
		})
	}
	if !strings.Contains(m.out.String(), "query[A] forwarded.test from 127.0.0.1") {
		t.Errorf("log-queries line missing from the log")
	}
}

func TestWorkersAreSandboxed(t *testing.T) {
	_, m := startStack(t, baseConf+"dhcp-range=192.0.2.100,192.0.2.200\n")
	m.waitReady(t)
	workers := m.workers(t)
	for _, role := range []string{"dnsd", "dhcpd"} {
		pid, ok := workers[role]
		if !ok {
			t.Fatalf("no %s worker among the master's children: %v", role, workers)
		}
		st := procStatus(t, pid)
		t.Logf("e2e: %s pid %d VmRSS %s", role, pid, st["VmRSS"])
		checks := map[string]string{
			"CapEff": "0000000000000000", "CapPrm": "0000000000000000",
			"CapBnd": "0000000000000000", "CapAmb": "0000000000000000",
			"NoNewPrivs": "1", "Seccomp": "2",
		}
		for k, want := range checks {
			if st[k] != want {
				t.Errorf("%s %s = %q, want %q", role, k, st[k], want)
			}
		}
		for _, idField := range []string{"Uid", "Gid"} {
			for _, id := range strings.Fields(st[idField]) {
				if id != "65534" {
					t.Errorf("%s %s = %q, want 65534 everywhere", role, idField, st[idField])
				}
			}
		}
		if root, err := os.Readlink(fmt.Sprintf("/proc/%d/root", pid)); err != nil || !strings.HasSuffix(root, "/run/empty") {
			t.Errorf("%s root directory = %q (%v), want the empty run directory", role, root, err)
		}
	}
	st := procStatus(t, m.cmd.Process.Pid)
	t.Logf("e2e: master pid %d VmRSS %s", m.cmd.Process.Pid, st["VmRSS"])
}

func TestKilledDnsdAnswersAgainWithinTwoSeconds(t *testing.T) {
	n, m := startStack(t, baseConf)
	m.waitReady(t)
	old := m.workers(t)["dnsd"]
	if old == 0 {
		t.Fatal("no dnsd worker")
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// Let the kill land before asking, so the answer cannot come from the
	// old process.
	waitFor(t, 2*time.Second, "old dnsd gone", func() bool { return !alive(old) })
	waitFor(t, 5*time.Second, "dnsd answers again", func() bool {
		return strings.TrimSpace(n.dig("@127.0.0.1", "+short", "myhost.test")) == "192.0.2.10"
	})
	if took := time.Since(killed); took > 2*time.Second {
		t.Errorf("dnsd answered again after %v, want within 2s", took)
	} else {
		t.Logf("e2e: dnsd answered again %v after SIGKILL", took.Round(time.Millisecond))
	}
	if now := m.workers(t)["dnsd"]; now == old || now == 0 {
		t.Errorf("dnsd pid after restart = %d (before %d)", now, old)
	}
}

func TestKilledMasterLeavesNoWorker(t *testing.T) {
	_, m := startStack(t, baseConf+"dhcp-range=192.0.2.100,192.0.2.200\n")
	m.waitReady(t)
	workers := m.workers(t)
	if len(workers) != 2 {
		t.Fatalf("workers = %v, want dnsd and dhcpd", workers)
	}
	if err := m.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-m.exited
	waitFor(t, 3*time.Second, "workers gone after the master's death", func() bool {
		for _, pid := range workers {
			if alive(pid) {
				return false
			}
		}
		return true
	})
}

func TestSIGTERMStopsEverything(t *testing.T) {
	_, m := startStack(t, baseConf+"dhcp-range=192.0.2.100,192.0.2.200\n")
	m.waitReady(t)
	workers := m.workers(t)
	pidFile := filepath.Join(m.dir, "moatd.pid")
	if data, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(data)) != fmt.Sprint(m.cmd.Process.Pid) {
		t.Errorf("pid-file = %q (%v), want %d", data, err, m.cmd.Process.Pid)
	}
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("moatd did not exit within 5s of SIGTERM")
	}
	if m.err != nil {
		t.Errorf("moatd exit after SIGTERM: %v", m.err)
	}
	for role, pid := range workers {
		if alive(pid) {
			t.Errorf("%s (pid %d) still alive after the master exited", role, pid)
		}
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid-file left behind: %v", err)
	}
}

func TestWildcardSocketRepliesFromAskedAddress(t *testing.T) {
	// The wildcard socket takes port 53 on every address, so the upstream
	// moves to another port.
	conf := strings.Replace(baseConf, "listen-address=127.0.0.1\nbind-interfaces\n", "listen-address=127.0.0.1,127.0.0.3\n", 1)
	conf = strings.Replace(conf, "server=127.0.0.2\n", "server=127.0.0.2#5300\n", 1)
	n := newNetns(t)
	startUpstreamPort(t, n, "127.0.0.2", "5300")
	m := startMoatd(t, n, conf, map[string]string{"hosts": testHosts})
	m.waitReady(t)
	if !strings.Contains(m.out.String(), "kind=dns-udp addr=0.0.0.0:53 pktinfo=yes") {
		t.Errorf("expected one wildcard UDP socket with pktinfo; log:\n%s", m.out.String())
	}
	for _, addr := range []string{"127.0.0.1", "127.0.0.3"} {
		out := n.dig("@"+addr, "myhost.test")
		if !strings.Contains(out, "192.0.2.10") {
			t.Errorf("dig @%s: no answer:\n%s", addr, out)
		}
		// dig complains when the reply comes from another address.
		if strings.Contains(out, "unexpected source") {
			t.Errorf("dig @%s: reply from the wrong address:\n%s", addr, out)
		}
	}
	if out := n.dig("@127.0.0.4", "myhost.test"); strings.Contains(out, "192.0.2.10") {
		t.Errorf("dig @127.0.0.4 answered, but 127.0.0.4 is not a listen-address:\n%s", out)
	}
}

func TestBadConfigFailsWithFileAndLine(t *testing.T) {
	n := newNetns(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(conf, []byte("port=53\n# comment\ncache-size=lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--conf-file=" + conf, "--keep-in-foreground"}, {"--test", "-C", conf}} {
		out, err := n.command(moatdBin, args...).CombinedOutput()
		var ee *exec.ExitError
		if err == nil || !errors.As(err, &ee) {
			t.Errorf("moatd %v: err = %v, want a non-zero exit", args, err)
		}
		if want := conf + ":3: cache-size"; !strings.Contains(string(out), want) {
			t.Errorf("moatd %v said %q, want it to contain %q", args, out, want)
		}
	}
}

func TestCheckSandbox(t *testing.T) {
	n := newNetns(t)
	dir := t.TempDir()
	out, err := n.command(moatdBin, "--check-sandbox", "--conf-file=/dev/null", "--run-dir="+dir).CombinedOutput()
	if err != nil {
		t.Fatalf("moatd --check-sandbox: %v\n%s", err, out)
	}
	lines := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "dnsd" || f[0] == "dhcpd") {
			lines[f[0]+" "+f[1]] = line
			if f[2] != "ok" {
				t.Errorf("check failed: %s", line)
			}
		}
	}
	for _, role := range []string{"dnsd", "dhcpd"} {
		for _, check := range []string{"uid", "CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp", "chroot", "proc-status",
			"open", "execve", "ptrace", "socket-packet", "setuid0", "mount", "bpf-prog-load"} {
			if _, ok := lines[role+" "+check]; !ok {
				t.Errorf("no %q line for %s in:\n%s", check, role, out)
			}
		}
		for check, want := range map[string]string{"uid": "65534", "CapEff": "0000000000000000", "CapBnd": "0000000000000000", "NoNewPrivs": "true", "Seccomp": "2 ("} {
			if !strings.Contains(lines[role+" "+check], want) {
				t.Errorf("%s %s line %q does not say %q", role, check, lines[role+" "+check], want)
			}
		}
	}
	if !strings.Contains(string(out), "check-sandbox: all") {
		t.Errorf("no summary line:\n%s", out)
	}
}

func TestSIGHUPRereadsHosts(t *testing.T) {
	n, m := startStack(t, baseConf)
	m.waitReady(t)
	if got := strings.TrimSpace(n.dig("@127.0.0.1", "+short", "added.test")); got != "" {
		t.Fatalf("added.test answered %q before it was added", got)
	}
	hosts := testHosts + "192.0.2.77 added.test\n"
	if err := os.WriteFile(filepath.Join(m.dir, "hosts"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "added.test after SIGHUP", func() bool {
		return strings.TrimSpace(n.dig("@127.0.0.1", "+short", "added.test")) == "192.0.2.77"
	})
}

// TestDaemonizesByDefault: without keep-in-foreground or no-daemon moatd
// forks into the background as dnsmasq does, and the command returns only
// once the daemon serves.
func TestDaemonizesByDefault(t *testing.T) {
	n := newNetns(t)
	startUpstream(t, n, "127.0.0.2")
	dir := t.TempDir()
	conf := strings.ReplaceAll(baseConf, "%DIR%", dir) + "log-facility=" + dir + "/moatd.log\n"
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(testHosts), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "moatd.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := n.command(moatdBin, "-C", filepath.Join(dir, "moatd.conf")).CombinedOutput()
	if err != nil {
		t.Fatalf("moatd (daemon): %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "moatd.pid"))
	if err != nil {
		t.Fatalf("no pid-file after the daemon reported ready: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid-file %q: %v", data, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		waitFor(t, 5*time.Second, "daemon exit", func() bool { return !alive(pid) })
	})
	if got := strings.TrimSpace(n.dig("@127.0.0.1", "+short", "myhost.test")); got != "192.0.2.10" {
		t.Errorf("daemon answers %q, want 192.0.2.10", got)
	}
	if sid, _ := syscall.Getpgid(pid); sid != pid {
		t.Errorf("daemon pid %d is not a session/group leader (pgid %d)", pid, sid)
	}
	logData, _ := os.ReadFile(filepath.Join(dir, "moatd.log"))
	if !strings.Contains(string(logData), "started, version") {
		t.Errorf("log-facility file has no start line:\n%s", logData)
	}
}
