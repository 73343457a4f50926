package test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// interface= naming an interface that does not exist yet, as libvirt
// and Incus configure dnsmasq before they create the bridge. dnsmasq
// 2.90, run the same way: without bind-interfaces, and with
// bind-dynamic, it starts with "warning: interface br0 does not
// currently exist" and answers on br0 once it exists (and still not on
// an interface interface= does not name); with bind-interfaces it stops
// at start: "dnsmasq: unknown interface br0". moatd must do the same.
// And as with dnsmasq's wildcard mode, a named interface that is deleted
// and created again (a bridge torn down and rebuilt, with a new index)
// is answered on again, and the other named interfaces meanwhile.

const lateIfaceConf = `port=53
interface=br0
no-resolv
no-hosts
addn-hosts=%DIR%/hosts
pid-file=%DIR%/moatd.pid
run-dir=%DIR%/run
`

// lateLink links the server's namespace to a client's with a veth pair:
// serverIf (addr serverAddr/24) in srv, its peer in cli (the .2 of the
// network). The client's queries arrive on serverIf, as a VM's do on
// its bridge (from the server's own namespace they would arrive on lo).
func lateLink(t *testing.T, srv, cli *netns, serverIf, peerIf, serverAddr string) {
	t.Helper()
	run(t, "ip", "-n", cli.name, "link", "add", peerIf, "type", "veth", "peer", "name", serverIf, "netns", srv.name)
	clientAddr := serverAddr[:strings.LastIndexByte(serverAddr, '.')] + ".2"
	run(t, "ip", "-n", srv.name, "addr", "add", serverAddr+"/24", "dev", serverIf)
	run(t, "ip", "-n", cli.name, "addr", "add", clientAddr+"/24", "dev", peerIf)
	run(t, "ip", "-n", srv.name, "link", "set", serverIf, "up")
	run(t, "ip", "-n", cli.name, "link", "set", peerIf, "up")
}

func TestDNSLateInterface(t *testing.T) {
	for _, mode := range []string{"wildcard", "bind-dynamic"} {
		t.Run(mode, func(t *testing.T) {
			srv, cli := newNetns(t), newNetns(t)
			// other0 exists from the start and interface= does not name
			// it: never answered.
			lateLink(t, srv, cli, "other0", "c1", "10.79.0.1")
			// keep0 is named and exists throughout.
			lateLink(t, srv, cli, "keep0", "c2", "10.77.0.1")
			conf := lateIfaceConf + "interface=keep0\n"
			if mode == "bind-dynamic" {
				conf += "bind-dynamic\n"
			}
			m := startMoatd(t, srv, conf, map[string]string{"hosts": testHosts})
			m.waitReady(t)
			waitFor(t, 5*time.Second, "the warning", func() bool {
				return strings.Contains(m.out.String(), "warning: interface br0 does not currently exist")
			})
			waitFor(t, 5*time.Second, "answer on 127.0.0.1", func() bool { return srv.answers("127.0.0.1") })

			lateLink(t, srv, cli, "br0", "c0", "10.78.0.1")
			created := time.Now()
			// A query that arrives before the master has seen br0 goes
			// unanswered (wildcard sockets) and dig asks again.
			waitFor(t, 10*time.Second, "answer on br0, created after the start", func() bool { return cli.answers("10.78.0.1") })
			t.Logf("e2e: %s: late interface answered %v after it was created", mode, time.Since(created).Round(time.Millisecond))
			if !cli.answers("10.78.0.1", "+tcp") {
				t.Error("no TCP answer on br0")
			}
			if cli.answers("10.79.0.1") {
				t.Error("answered on other0, which interface= does not name")
			}
			if mode == "wildcard" && !strings.Contains(m.out.String(), "DNS interface br0 appeared") {
				t.Errorf("no log line for br0 appearing:\n%s", m.out.String())
			}
			if mode == "wildcard" {
				lateIfaceDeleted(t, m, srv, cli)
			}
		})
	}
	t.Run("bind-interfaces", func(t *testing.T) {
		srv := newNetns(t)
		m := startMoatd(t, srv, lateIfaceConf+"bind-interfaces\n", map[string]string{"hosts": testHosts})
		select {
		case <-m.exited:
		case <-time.After(10 * time.Second):
			t.Fatal("moatd kept running with bind-interfaces and a missing interface")
		}
		const want = "unknown interface br0"
		if m.err == nil || !strings.Contains(m.out.String(), "moatd: "+want) {
			t.Errorf("moatd exit %v, want it to stop with %q:\n%s", m.err, want, m.out.String())
		}
		requireDnsmasq(t)
		dir := t.TempDir()
		out, err := srv.command("timeout", "10", "dnsmasq", "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null",
			"--no-resolv", "--no-hosts", "--interface=br0", "--bind-interfaces", "--pid-file="+filepath.Join(dir, "pid")).CombinedOutput()
		var exit *exec.ExitError
		if !strings.Contains(string(out), "dnsmasq: "+want) || err == nil || (errors.As(err, &exit) && exit.ExitCode() == 124) {
			t.Errorf("dnsmasq, the reference: %v:\n%s", err, out)
		}
	})
}

// lateIfaceDeleted deletes br0, which moatd (wildcard mode) answers on,
// and creates it again: keep0, also named, is answered on throughout,
// and the new br0 (a new interface index) once it exists. The new br0
// gets another network, so that only its index can let its queries in
// (dnsd also allows the addresses of the allowed interfaces).
func lateIfaceDeleted(t *testing.T, m *moatd, srv, cli *netns) {
	t.Helper()
	before := ifIndex(t, srv, "br0")
	run(t, "ip", "-n", srv.name, "link", "del", "br0") // and its peer c0
	waitFor(t, 5*time.Second, "the log line for br0 going", func() bool {
		return strings.Contains(m.out.String(), "DNS interface br0 is gone")
	})
	if !cli.answers("10.77.0.1") {
		t.Errorf("no answer on keep0 once br0 was deleted:\n%s", m.out.String())
	}
	lateLink(t, srv, cli, "br0", "c0", "10.76.0.1")
	if after := ifIndex(t, srv, "br0"); after == before {
		t.Fatalf("the new br0 has the old one's index %s: the test proves nothing", after)
	}
	created := time.Now()
	waitFor(t, 5*time.Second, "answer on br0, deleted and created again", func() bool { return cli.answers("10.76.0.1") })
	t.Logf("e2e: re-created interface answered %v after it was created", time.Since(created).Round(time.Millisecond))
	if !cli.answers("10.77.0.1") {
		t.Error("no answer on keep0 once br0 was back")
	}
	if n := strings.Count(m.out.String(), "DNS interface br0 appeared"); n != 2 {
		t.Errorf("%d log lines for br0 appearing, want 2:\n%s", n, m.out.String())
	}
}

// ifIndex returns an interface's index in the namespace, as ip prints it.
func ifIndex(t *testing.T, n *netns, name string) string {
	t.Helper()
	out := run(t, "ip", "-n", n.name, "-o", "link", "show", "dev", name)
	index, _, ok := strings.Cut(out, ":")
	if !ok {
		t.Fatalf("ip link show %s: %q", name, out)
	}
	return index
}
