package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bind-dynamic end to end (area H): moatd serves an address added to an
// interface after it started, without SIGHUP, closes the socket of an
// address that left, and a restarted dnsd gets the current set. log-async
// rides along (accepted, and logging works as ever).

const bindDynamicConf = `# bind-dynamic e2e
port=53
interface=v0
bind-dynamic
log-async=20
no-resolv
no-hosts
addn-hosts=%DIR%/hosts
pid-file=%DIR%/moatd.pid
run-dir=%DIR%/run
log-queries
`

// vethPair adds v0 and v1, a veth pair, to the namespace, up, without
// duplicate address detection (so IPv6 addresses are usable at once).
func vethPair(t *testing.T, n *netns) {
	t.Helper()
	run(t, "ip", "netns", "exec", n.name, "sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
	run(t, "ip", "-n", n.name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	run(t, "ip", "-n", n.name, "link", "set", "v0", "up")
	run(t, "ip", "-n", n.name, "link", "set", "v1", "up")
}

// answers reports whether server answers myhost.test with the hosts
// address (args add +tcp and the like).
func (n *netns) answers(server string, args ...string) bool {
	out := n.dig(append([]string{"@" + server, "+short", "myhost.test", "A"}, args...)...)
	return strings.TrimSpace(out) == "192.0.2.10"
}

// listening returns the namespace's listening sockets on port 53 (ss).
func (n *netns) listening(t *testing.T) string {
	t.Helper()
	out, err := n.command("ss", "-Hlnut", "sport = :53").CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v\n%s", err, out)
	}
	return string(out)
}

func TestBindDynamicFollowsAddresses(t *testing.T) {
	n := newNetns(t)
	vethPair(t, n)
	m := startMoatd(t, n, bindDynamicConf, map[string]string{"hosts": testHosts})
	m.waitReady(t)
	dnsdPID := m.workers(t)["dnsd"]

	// interface= brings the loopback interface in, as in dnsmasq.
	waitFor(t, 5*time.Second, "answer on 127.0.0.1", func() bool { return n.answers("127.0.0.1") })
	if n.answers("10.77.0.1") {
		t.Fatal("10.77.0.1 answered before it existed")
	}

	run(t, "ip", "-n", n.name, "addr", "add", "10.77.0.1/24", "dev", "v0")
	run(t, "ip", "-n", n.name, "addr", "add", "2001:db8:77::1/64", "dev", "v0", "nodad")
	added := time.Now()
	waitFor(t, 5*time.Second, "answer on the added 10.77.0.1", func() bool { return n.answers("10.77.0.1") })
	t.Logf("e2e: bind-dynamic: added address answered after %v", time.Since(added).Round(time.Millisecond))
	waitFor(t, 5*time.Second, "answer on the added 2001:db8:77::1", func() bool { return n.answers("2001:db8:77::1") })
	for _, server := range []string{"10.77.0.1", "2001:db8:77::1"} {
		if !n.answers(server, "+tcp") {
			t.Errorf("no TCP answer on %s", server)
		}
	}
	if strings.Contains(m.out.String(), "SIGHUP") || strings.Contains(m.out.String(), "reload") {
		t.Errorf("the master reloaded:\n%s", m.out.String())
	}

	// The address moves to v1, which is not served: it stays local, so a
	// socket left open would still answer; a closed one is refused.
	run(t, "ip", "-n", n.name, "addr", "del", "10.77.0.1/24", "dev", "v0")
	run(t, "ip", "-n", n.name, "addr", "add", "10.77.0.1/24", "dev", "v1")
	waitFor(t, 5*time.Second, "10.77.0.1 refused once on v1", func() bool {
		return strings.Contains(n.dig("@10.77.0.1", "myhost.test"), "connection refused")
	})
	if strings.Contains(n.dig("@10.77.0.1", "+tcp", "myhost.test"), "192.0.2.10") {
		t.Error("TCP on 10.77.0.1 still answered after it left v0")
	}
	if l := n.listening(t); strings.Contains(l, "10.77.0.1:53") {
		t.Errorf("a socket on 10.77.0.1:53 is still open (master or dnsd):\n%s", l)
	}

	// Removed altogether.
	run(t, "ip", "-n", n.name, "addr", "del", "2001:db8:77::1/64", "dev", "v0")
	waitFor(t, 5*time.Second, "socket on 2001:db8:77::1 closed", func() bool {
		return !strings.Contains(n.listening(t), "2001:db8:77::1")
	})

	// The link-local address of v0 is served (dnsd names its zone without
	// netlink) and the link-local address of v1 is not.
	ll := linkLocal(t, n, "v0")
	waitFor(t, 5*time.Second, "answer on "+ll+"%v0", func() bool { return n.answers(ll + "%v0") })
	if l := n.listening(t); strings.Contains(l, linkLocal(t, n, "v1")) {
		t.Errorf("v1's link-local address is served:\n%s", l)
	}

	// A restarted dnsd gets the current set, an address added since start
	// included.
	run(t, "ip", "-n", n.name, "addr", "add", "10.77.0.2/24", "dev", "v0")
	waitFor(t, 5*time.Second, "answer on 10.77.0.2", func() bool { return n.answers("10.77.0.2") })
	if err := syscall.Kill(dnsdPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "old dnsd gone", func() bool { return !alive(dnsdPID) })
	waitFor(t, 5*time.Second, "restarted dnsd answers on 10.77.0.2", func() bool {
		now := m.workers(t)["dnsd"]
		return now != 0 && now != dnsdPID && n.answers("10.77.0.2")
	})
	if !n.answers(ll + "%v0") {
		t.Errorf("restarted dnsd does not answer on %s%%v0", ll)
	}
	if !strings.Contains(m.out.String(), "query[A] myhost.test from 10.77.0.2") {
		t.Error("log-queries lines missing with log-async")
	}
}

// linkLocal returns the fe80:: address of dev in the namespace.
func linkLocal(t *testing.T, n *netns, dev string) string {
	t.Helper()
	var addr string
	waitFor(t, 5*time.Second, "link-local address on "+dev, func() bool {
		out := run(t, "ip", "-n", n.name, "-6", "-o", "addr", "show", "dev", dev, "scope", "link")
		for _, f := range strings.Fields(out) {
			if a, ok := strings.CutSuffix(f, "/64"); ok && strings.HasPrefix(a, "fe80:") {
				addr = a
				return !strings.Contains(out, "tentative")
			}
		}
		return false
	})
	return addr
}

// TestBindInterfacesLinkLocal: with bind-interfaces, a link-local address
// of a served interface is bound at start and answered (dnsd once died
// under seccomp naming the socket's zone).
func TestBindInterfacesLinkLocal(t *testing.T) {
	n := newNetns(t)
	vethPair(t, n)
	ll := linkLocal(t, n, "v0")
	conf := strings.Replace(bindDynamicConf, "bind-dynamic", "bind-interfaces", 1)
	m := startMoatd(t, n, conf, map[string]string{"hosts": testHosts})
	m.waitReady(t)
	waitFor(t, 5*time.Second, "answer on "+ll+"%v0", func() bool { return n.answers(ll + "%v0") })
	if !n.answers(ll+"%v0", "+tcp") {
		t.Errorf("no TCP answer on %s%%v0", ll)
	}
	if strings.Contains(m.out.String(), "SIGSYS") {
		t.Errorf("a worker was killed by seccomp:\n%s", m.out.String())
	}
}

// TestBindDynamicWithBindInterfacesRefused: dnsmasq refuses the pair at
// start; so does moatd, and both accept it in --test.
func TestBindDynamicWithBindInterfacesRefused(t *testing.T) {
	n := newNetns(t)
	conf := bindDynamicConf + "bind-interfaces\n"
	m := startMoatd(t, n, conf, map[string]string{"hosts": testHosts})
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("moatd kept running with bind-interfaces and bind-dynamic")
	}
	if m.err == nil || !strings.Contains(m.out.String(), "cannot set --bind-interfaces and --bind-dynamic") {
		t.Errorf("moatd exit %v, output:\n%s", m.err, m.out.String())
	}
}

