package test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// killClients is how many clients are in flight when the master and
// dhcpd are killed; each is a busybox udhcpc on a macvlan of its own
// (its own MAC) on the client end of the veth pair.
const killClients = 30

const dhcpKillConf = `port=0
interface=%IF%
bind-interfaces
dhcp-range=192.0.2.10,192.0.2.250,12h
dhcp-leasefile=%LEASES%/leases
no-ping
`

// fleetClient is one simulated machine of the load.
type fleetClient struct {
	iface, mac string
	dir        string
	script     string
	record     string
}

// bound is the address the client's script recorded, invalid if none.
func (c *fleetClient) bound() netip.Addr {
	env, err := readEnvFile(c.record)
	if err != nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(env["ip"])
	return a
}

// newFleet adds n macvlan interfaces on l's client end, each with a MAC
// of its own.
func newFleet(t *testing.T, l *dhcpLink, n int) []*fleetClient {
	t.Helper()
	tag := nsCounter.Add(1)
	fleet := make([]*fleetClient, n)
	for i := range fleet {
		c := &fleetClient{iface: fmt.Sprintf("mv%d_%d", tag, i), mac: fmt.Sprintf("02:00:5e:20:%02x:%02x", tag%256, i)}
		run(t, "ip", "-n", l.cli.name, "link", "add", c.iface, "link", l.cliIf, "address", c.mac, "type", "macvlan")
		run(t, "ip", "-n", l.cli.name, "link", "set", c.iface, "up")
		fleet[i] = c
	}
	return fleet
}

// runFleet starts one udhcpc per client, spaced by gap, with fresh
// record files, and returns a function that waits for all of them.
func runFleet(t *testing.T, l *dhcpLink, fleet []*fleetClient, gap time.Duration, tries int) (wait func()) {
	t.Helper()
	for _, c := range fleet {
		c.dir = t.TempDir()
		c.script, c.record = recordScript(t, c.dir)
	}
	var wg sync.WaitGroup
	wg.Add(len(fleet))
	go func() {
		for _, c := range fleet {
			go func() {
				defer wg.Done()
				// A client that gets no lease is not an error here: the
				// server may be dead when it asks. What it bound is checked.
				_, _, _ = runClientOnce(l.cli, 40*time.Second, c.record, nil, udhcpcArgv(c.dir, c.script, c.iface, tries)...)
			}()
			time.Sleep(gap)
		}
	}()
	return wg.Wait
}

// TestDHCPKill9UnderLoad: 30 clients ask for leases, 5 ms apart; once
// some are bound, the master and dhcpd are both killed with SIGKILL
// while others are mid-exchange. Every lease a client was ACKed must be
// in the store the next master loads (the ACK leaves only after the
// journal fsync), with the client's MAC, and no
// address may ever be given to two clients: not among the ACKs before
// the kill, not after the restart, when every client asks again and
// those that had a lease must get the same address back.
func TestDHCPKill9UnderLoad(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and veth pairs")
	testutil.RequireCommand(t, "busybox")
	l := newDHCPLink(t)
	fleet := newFleet(t, l, killClients)
	leaseDir := t.TempDir() // outlives the first master
	conf := strings.NewReplacer("%IF%", l.srvIf, "%LEASES%", leaseDir).Replace(dhcpKillConf)
	m := startMoatd(t, l.srv, conf, nil)
	m.waitReady(t)
	waitFor(t, 10*time.Second, "dhcpd ready", func() bool { return m.workers(t)["dhcpd"] != 0 })
	dhcpd := m.workers(t)["dhcpd"]

	// Phase 1: clients arrive 5 ms apart; the kill comes after the tenth
	// ACK, while later ones are between DISCOVER and ACK (the log line
	// below counts them).
	wait := runFleet(t, l, fleet, 5*time.Millisecond, 3)
	waitFor(t, 20*time.Second, "ten DHCPACKs", func() bool { return strings.Count(m.out.String(), "DHCPACK(") >= 10 })
	_ = syscall.Kill(dhcpd, syscall.SIGKILL)
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
	log := m.out.String()
	t.Logf("killed after %d DISCOVERs, %d REQUESTs, %d ACKs", strings.Count(log, "DHCPDISCOVER("),
		strings.Count(log, "DHCPREQUEST("), strings.Count(log, "DHCPACK("))
	wait()

	before := map[string]netip.Addr{} // MAC -> address ACKed by the first master
	owner := map[netip.Addr]string{}  // address -> MAC
	for _, c := range fleet {
		a := c.bound()
		if !a.IsValid() {
			continue
		}
		if other, dup := owner[a]; dup {
			t.Errorf("before the kill %v was ACKed to both %s and %s", a, other, c.mac)
		}
		owner[a], before[c.mac] = c.mac, a
	}
	t.Logf("%d of %d clients were ACKed before the kill", len(before), len(fleet))
	// dhcpd logs an ACK as it releases it, so the kill can fall between
	// the log line and the datagram: a client or two may miss an ACK the
	// log shows. Far fewer would mean the test did not test much.
	if len(before) < 7 {
		t.Fatalf("only %d clients recorded a lease, yet the log showed ten ACKs:\n%s", len(before), m.out.String())
	}

	// The journal alone must bring every ACKed lease back.
	leases := filepath.Join(leaseDir, "leases")
	if err := os.Remove(leases); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	m2 := startMoatd(t, l.srv, conf, nil)
	m2.waitReady(t)
	waitFor(t, 10*time.Second, "leases file rewritten", func() bool {
		_, err := os.Stat(leases)
		return err == nil
	})
	for mac, a := range before {
		waitFor(t, 5*time.Second, "lease of "+mac+" in the leases file", func() bool { return leaseLine(t, leases, a) != "" })
		if f := strings.Fields(leaseLine(t, leases, a)); f[1] != mac {
			t.Errorf("after restart %v belongs to %s, but it was ACKed to %s", a, f[1], mac)
		}
	}

	// Phase 2: every client asks again; nobody may lose or share.
	wait = runFleet(t, l, fleet, 10*time.Millisecond, 5)
	wait()
	owner = map[netip.Addr]string{}
	for _, c := range fleet {
		a := c.bound()
		if !a.IsValid() {
			t.Errorf("%s got no lease after the restart", c.mac)
			continue
		}
		if other, dup := owner[a]; dup {
			t.Errorf("after the restart %v was ACKed to both %s and %s", a, other, c.mac)
		}
		owner[a] = c.mac
		if old, had := before[c.mac]; had && old != a {
			t.Errorf("%s was ACKed %v before the kill but %v after it", c.mac, old, a)
		}
		if prev, ok := ownerBefore(before, a); ok && prev != c.mac {
			t.Errorf("%v, ACKed to %s before the kill, was given to %s after it", a, prev, c.mac)
		}
	}
}

func ownerBefore(before map[string]netip.Addr, a netip.Addr) (string, bool) {
	for mac, b := range before {
		if b == a {
			return mac, true
		}
	}
	return "", false
}
