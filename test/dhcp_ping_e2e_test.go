package test

import (
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// pingLAN is a server namespace with a bridge (192.0.2.1/24) and two
// hosts on it: a DHCP client namespace with no address, and a
// "squatter" namespace that holds 192.0.2.60, inside the DHCP range,
// without a lease, and answers pings.
type pingLAN struct {
	link     dhcpLink // srvIf is the bridge
	squatter netip.Addr
}

func newPingLAN(t *testing.T) *pingLAN {
	t.Helper()
	l := &pingLAN{link: dhcpLink{srv: newNetns(t), cli: newNetns(t)}, squatter: netip.MustParseAddr("192.0.2.60")}
	sq := newNetns(t)
	n := nsCounter.Add(1)
	br := fmt.Sprintf("mpb%d", n)
	l.link.srvIf, l.link.cliIf = br, fmt.Sprintf("mpc%d", n)
	srv := l.link.srv.name
	run(t, "ip", "-n", srv, "link", "add", br, "type", "bridge")
	run(t, "ip", "-n", srv, "addr", "add", "192.0.2.1/24", "dev", br)
	run(t, "ip", "-n", srv, "link", "set", br, "up")
	for _, peer := range []struct{ ns, name, port string }{
		{l.link.cli.name, l.link.cliIf, fmt.Sprintf("mpp%da", n)},
		{sq.name, fmt.Sprintf("mpq%d", n), fmt.Sprintf("mpp%db", n)},
	} {
		run(t, "ip", "link", "add", peer.port, "netns", srv, "type", "veth", "peer", "name", peer.name, "netns", peer.ns)
		run(t, "ip", "-n", srv, "link", "set", peer.port, "master", br)
		run(t, "ip", "-n", srv, "link", "set", peer.port, "up")
		run(t, "ip", "-n", peer.ns, "link", "set", peer.name, "up")
	}
	run(t, "ip", "-n", sq.name, "addr", "add", l.squatter.String()+"/24", "dev", fmt.Sprintf("mpq%d", n))
	waitFor(t, 10*time.Second, "the squatter answers ping", func() bool {
		return exec.Command("ip", "netns", "exec", srv, "busybox", "ping", "-c", "1", "-W", "1", l.squatter.String()).Run() == nil
	})
	return l
}

// udhcpcRequest runs busybox udhcpc once in the client namespace asking
// for addr (option 50) and returns the address it was bound to. -t/-T:
// the server may wait 3 s for its ping before it offers.
func (l *pingLAN) udhcpcRequest(t *testing.T, addr netip.Addr) netip.Addr {
	t.Helper()
	return l.link.udhcpcWith(t, 40*time.Second, "-t", "4", "-T", "5", "-r", addr.String())
}

const pingConf = `port=0
interface=%IF%
bind-interfaces
dhcp-range=192.0.2.50,192.0.2.99,12h
dhcp-leasefile=%LEASES%/leases
`

// TestDHCPPingCheck: a client asks for 192.0.2.60, which a host on the
// link already uses without a lease. With the ping check (the default)
// the address answers the server's echo request and the client is
// offered another one; with no-ping it is offered the address asked
// for. dnsmasq, run the same way, behaves alike.
func TestDHCPPingCheck(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces, bridges and veth pairs")
	testutil.RequireCommand(t, "busybox")
	l := newPingLAN(t)
	for _, tc := range []struct {
		name   string
		noPing bool
	}{{"ping", false}, {"no-ping", true}} {
		t.Run(tc.name, func(t *testing.T) {
			conf := strings.NewReplacer("%IF%", l.link.srvIf, "%LEASES%", t.TempDir()).Replace(pingConf)
			if tc.noPing {
				conf += "no-ping\n"
			}
			m := startMoatd(t, l.link.srv, conf, nil)
			m.waitReady(t)
			waitFor(t, 10*time.Second, "dhcpd ready", func() bool { return strings.Contains(m.out.String(), "dhcpd[") })
			got := l.udhcpcRequest(t, l.squatter)
			inUse := "address " + l.squatter.String() + " is in use"
			if tc.noPing {
				if got != l.squatter {
					t.Fatalf("with no-ping the client got %v, want the address it asked for, %v", got, l.squatter)
				}
				if strings.Contains(m.out.String(), inUse) {
					t.Errorf("with no-ping the server pinged:\n%s", m.out.String())
				}
				return
			}
			if got == l.squatter || !inRange(got) {
				t.Fatalf("the client got %v: want an address in the range other than %v, which answers ping", got, l.squatter)
			}
			if log := m.out.String(); !strings.Contains(log, inUse) || strings.Contains(log, "ping check off") {
				t.Errorf("want %q and no \"ping check off\" in the log:\n%s", inUse, log)
			}
		})
	}
	t.Run("dnsmasq", func(t *testing.T) {
		testutil.RequireCommand(t, "dnsmasq")
		dir := t.TempDir()
		cmd := l.link.srv.command("dnsmasq", "--keep-in-foreground", "--log-facility=-", "--port=0",
			"--conf-file=/dev/null", "--interface="+l.link.srvIf, "--bind-interfaces",
			"--dhcp-range=192.0.2.50,192.0.2.99,12h", "--dhcp-leasefile="+filepath.Join(dir, "leases"),
			"--pid-file="+filepath.Join(dir, "pid"))
		var out testutil.SyncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start dnsmasq: %v", err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		waitFor(t, 10*time.Second, "dnsmasq started", func() bool { return strings.Contains(out.String(), "DHCP, IP range") })
		if got := l.udhcpcRequest(t, l.squatter); got == l.squatter || !inRange(got) {
			t.Fatalf("dnsmasq gave %v; moat's expectation (another address in the range) is wrong\n%s", got, out.String())
		}
	})
}

func inRange(a netip.Addr) bool {
	return !a.Less(netip.MustParseAddr("192.0.2.50")) && !netip.MustParseAddr("192.0.2.99").Less(a)
}