// TestTestModeAgreesWithDnsmasq runs `moatd --test` and `dnsmasq --test`
// on the configurations area H touches and wants the same verdict.
func TestTestModeAgreesWithDnsmasq(t *testing.T) {
	requireDnsmasq(t)
	tests := []struct {
		name  string
		lines []string
		ok    bool
	}{
		{"bind-dynamic", []string{"bind-dynamic", "interface=nosuch0"}, true},
		{"bind-dynamic with bind-interfaces", []string{"bind-dynamic", "bind-interfaces"}, true},
		{"bind-dynamic with a value", []string{"bind-dynamic=1"}, false},
		{"log-async", []string{"log-async"}, true},
		{"log-async queue", []string{"log-async=200"}, true},
		{"log-async negative", []string{"log-async=-1"}, false},
		{"log-async twice", []string{"log-async", "log-async=3"}, false},
		{"server scope exists", []string{"server=fe80::1%lo"}, true},
		{"server scope missing", []string{"server=fe80::1%nosuch0"}, false},
		{"rev-server scope missing", []string{"rev-server=10.0.0.0/8,fe80::1%nosuch0"}, false},
		{"no-poll with two resolv-files", []string{"no-poll", "resolv-file=/etc/resolv.conf", "resolv-file=/tmp/x"}, false},
		{"no-poll two resolv-files no-resolv", []string{"no-poll", "no-resolv", "resolv-file=/a", "resolv-file=/b"}, true},
		{"ports checked at start only", []string{"min-port=2000", "max-port=1000"}, true},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%d.conf", i))
			if err := os.WriteFile(path, []byte(strings.Join(tt.lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			dnsmasqOut, dnsmasqErr := exec.Command("dnsmasq", "--test", "-C", path).CombinedOutput()
			moatOut, moatErr := exec.Command(moatdBin, "--test", "-C", path).CombinedOutput()
			if (dnsmasqErr == nil) != tt.ok {
				t.Fatalf("the table is wrong: dnsmasq --test: %v %s", dnsmasqErr, dnsmasqOut)
			}
			if (moatErr == nil) != tt.ok {
				t.Errorf("moatd --test: %v %s; dnsmasq --test: %v %s", moatErr, moatOut, dnsmasqErr, dnsmasqOut)
			}
		})
	}
}
