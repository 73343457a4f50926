package test

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// Issue 6 acceptance: the command lines libvirt and NetworkManager start
// dnsmasq with, run end to end (not only parsed, which
// internal/config/argv_test.go does): the daemon starts, goes into the
// background or stays in the foreground as dnsmasq would with that argv,
// writes its pid file, answers DNS, leases an address to udhcpc and
// calls the dhcp-script.

// libvirtLeasesDir stands for /var/lib/libvirt/dnsmasq in the corpus
// files; the tests point it at a temporary directory.
const libvirtLeasesDir = "/var/lib/libvirt/dnsmasq"

// libvirtRun is what one daemon did with libvirt's command line.
type libvirtRun struct {
	addr   netip.Addr // udhcpc's lease
	events []string   // the script's calls: action MAC IP name bridge=...
}

// TestLibvirtArgvV6 starts moatd, then dnsmasq, as libvirt's network
// driver does (networkBuildDhcpDaemonCommandLine: --conf-file=
// --leasefile-ro --dhcp-script=, VIR_BRIDGE_NAME in the environment)
// with the corpus file leasetime-seconds.conf on a veth standing for
// virbr0, and the pid-file line real libvirt configurations carry. Both
// must go into the background with the parent exiting 0, keep the
// command line they were given, answer the addn-hosts name, lease the
// same address to the same client, keep no leases file, call the script
// with the same arguments ("init", then "add MAC IP name", then "old
// MAC IP name" on SIGHUP) and the bridge's name in its environment,
// survive SIGUSR1 and SIGUSR2, and remove the pid file on SIGTERM.
func TestLibvirtArgvV6(t *testing.T) {
	testutil.RequireCommand(t, "busybox")
	testutil.RequireCommand(t, "dnsmasq")
	l := newDHCPLink(t)
	corpus, err := os.ReadFile(filepath.Join(corpusRoot, "libvirt", "leasetime-seconds.conf"))
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	moat := runLibvirtLike(t, l, moatdBin, string(corpus))
	ref := runLibvirtLike(t, l, testutil.RequireCommand(t, "dnsmasq"), string(corpus))
	if moat.addr != ref.addr {
		t.Errorf("lease: moatd gave %v, dnsmasq %v", moat.addr, ref.addr)
	}
	if strings.Join(moat.events, "\n") != strings.Join(ref.events, "\n") {
		t.Errorf("dhcp-script calls differ:\nmoatd:\n%s\ndnsmasq:\n%s",
			strings.Join(moat.events, "\n"), strings.Join(ref.events, "\n"))
	}
}

// runLibvirtLike runs bin with libvirt's argv on l's server end, checks
// what it did, and stops it.
func runLibvirtLike(t *testing.T, l *dhcpLink, bin, corpus string) libvirtRun {
	t.Helper()
	name := filepath.Base(bin)
	// The script runs as an unprivileged user under moatd: its
	// directory is world-writable.
	dir, err := os.MkdirTemp("", "moat-e2e-libvirt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer(libvirtLeasesDir, dir, "virbr0", l.srvIf, "192.168.122.", "192.0.2.").Replace(corpus)
	pidFile := filepath.Join(dir, "default.pid")
	// Lines not in this corpus file: log-dhcp and a log file for the
	// failure report.
	conf += "pid-file=" + pidFile + "\nlog-dhcp\nlog-facility=" + filepath.Join(dir, "log") + "\n"
	files := map[string]string{
		"default.conf":      conf,
		"default.hostsfile": "",
		"default.addnhosts": "192.0.2.7 addn.libvirt.test\n",
		// Not libvirt_leaseshelper: a recorder with its arguments.
		"libvirt_leaseshelper": "#!/bin/sh\necho \"$1 $2 $3 $4 bridge=${VIR_BRIDGE_NAME-unset}\" >> " + dir + "/events\nexit 0\n",
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	argv := []string{bin, "--conf-file=" + filepath.Join(dir, "default.conf"), "--leasefile-ro",
		"--dhcp-script=" + filepath.Join(dir, "libvirt_leaseshelper")}
	parent := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.srv.name, "env", "VIR_BRIDGE_NAME=virbr0"}, argv...)...)
	out, err := parent.CombinedOutput()
	if err != nil {
		t.Fatalf("%s (daemonising) exited with %v:\n%s", name, err, out)
	}
	var pid int
	waitFor(t, 5*time.Second, name+"'s pid file", func() bool {
		b, err := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 1
	})
	stopped := false
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Logf("%s's log:\n%s", name, b)
		}
	})
	stop := func() {
		if !stopped {
			stopped = true
			_ = syscall.Kill(pid, syscall.SIGTERM)
			waitFor(t, 10*time.Second, name+" to exit on SIGTERM", func() bool { return !alive(pid) })
		}
	}
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !alive(pid) || pid == parent.Process.Pid {
		t.Fatalf("%s: pid file names %d, not a live background process", name, pid)
	}
	// libvirt and ps users find the daemon by its command line.
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err != nil || string(b) != strings.Join(argv, "\x00")+"\x00" {
		t.Errorf("%s: the daemon's command line is %q (%v), want %q", name, b, err, argv)
	}
	waitFor(t, 5*time.Second, name+" answers the addn-hosts name", func() bool {
		return strings.TrimSpace(l.srv.dig("@192.0.2.1", "+short", "addn.libvirt.test")) == "192.0.2.7"
	})
	run := libvirtRun{addr: l.udhcpcWith(t, 20*time.Second, "-t", "5", "-T", "1", "-x", "hostname:vm1")}
	mac := l.clientMAC(t)
	want := []string{"init    bridge=virbr0", "add " + mac + " " + run.addr.String() + " vm1 bridge=virbr0"}
	waitFor(t, 10*time.Second, name+"'s dhcp-script calls", func() bool {
		run.events = recorded(t, dir, "events")
		return len(run.events) >= len(want)
	})
	// What libvirt does after virsh net-update: SIGHUP, on which both
	// call the script with "old" for every lease. SIGUSR1 (statistics)
	// and SIGUSR2 (reopen the log file) must leave the daemon running.
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP} {
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatalf("%s: %v: %v", name, sig, err)
		}
	}
	want = append(want, "old "+mac+" "+run.addr.String()+" vm1 bridge=virbr0")
	waitFor(t, 10*time.Second, name+"'s dhcp-script calls after SIGHUP", func() bool {
		run.events = recorded(t, dir, "events")
		return len(run.events) >= len(want)
	})
	if strings.Join(run.events, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: dhcp-script calls:\n%s\nwant:\n%s", name, strings.Join(run.events, "\n"), strings.Join(want, "\n"))
	}
	if !alive(pid) {
		t.Fatalf("%s did not survive SIGUSR1, SIGUSR2 and SIGHUP", name)
	}
	if _, err := os.Stat(filepath.Join(dir, "default.leases")); !os.IsNotExist(err) {
		t.Errorf("%s with --leasefile-ro wrote a leases file (%v)", name, err)
	}
	// moatd's journal follows the pid file (one per libvirt network),
	// not the default lease file every instance would share.
	if _, err := os.Stat(filepath.Join(dir, "default.leases.journal")); (err == nil) != (bin == moatdBin) {
		t.Errorf("%s: lease journal beside the pid file: %v", name, err)
	}
	stop()
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("%s left its pid file after SIGTERM (%v)", name, err)
	}
	return run
}

