package test

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// scriptRecorder writes a dhcp-script that appends one line per call to
// DIR/events: its arguments, the uid it ran as, and the DNSMASQ_*
// variables the tests look at; and one to DIR/txn (written first): the
// action and the transaction's variables, '|'-separated. The directory is world-writable because
// the script runs as the unprivileged script user.
func scriptRecorder(t *testing.T) (dir, script string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "moat-e2e-script-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	script = filepath.Join(dir, "lease-hook")
	body := `#!/bin/sh
echo "$1|${DNSMASQ_TAGS-unset}|${DNSMASQ_VENDOR_CLASS-unset}|${DNSMASQ_SUPPLIED_HOSTNAME-unset}|${DNSMASQ_REQUESTED_OPTIONS-unset}|${DNSMASQ_USER_CLASS0-unset}|${DNSMASQ_INTERFACE-unset}|${DNSMASQ_DATA_MISSING-unset}|${DNSMASQ_RELAY_ADDRESS-unset}|${DNSMASQ_CIRCUIT_ID-unset}" >> ` + dir + `/txn
vars=$(env | grep -o '^DNSMASQ_[A-Z_0-9]*' | sort | tr '\n' ,)
echo "$* uid=$(id -u) expires=${DNSMASQ_LEASE_EXPIRES-unset} remaining=${DNSMASQ_TIME_REMAINING-unset} oldname=${DNSMASQ_OLD_HOSTNAME-unset} vars=$vars" >> ` + dir + `/events
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, script
}

// events returns the lines the script recorded so far.
func events(t *testing.T, dir string) []string {
	t.Helper()
	return recorded(t, dir, "events")
}

func recorded(t *testing.T, dir, file string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func waitEvent(t *testing.T, dir, prefix string) string {
	t.Helper()
	var found string
	waitFor(t, 15*time.Second, "dhcp-script call "+prefix, func() bool {
		for _, e := range events(t, dir) {
			if strings.HasPrefix(e, prefix) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// clientMAC is the hardware address of the client's veth end.
func (l *dhcpLink) clientMAC(t *testing.T) string {
	t.Helper()
	out, err := l.cli.command("cat", "/sys/class/net/"+l.cliIf+"/address").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// udhcpcRelease runs udhcpc until it holds a lease (configured on the
// interface: udhcpc sends the RELEASE from it), then stops it with
// SIGTERM, on which -R makes it release the lease. (-q would not: udhcpc
// quits before it counts itself bound, and releases nothing.)
func (l *dhcpLink) udhcpcRelease(t *testing.T, hostname string) {
	t.Helper()
	l.udhcpcRenewRelease(t, hostname, false)
}

// udhcpcRenewRelease is udhcpcRelease that, with renew, first has
// udhcpc renew its lease (SIGUSR1: a REQUEST from ciaddr, RENEWING) and
// waits for the ACK. extra are more udhcpc arguments.
func (l *dhcpLink) udhcpcRenewRelease(t *testing.T, hostname string, renew bool, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "configure")
	bound := filepath.Join(dir, "bound")
	renewed := filepath.Join(dir, "renewed")
	body := "#!/bin/sh\ncase \"$1\" in\nbound) ip addr add \"$ip/${mask:-24}\" dev \"$interface\"; touch " + bound + " ;;\nrenew) touch " + renewed + " ;;\ndeconfig) ip addr flush dev \"$interface\" ;;\nesac\nexit 0\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"netns", "exec", l.cli.name, "busybox", "udhcpc", "-i", l.cliIf, "-f", "-R", "-t", "5", "-T", "2", "-s", script}
	if hostname != "" {
		args = append(args, "-x", "hostname:"+hostname)
	}
	args = append(args, extra...)
	cmd := exec.Command("ip", args...) // ip netns exec execs udhcpc: same pid
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
	}()
	waitFor(t, 20*time.Second, "udhcpc bound", func() bool {
		_, err := os.Stat(bound)
		return err == nil
	})
	if renew {
		if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "udhcpc renewed", func() bool {
			_, err := os.Stat(renewed)
			return err == nil
		})
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("udhcpc did not exit on SIGTERM:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "unicasting a release") {
		t.Fatalf("udhcpc released nothing:\n%s", out.String())
	}
}

// TestDHCPScriptAddDel: with dhcp-script and no dhcp-scriptuser, moatd
// runs the script as the unprivileged worker user (not as root, unlike
// dnsmasq's default): udhcpc's lease gives "add MAC IP", a restarted
// master "old MAC IP", SIGHUP another "old", the release "del MAC IP";
// the helper process holds no capabilities.
func TestDHCPScriptAddDel(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and veth pairs")
	testutil.RequireCommand(t, "busybox")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	l := newDHCPLink(t)
	dir, script := scriptRecorder(t)
	conf := strings.NewReplacer("%IF%", l.srvIf, "%LEASES%", t.TempDir()).Replace(dhcpConf) + "dhcp-script=" + script + "\n"
	m := startMoatd(t, l.srv, conf, nil)
	m.waitReady(t)
	waitFor(t, 10*time.Second, "dhcp-script helper ready", func() bool { return strings.Contains(m.out.String(), "dhcp-script[") })

	helper, ok := m.workers(t)["dhcp-script"]
	if !ok {
		t.Fatalf("no dhcp-script helper among %v", m.workers(t))
	}
	st := procStatus(t, helper)
	if f := strings.Fields(st["Uid"]); len(f) != 4 || f[0] != nobody.Uid || f[1] != nobody.Uid {
		t.Errorf("helper Uid %q, want %s", st["Uid"], nobody.Uid)
	}
	if st["CapEff"] != "0000000000000000" || st["CapBnd"] != "0000000000000000" || st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" {
		t.Errorf("helper sandbox: CapEff %s CapBnd %s NoNewPrivs %s Seccomp %s", st["CapEff"], st["CapBnd"], st["NoNewPrivs"], st["Seccomp"])
	}

	mac := l.clientMAC(t)
	addr := l.udhcpc(t)
	add := waitEvent(t, dir, "add "+mac+" "+addr.String())
	if !strings.Contains(add, " uid="+nobody.Uid+" ") {
		t.Errorf("script ran as %q, want uid %s", add, nobody.Uid)
	}
	if strings.Contains(add, "expires=unset") || strings.Contains(add, "remaining=unset") {
		t.Errorf("add without lease times: %q", add)
	}

	// A new master calls "old" for the lease it loads, and again on
	// SIGHUP, as dnsmasq does at start and on SIGHUP.
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-m.exited
	m2 := startMoatd(t, l.srv, conf, nil)
	m2.waitReady(t)
	old := waitEvent(t, dir, "old "+mac+" "+addr.String())
	if !strings.Contains(old, "DNSMASQ_DATA_MISSING") || !strings.Contains(old, "DNSMASQ_INTERFACE") {
		t.Errorf("start-up old: %q, want DNSMASQ_DATA_MISSING and DNSMASQ_INTERFACE (as dnsmasq 2.90)", old)
	}
	// A helper that dies is restarted, and the next call reaches the new one.
	first := m2.workers(t)["dhcp-script"]
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "a new dhcp-script helper", func() bool {
		pid, ok := m2.workers(t)["dhcp-script"]
		return ok && pid != first && strings.Count(m2.out.String(), "dhcp-script[") >= 2
	})
	if err := m2.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "a second old after SIGHUP", func() bool {
		n := 0
		for _, e := range events(t, dir) {
			if strings.HasPrefix(e, "old "+mac+" "+addr.String()) {
				n++
			}
		}
		return n == 2
	})

	l.udhcpcRelease(t, "")
	del := waitEvent(t, dir, "del "+mac+" "+addr.String())
	if !strings.Contains(del, "remaining=unset") {
		t.Errorf("del with DNSMASQ_TIME_REMAINING: %q", del)
	}
	t.Logf("script calls: %q", events(t, dir))
}

// TestDHCPScriptMatchesDnsmasq runs the same recording script under
// dnsmasq 2.90 in the same setup (dnsmasq as root runs it as root by
// default, so dhcp-scriptuser=nobody makes the two comparable), with a
// udhcpc that sends a vendor class (-V), a user class and host names: a
// lease with a name, the same lease with another name, then a udhcpc
// that asks anew for the lease it holds (DISCOVER, REQUEST), renews it
// (RENEWING) and releases it. Both make the same calls with the same
// arguments, the same DNSMASQ_* variables and the same transaction
// values: "add" and each "old" of a request carry DNSMASQ_TAGS,
// DNSMASQ_VENDOR_CLASS, DNSMASQ_SUPPLIED_HOSTNAME,
// DNSMASQ_REQUESTED_OPTIONS and DNSMASQ_USER_CLASS0 and no
// DNSMASQ_DATA_MISSING; the client asking anew gets an "old"; the
// renewal gets no call; the "del" has DNSMASQ_DATA_MISSING.
func TestDHCPScriptMatchesDnsmasq(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and veth pairs")
	testutil.RequireCommand(t, "busybox")
	testutil.RequireCommand(t, "dnsmasq")
	calls := map[string][]string{}
	vars := map[string][]string{} // per call, the DNSMASQ_* variables set
	txns := map[string][]string{} // per call, the transaction's values
	// A vendor class and the user class "abcd" (RFC 3004).
	client := []string{"-V", "myvendor", "-x", "0x4d:0461626364"}
	for _, server := range []string{"moatd", "dnsmasq"} {
		l := newDHCPLink(t)
		dir, script := scriptRecorder(t)
		leases := t.TempDir()
		conf := strings.NewReplacer("%IF%", l.srvIf, "%LEASES%", leases).Replace(dhcpConf) +
			"dhcp-script=" + script + "\ndhcp-scriptuser=nobody\ndhcp-vendorclass=set:vc,myvendor\n"
		if server == "moatd" {
			m := startMoatd(t, l.srv, conf, nil)
			m.waitReady(t)
			waitFor(t, 10*time.Second, "dhcp-script helper ready", func() bool { return strings.Contains(m.out.String(), "dhcp-script[") })
		} else {
			startDnsmasqDHCP(t, l, conf, leases)
		}
		mac := l.clientMAC(t)
		l.udhcpcName(t, "first", client...)
		waitEvent(t, dir, "add "+mac)
		l.udhcpcName(t, "second", client...)
		waitEvent(t, dir, "old "+mac+" 192.0.2.")
		l.udhcpcRenewRelease(t, "second", true, client...)
		waitEvent(t, dir, "del "+mac)
		var seen []string
		for _, e := range events(t, dir) {
			// Arguments and the lost name: the times differ from run to run.
			args, rest, _ := strings.Cut(e, " expires=")
			if _, old, ok := strings.Cut(rest, " oldname="); ok {
				old, _, _ = strings.Cut(old, " ")
				args += " oldname=" + old
			}
			_, v, _ := strings.Cut(e, " vars=")
			vars[server] = append(vars[server], v)
			// The address is a hash of the (random) MAC: compare the rest.
			f := strings.Fields(strings.ReplaceAll(args, mac, "MAC"))
			if len(f) > 2 {
				f[2] = "IP"
			}
			seen = append(seen, strings.Join(f, " "))
		}
		calls[server] = seen
		for _, x := range recorded(t, dir, "txn") {
			txns[server] = append(txns[server], strings.ReplaceAll(x, l.srvIf, "IF"))
		}
	}
	want := []string{
		"add MAC IP first uid=65534 oldname=unset",
		"old MAC IP uid=65534 oldname=first",
		"old MAC IP second uid=65534 oldname=unset",
		"old MAC IP second uid=65534 oldname=unset", // asked anew: DISCOVER, REQUEST
		"del MAC IP second uid=65534 oldname=unset", // the renewal before it: no call
	}
	for _, server := range []string{"dnsmasq", "moatd"} {
		if strings.Join(calls[server], "\n") != strings.Join(want, "\n") {
			t.Errorf("%s's script calls\n got %q\nwant %q", server, calls[server], want)
		}
	}
	t.Logf("both: %q", calls["moatd"])
	if strings.Join(vars["moatd"], "\n") != strings.Join(vars["dnsmasq"], "\n") {
		t.Errorf("DNSMASQ_* variables differ\nmoatd:   %q\ndnsmasq: %q", vars["moatd"], vars["dnsmasq"])
	}
	if strings.Join(txns["moatd"], "\n") != strings.Join(txns["dnsmasq"], "\n") {
		t.Errorf("transaction values differ\nmoatd:   %q\ndnsmasq: %q", txns["moatd"], txns["dnsmasq"])
	}
	t.Logf("transactions: %q", txns["moatd"])
	// What the values are, spelled out (tags, vendor class, supplied
	// name, requested options, user class, interface, data missing).
	if got := txns["moatd"]; len(got) == len(want) {
		add := strings.Split(got[0], "|")
		if len(add) != 10 || add[0] != "add" || add[1] != "vc IF" || add[2] != "myvendor" || add[3] != "first" ||
			!strings.HasPrefix(add[4], "1,3,6,") || add[5] != "abcd" || add[6] != "IF" || add[7] != "unset" || add[8] != "unset" {
			t.Errorf("add's transaction: %q", got[0])
		}
		if !strings.HasPrefix(got[3], "old|vc IF|myvendor|second|") || !strings.HasSuffix(got[4], "|IF|1|unset|unset") {
			t.Errorf("resume %q, del %q", got[3], got[4])
		}
	}
}

// udhcpcName gets a lease with udhcpc, sending hostname (and extra
// arguments), and quits without releasing it.
func (l *dhcpLink) udhcpcName(t *testing.T, hostname string, extra ...string) {
	t.Helper()
	args := append([]string{"udhcpc", "-i", l.cliIf, "-n", "-q", "-f", "-t", "5", "-T", "2",
		"-s", "/bin/true", "-x", "hostname:" + hostname}, extra...)
	out, err := l.cli.command("busybox", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
}

// startDnsmasqDHCP runs dnsmasq with conf in the server namespace.
func startDnsmasqDHCP(t *testing.T, l *dhcpLink, conf, dir string) {
	t.Helper()
	confPath := filepath.Join(dir, "dnsmasq.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := l.srv.command("dnsmasq", "--keep-in-foreground", "--log-facility=-", "--conf-file="+confPath,
		"--pid-file="+filepath.Join(dir, "dnsmasq.pid"), "--user=root")
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dnsmasq output:\n%s", out.String())
		}
	})
	waitFor(t, 10*time.Second, "dnsmasq DHCP ready", func() bool { return strings.Contains(out.String(), "DHCP, IP range") })
}
