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

// Upstream policy end to end (area C): resolv-file polling, servers-file
// with SIGHUP, source addresses, strict order and loop detection, with
// dnsmasq 2.90 as the upstream servers inside a network namespace.

// upstreamConf is the common part; each test adds its server lines.
const upstreamConf = `port=53
listen-address=127.0.0.1
bind-interfaces
no-hosts
cache-size=0
pid-file=%DIR%/moatd.pid
run-dir=%DIR%/run
log-queries
`

// namedUpstream is a dnsmasq upstream at addr:53 that answers every name
// under test. with ip, logs its queries, and forwards nothing unless
// extra says so.
type namedUpstream struct {
	out *testutil.SyncBuffer
}

func startNamedUpstream(t *testing.T, n *netns, addr, ip string, extra ...string) *namedUpstream {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"--keep-in-foreground", "--log-facility=-", "--port=53", "--log-queries",
		"--listen-address=" + addr, "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		"--pid-file=" + filepath.Join(dir, "dnsmasq.pid"), "--address=/test/" + ip}, extra...)
	cmd := n.command("dnsmasq", args...)
	u := &namedUpstream{out: &testutil.SyncBuffer{}}
	cmd.Stdout, cmd.Stderr = u.out, u.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("upstream %s output:\n%s", addr, u.out.String())
		}
	})
	waitFor(t, 5*time.Second, "upstream "+addr, func() bool {
		return strings.TrimSpace(n.dig("@"+addr, "+short", "probe.test")) == ip
	})
	return u
}

// answer asks moatd for name and returns the short answer.
func answer(n *netns, name string) string {
	return strings.TrimSpace(n.dig("@127.0.0.1", "+short", name))
}