// TestNetworkManagerSharedArgvV6 runs NetworkManager's "shared"
// (hotspot) command line (nm-dnsmasq-manager.c, as quoted in
// corpus/networkmanager/shared-ipv4.conf) end to end: it stays in the
// foreground (--keep-in-foreground), its pid file names that process,
// udhcpc gets an address from the range with the router, DNS server and
// search domain NetworkManager passes, the leases file holds the lease in
// dnsmasq's format, and the client's name resolves from the lease.
func TestNetworkManagerSharedArgvV6(t *testing.T) {
	testutil.RequireCommand(t, "busybox")
	l := newDHCPLink(t)
	run(t, "ip", "-n", l.srv.name, "addr", "add", "10.42.0.1/24", "dev", l.srvIf)
	dir := t.TempDir()
	sharedDir := filepath.Join(dir, "dnsmasq-shared.d")
	if err := os.Mkdir(sharedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	leaseFile := filepath.Join(dir, "dnsmasq-"+l.srvIf+".leases")
	pidFile := filepath.Join(dir, "nm-dnsmasq-"+l.srvIf+".pid")
	cmd := l.srv.command(moatdBin, "--conf-file=/dev/null", "--no-hosts", "--keep-in-foreground",
		"--bind-interfaces", "--except-interface=lo", "--clear-on-reload", "--strict-order",
		"--listen-address=10.42.0.1", "--dhcp-range=10.42.0.10,10.42.0.254,3600",
		"--dhcp-option=option:router,10.42.0.1", "--dhcp-option=option:dns-server,10.42.0.1",
		"--dhcp-option=option:domain-search,example.lan", "--dhcp-leasefile="+leaseFile,
		"--pid-file="+pidFile, "--conf-dir="+sharedDir)
	m := runMoatd(t, cmd, dir)
	waitFor(t, 10*time.Second, "the pid file", func() bool {
		select {
		case <-m.exited:
			t.Fatalf("moatd exited: %v\n%s", m.err, m.out.String())
		default:
		}
		b, err := os.ReadFile(pidFile)
		return err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(cmd.Process.Pid)
	})
	lease := runUdhcpc(t, l.cli, l.cliIf, "-x", "hostname:phone", "-O", "search")
	if !netip.MustParsePrefix("10.42.0.0/24").Contains(lease.addr) || lease.addr.As4()[3] < 10 {
		t.Errorf("lease %v is outside 10.42.0.10-254", lease.addr)
	}
	if lease.router != "10.42.0.1" || lease.dns != "10.42.0.1" || lease.env["search"] != "example.lan" || lease.leaseTS != "3600" {
		t.Errorf("lease options: router %q dns %q search %q lease %q", lease.router, lease.dns, lease.env["search"], lease.leaseTS)
	}
	waitFor(t, 5*time.Second, "the lease in the leases file", func() bool { return leaseLine(t, leaseFile, lease.addr) != "" })
	if f := strings.Fields(leaseLine(t, leaseFile, lease.addr)); f[3] != "phone" {
		t.Errorf("leases file line %q: want the name phone", f)
	}
	waitFor(t, 5*time.Second, "the lease's name in DNS", func() bool {
		return strings.TrimSpace(l.srv.dig("@10.42.0.1", "+short", "phone")) == lease.addr.String()
	})
	select {
	case <-m.exited:
		t.Fatalf("moatd left the foreground: %v", m.err)
	default:
	}
}
