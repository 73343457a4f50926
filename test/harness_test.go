// Package test holds moat's end-to-end tests: the real moatd binary, real
// clients (dig) and dnsmasq as the upstream peer, inside network namespaces
// each test creates and removes.
package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// moatdBin is the binary under test, built once by TestMain.
var moatdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "moat-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The unprivileged-mode test runs the binary as nobody.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	moatdBin = filepath.Join(dir, "moatd")
	build := exec.Command("go", "build", "-trimpath", "-o", moatdBin, "../cmd/moatd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build moatd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var nsCounter atomic.Int64

// netns is a network namespace with its loopback up, removed (with every
// process still in it) when the test ends.
type netns struct {
	name string
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	testutil.RequireRoot(t, "network namespaces, worker uid switch")
	n := &netns{name: fmt.Sprintf("moat-e2e-%d-%d", os.Getpid(), nsCounter.Add(1))}
	run(t, "ip", "netns", "add", n.name)
	t.Cleanup(func() {
		out, _ := exec.Command("ip", "netns", "pids", n.name).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Errorf("remove namespace %s: %v: %s", n.name, err, out)
		}
	})
	run(t, "ip", "-n", n.name, "link", "set", "lo", "up")
	return n
}

// command returns a command that runs inside the namespace.
func (n *netns) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startUpstream runs dnsmasq, the reference implementation, as the
// upstream server at addr, port 53, inside the namespace, answering
// forwarded.test and its subdomains.
func startUpstream(t *testing.T, n *netns, addr string) {
	startUpstreamPort(t, n, addr, "53")
}

func startUpstreamPort(t *testing.T, n *netns, addr, port string) {
	t.Helper()
	dir := t.TempDir()
	cmd := n.command("dnsmasq", "--keep-in-foreground", "--log-facility=-", "--port="+port,
		"--listen-address="+addr, "--bind-interfaces", "--no-resolv", "--no-hosts",
		"--conf-file=/dev/null", "--pid-file="+filepath.Join(dir, "dnsmasq.pid"),
		"--address=/forwarded.test/192.0.2.55", "--txt-record=txt.forwarded.test,upstream")
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitFor(t, 5*time.Second, "dnsmasq upstream answers", func() bool {
		return strings.TrimSpace(n.dig("@"+addr, "-p", port, "+short", "forwarded.test")) == "192.0.2.55"
	})
}

// moatd is a running master under test.
type moatd struct {
	cmd     *exec.Cmd
	out     *testutil.SyncBuffer
	dir     string
	started time.Time
	exited  chan struct{}
	err     error
}

// startMoatd writes conf (with %DIR% replaced by a fresh directory) and
// files (names relative to that directory) and starts moatd in the
// foreground inside n.
func startMoatd(t *testing.T, n *netns, conf string, files map[string]string, extraArgs ...string) *moatd {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	confPath := filepath.Join(dir, "moatd.conf")
	if err := os.WriteFile(confPath, []byte(strings.ReplaceAll(conf, "%DIR%", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--conf-file=" + confPath, "--keep-in-foreground", "--log-facility=-"}, extraArgs...)
	m := runMoatd(t, n.command(moatdBin, args...), dir)
	return m
}

// runMoatd starts cmd, a moatd under test: its output is kept and its
// exit noted; when the test ends it is stopped (SIGTERM, then SIGKILL),
// and its output logged if the test failed.
func runMoatd(t *testing.T, cmd *exec.Cmd, dir string) *moatd {
	t.Helper()
	m := &moatd{cmd: cmd, out: &testutil.SyncBuffer{}, dir: dir, exited: make(chan struct{}), started: time.Now()}
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", filepath.Base(cmd.Path), err)
	}
	go func() {
		m.err = m.cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(func() {
		stopMoatd(t, m)
		if t.Failed() {
			t.Logf("moatd output:\n%s", m.out.String())
		}
	})
	return m
}

// stopMoatd stops m if it still runs: SIGTERM, then SIGKILL after 5 s.
func stopMoatd(t *testing.T, m *moatd) {
	t.Helper()
	select {
	case <-m.exited:
		return
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
}

// waitReady waits for the master's "started" line.
func (m *moatd) waitReady(t *testing.T) time.Duration {
	t.Helper()
	waitFor(t, 10*time.Second, "moatd started", func() bool {
		select {
		case <-m.exited:
			t.Fatalf("moatd exited during start-up: %v\n%s", m.err, m.out.String())
		default:
		}
		return strings.Contains(m.out.String(), "started, version")
	})
	return time.Since(m.started)
}

// workers returns the master's children by role (argv[0] "moatd-ROLE").
func (m *moatd) workers(t *testing.T) map[string]int {
	t.Helper()
	return childrenByRole(t, m.cmd.Process.Pid)
}

func childrenByRole(t *testing.T, parent int) map[string]int {
	t.Helper()
	out := map[string]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The command name may hold spaces: fields start after the last ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if role, ok := strings.CutPrefix(argv0, "moatd-"); ok {
			out[role] = pid
		}
	}
	return out
}

// dig runs dig inside the namespace with one try and a one-second timeout.
func (n *netns) dig(args ...string) string {
	out, _ := n.command("dig", append([]string{"+time=1", "+tries=1"}, args...)...).CombinedOutput()
	return string(out)
}

// waitFor polls cond every 20ms until it holds or the time is up.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// procStatus returns the named fields of /proc/<pid>/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read status of %d: %v", pid, err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// alive reports whether pid is a live process (a zombie is not).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}