// TestUpstreamE2EResolvPolling: a rewritten resolv-file takes effect
// without SIGHUP, within the one-second poll; the newest of two files
// wins.
func TestUpstreamE2EResolvPolling(t *testing.T) {
	n := newNetns(t)
	startNamedUpstream(t, n, "127.0.0.2", "192.0.2.2")
	startNamedUpstream(t, n, "127.0.0.3", "192.0.2.3")
	startNamedUpstream(t, n, "127.0.0.4", "192.0.2.4")
	conf := upstreamConf + "resolv-file=%DIR%/resolv.conf\nresolv-file=%DIR%/ppp.conf\n"
	m := startMoatd(t, n, conf, map[string]string{"resolv.conf": "nameserver 127.0.0.2\n"})
	m.waitReady(t)
	if got := answer(n, "a.test"); got != "192.0.2.2" {
		t.Fatalf("from resolv.conf: %q", got)
	}
	write := func(name, text string) {
		t.Helper()
		// Write aside and rename, as resolvconf and DHCP clients do.
		tmp := filepath.Join(m.dir, name+".new")
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(m.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("resolv.conf", "nameserver 127.0.0.3\n")
	waitFor(t, 5*time.Second, "the rewritten resolv.conf", func() bool { return answer(n, "b.test") == "192.0.2.3" })
	// A second file appears (a PPP link came up): it changed last, so it
	// is the one used.
	time.Sleep(10 * time.Millisecond) // a later modification time than resolv.conf's
	write("ppp.conf", "nameserver 127.0.0.4\n")
	waitFor(t, 5*time.Second, "the newer ppp.conf", func() bool { return answer(n, "c.test") == "192.0.2.4" })
	if !strings.Contains(m.out.String(), "reading "+filepath.Join(m.dir, "ppp.conf")) {
		t.Errorf("no \"reading\" line for ppp.conf:\n%s", m.out.String())
	}
}

// TestUpstreamE2EServersFile: servers-file lines route domains; SIGHUP
// reads the file again; rev-server works from it too.
func TestUpstreamE2EServersFile(t *testing.T) {
	n := newNetns(t)
	startNamedUpstream(t, n, "127.0.0.2", "192.0.2.2")
	startNamedUpstream(t, n, "127.0.0.3", "192.0.2.3")
	startNamedUpstream(t, n, "127.0.0.4", "192.0.2.4", "--ptr-record=9.8.8.10.in-addr.arpa,vpnhost.test")
	conf := upstreamConf + "no-resolv\nserver=127.0.0.2\nservers-file=%DIR%/servers\n"
	m := startMoatd(t, n, conf, map[string]string{"servers": "server=/vpn.test/127.0.0.3\n"})
	m.waitReady(t)
	if got := answer(n, "host.vpn.test"); got != "192.0.2.3" {
		t.Errorf("vpn.test from the servers-file: %q", got)
	}
	if got := answer(n, "other.test"); got != "192.0.2.2" {
		t.Errorf("other names: %q", got)
	}
	text := "server=/vpn.test/127.0.0.4\nrev-server=10.8.0.0/16,127.0.0.4\n"
	if err := os.WriteFile(filepath.Join(m.dir, "servers"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := answer(n, "again.vpn.test"); got != "192.0.2.3" {
		t.Errorf("before SIGHUP the old file counts: %q", got)
	}
	if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the servers-file after SIGHUP", func() bool { return answer(n, "new.vpn.test") == "192.0.2.4" })
	if got := strings.TrimSpace(n.dig("@127.0.0.1", "+short", "-x", "10.8.8.9")); got != "vpnhost.test." {
		t.Errorf("rev-server from the servers-file: PTR %q", got)
	}
}

// TestUpstreamE2ESourceAndStrictOrder: strict-order asks the first server
// only; its queries leave from the @source address; when it stops, the
// next server answers.
func TestUpstreamE2ESourceAndStrictOrder(t *testing.T) {
	n := newNetns(t)
	first := startNamedUpstream(t, n, "127.0.0.2", "192.0.2.2")
	second := startNamedUpstream(t, n, "127.0.0.3", "192.0.2.3")
	conf := upstreamConf + "no-resolv\nstrict-order\nserver=127.0.0.2@127.0.0.9\nserver=127.0.0.3@lo\nmin-port=30000\nmax-port=30100\n"
	m := startMoatd(t, n, conf, nil)
	m.waitReady(t)
	for _, name := range []string{"a.test", "b.test", "c.test"} {
		if got := answer(n, name); got != "192.0.2.2" {
			t.Errorf("%s: %q, want the first server", name, got)
		}
	}
	if out := first.out.String(); strings.Count(out, "from 127.0.0.9") < 3 {
		t.Errorf("first server's log shows no queries from 127.0.0.9:\n%s", out)
	}
	if strings.Contains(strings.ToLower(second.out.String()), "query[a] a.test") { // any case: 0x20
		t.Error("strict-order asked the second server while the first answered")
	}
	// Stop the first server: the second answers.
	stopUpstreamAt(t, n, "127.0.0.2")
	waitFor(t, 10*time.Second, "the second server", func() bool { return answer(n, "d.test") == "192.0.2.3" })
	// dnsmasq's "forwarded" line names no interface (only "using
	// nameserver 127.0.0.3#53(via lo)" does).
	if !strings.Contains(m.out.String(), "forwarded d.test to 127.0.0.3\n") {
		t.Errorf("moatd's log lacks the forward to the second server:\n%s", m.out.String())
	}
}

// stopUpstreamAt kills the dnsmasq listening at addr in n.
func stopUpstreamAt(t *testing.T, n *netns, addr string) {
	t.Helper()
	out, err := n.command("ss", "-H", "-lunp", "src", addr+":53").CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v: %s", err, out)
	}
	i := strings.Index(string(out), "pid=")
	if i < 0 {
		t.Fatalf("no process at %s: %s", addr, out)
	}
	var pid int
	for _, c := range string(out)[i+4:] {
		if c < '0' || c > '9' {
			break
		}
		pid = pid*10 + int(c-'0')
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// TestUpstreamE2ELoopDetect: an upstream that forwards everything back to
// moatd is found by dns-loop-detect and left out; the other server keeps
// answering.
func TestUpstreamE2ELoopDetect(t *testing.T) {
	n := newNetns(t)
	// The looping server: dnsmasq at 127.0.0.2 forwarding to moatd.
	loopDir := t.TempDir()
	loop := n.command("dnsmasq", "--keep-in-foreground", "--log-facility=-", "--port=53",
		"--listen-address=127.0.0.2", "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		"--pid-file="+filepath.Join(loopDir, "dnsmasq.pid"), "--server=127.0.0.1")
	if err := loop.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = loop.Process.Kill()
		_ = loop.Wait()
	})
	startNamedUpstream(t, n, "127.0.0.3", "192.0.2.3")
	conf := upstreamConf + "no-resolv\ndns-loop-detect\nserver=127.0.0.2\nserver=127.0.0.3\n"
	m := startMoatd(t, n, conf, nil)
	m.waitReady(t)
	waitFor(t, 10*time.Second, "loop detection", func() bool {
		return strings.Contains(m.out.String(), "NOT using nameserver 127.0.0.2#53 - query loop detected")
	})
	for _, name := range []string{"a.test", "b.test"} {
		if got := answer(n, name); got != "192.0.2.3" {
			t.Errorf("%s: %q", name, got)
		}
	}
	if strings.Contains(m.out.String(), "NOT using nameserver 127.0.0.3") {
		t.Error("the good server was disabled too")
	}
}

// strictZone is a second upstream that answers www.example.test with
// another address, so that a reply shows which server answered.
const strictZone = `
test.               SOA  ns.test. hostmaster.test. 1 3600 600 86400 60
www.example.test.   A    198.51.100.1
`

// Differential scenarios for the server forms and strict-order: moat and
// dnsmasq 2.90 must send each query to the same upstream.
var _ = addDiffScenarios(
	diffScenario{
		name:      "server-wildcards",
		upstreams: []string{defaultZone, corpZone},
		conf: "server=%UP1%\nserver=/*.sub.example.test/%UP2%\nserver=/*ww.example.test/%UP2%\n" +
			"server=/corp.test/%UP2%\nserver=/host.corp.test/#\n",
		queries: []string{
			"x.sub.example.test A",
			"sub.example.test A",
			"www.example.test A",
			"mail.example.test A",
			"host.corp.test A",
			"missing.corp.test A",
		},
	},
	diffScenario{
		name:      "rev-server",
		upstreams: []string{defaultZone, corpZone},
		conf:      "server=%UP1%\nrev-server=192.0.2.0/24,%UP2%\nrev-server=198.51.100.0/23\n",
		queries: []string{
			"1.2.0.192.in-addr.arpa PTR",
			"1.100.51.198.in-addr.arpa PTR",
			"1.101.51.198.in-addr.arpa PTR",
			"www.example.test A",
		},
	},
	diffScenario{
		name:      "strict-order",
		upstreams: []string{defaultZone, strictZone},
		conf:      "strict-order\nserver=%UP1%\nserver=%UP2%\n",
		queries:   []string{"www.example.test A", "www.example.test AAAA", "mail.example.test A"},
	},
)
