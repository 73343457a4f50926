package test

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/moatdns/moat/internal/testutil"
)

// Capability bits (linux/capability.h) the deployment modes grant.
const (
	capNetBindService = 1 << 10
	capNetRaw         = 1 << 13
	capBPF            = 1 << 39
)

// deploymentMode is one way users run moatd (SECURITY.md "Deployment
// modes"): who starts it, on which DNS port, with or without DHCP, and
// what the master must end up holding.
type deploymentMode struct {
	name       string
	asNobody   []string // setpriv arguments before the binary; nil: run as root
	dnsPort    int
	dhcp       bool
	masterUID  string
	masterCaps uint64   // the master's CapEff and CapPrm after start
	logLines   []string // lines the master must log once at start
	conf       string   // more configuration lines
	// workerUIDs is each worker's uid; a role not listed runs as 65534.
	workerUIDs map[string]string
}

// roleUsersConf gives dnsd and dhcpd users of their own (nobody, daemon:
// accounts every Debian-like system has), so that neither can signal or
// trace the other; only a root master can apply it.
const roleUsersConf = "dns-user=nobody\ndhcp-user=daemon\n"

var deploymentModes = []deploymentMode{
	{
		name: "root", dnsPort: 53, dhcp: true, masterUID: "0",
		masterCaps: 0, // not checked: root keeps root's capabilities
		logLines: []string{"event=hardening role=master pid=", "mode=root uid=0 master-caps=all ", "missing=master-capabilities\n",
			"sandbox: hardening uid-switch: workers switch to their users: dnsd as nobody (uid 65534, dns-user), dhcpd as daemon (uid 1, dhcp-user)\n"},
		conf:       roleUsersConf,
		workerUIDs: map[string]string{"dnsd": "65534", "dhcpd": "1"},
	},
	{
		// "Run as nobody with CAP_NET_BIND_SERVICE": CAP_NET_ADMIN is
		// granted too, to prove the master gives up what it does not need.
		name: "ambient",
		asNobody: []string{"--reuid=65534", "--regid=65534", "--clear-groups",
			"--inh-caps=+net_bind_service,+net_raw,+net_admin", "--ambient-caps=+net_bind_service,+net_raw,+net_admin"},
		dnsPort: 53, dhcp: true, masterUID: "65534",
		masterCaps: capNetBindService | capNetRaw,
		logLines: []string{
			"mode=ambient uid=65534 master-caps=CAP_NET_BIND_SERVICE,CAP_NET_RAW ",
			"missing=ebpf-filter,uid-switch\n",
			"dropped CAP_NET_ADMIN",
			"hardening missing ebpf-filter: no CAP_BPF",
			"socket filters: mode auto: classic BPF",
			// No uid switch without root: the role users are ignored, once.
			"hardening missing uid-switch: the master is not root: workers keep uid 65534 (no per-role user); they are not dumpable, so other processes of that uid cannot ptrace them; ignored: dns-user=nobody, dhcp-user=daemon\n",
		},
		conf: roleUsersConf,
	},
	{
		// The command line, word for word (user and group by
		// name, CAP_NET_BIND_SERVICE alone): DNS on 53, no DHCP, the
		// classic BPF filter.
		name: "ambient-net-bind-only",
		asNobody: []string{"--reuid=nobody", "--regid=nogroup", "--clear-groups",
			"--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service"},
		dnsPort: 53, masterUID: "65534",
		masterCaps: capNetBindService,
		logLines: []string{
			"mode=ambient uid=65534 master-caps=CAP_NET_BIND_SERVICE applied=",
			"missing=ebpf-filter,uid-switch\n",
			"hardening master-capabilities: the master keeps CAP_NET_BIND_SERVICE;",
			"hardening missing ebpf-filter: no CAP_BPF",
			"socket filters: mode auto: classic BPF",
		},
	},
	{
		// DNS only, with CAP_BPF: the eBPF filters load, and CAP_NET_RAW
		// (no DHCP) is dropped.
		name: "ambient-bpf",
		asNobody: []string{"--reuid=65534", "--regid=65534", "--clear-groups",
			"--inh-caps=+net_bind_service,+net_raw,+bpf", "--ambient-caps=+net_bind_service,+net_raw,+bpf"},
		dnsPort: 53, masterUID: "65534",
		masterCaps: capNetBindService | capBPF,
		logLines: []string{
			"mode=ambient uid=65534 master-caps=CAP_NET_BIND_SERVICE,CAP_BPF ",
			"missing=uid-switch\n",
			"dropped CAP_NET_RAW",
			"socket filters: mode auto: eBPF",
		},
	},
	{
		name:     "development",
		asNobody: []string{"--reuid=65534", "--regid=65534", "--clear-groups"},
		dnsPort:  5353, masterUID: "65534",
		logLines: []string{"mode=development uid=65534 master-caps=none ", "missing=ebpf-filter,uid-switch\n"},
	},
}

// TestDeploymentModes starts moatd in each deployment mode, with DNS
// (forwarding to a dnsmasq upstream) and, where the mode can, DHCP on a
// veth, asks dig and busybox udhcpc, and checks from /proc what every
// process holds: the master only what the mode needs, every worker
// nothing (no capabilities in any set, no_new_privs, seccomp filter, a
// chroot).
func TestDeploymentModes(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces, setpriv to nobody")
	testutil.RequireCommand(t, "setpriv")
	testutil.RequireCommand(t, "busybox")
	for _, mode := range deploymentModes {
		t.Run(mode.name, func(t *testing.T) { runDeploymentMode(t, mode) })
	}
}

func runDeploymentMode(t *testing.T, mode deploymentMode) {
	l := newDHCPLink(t)
	// No IPv6 on the server's veth: a tentative link-local address
	// cannot be bound while duplicate address detection runs.
	run(t, "ip", "netns", "exec", l.srv.name, "sysctl", "-qw", "net.ipv6.conf."+l.srvIf+".disable_ipv6=1")
	startUpstreamPort(t, l.srv, "127.0.0.2", "53")

	dir := nobodyDir(t)
	conf := fmt.Sprintf("port=%d\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nserver=127.0.0.2\npid-file=\nrun-dir=%s/run\n", mode.dnsPort, dir)
	if mode.dhcp {
		conf += fmt.Sprintf("interface=%s\ndhcp-range=192.0.2.50,192.0.2.99,12h\ndhcp-leasefile=%s/leases\nno-ping\n", l.srvIf, dir)
	}
	conf += mode.conf
	confPath := filepath.Join(dir, "moatd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m := startMoatdAs(t, l.srv, mode.asNobody, "--conf-file="+confPath, "--keep-in-foreground", "--log-facility=-")
	m.waitReady(t)

	if got := strings.TrimSpace(l.srv.dig("@127.0.0.1", "-p", strconv.Itoa(mode.dnsPort), "+short", "forwarded.test")); got != "192.0.2.55" {
		t.Errorf("DNS on port %d: forwarded.test = %q, want 192.0.2.55", mode.dnsPort, got)
	}
	if mode.dhcp {
		if addr := l.udhcpc(t); !strings.HasPrefix(addr.String(), "192.0.2.") {
			t.Errorf("DHCP: udhcpc bound %v, want an address in 192.0.2.50-99", addr)
		}
	}

	log := m.out.String()
	for _, want := range mode.logLines {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if n := strings.Count(log, "audit: event=hardening "); n != 1 {
		t.Errorf("hardening line logged %d times, want once", n)
	}

	// moatctl status shows what the start-up record says cannot apply.
	if rec := hardeningRecord.FindStringSubmatch(log); rec == nil {
		t.Errorf("no hardening record with mode and missing in the log")
	} else {
		status := mustMoatctl(t, filepath.Join(dir, "run", "moatd.ctl"), "status")
		if want := "hardening: mode " + rec[1] + ", applied "; !strings.Contains(status, want) {
			t.Errorf("moatctl status lacks %q:\n%s", want, status)
		}
		if want := "; missing " + rec[2] + "\n"; !strings.Contains(status, want) {
			t.Errorf("moatctl status lacks %q:\n%s", want, status)
		}
	}

	master := m.cmd.Process.Pid
	checkMasterStatus(t, mode, master)
	workers := m.workers(t)
	wantRoles := []string{"dnsd"}
	if mode.dhcp {
		wantRoles = append(wantRoles, "dhcpd")
	}
	if len(workers) != len(wantRoles) {
		t.Errorf("workers %v, want %v", workers, wantRoles)
	}
	for _, role := range wantRoles {
		pid := workers[role]
		if pid == 0 {
			t.Errorf("no %s worker", role)
			continue
		}
		uid := mode.workerUIDs[role]
		if uid == "" {
			uid = "65534"
		}
		checkWorkerStatus(t, role, pid, uid)
	}
	if len(mode.workerUIDs) > 1 {
		// Users of their own: dnsd and dhcpd are different uids, so
		// neither may signal the other (kill(2) needs a matching uid).
		dnsUID := strings.Fields(procStatus(t, workers["dnsd"])["Uid"])
		dhcpUID := strings.Fields(procStatus(t, workers["dhcpd"])["Uid"])
		if len(dnsUID) == 0 || len(dhcpUID) == 0 || dnsUID[0] == dhcpUID[0] {
			t.Errorf("dnsd uid %v, dhcpd uid %v: want different users", dnsUID, dhcpUID)
		}
	}
}

// hardeningRecord picks the mode and the missing layers out of the
// start-up audit record.
var hardeningRecord = regexp.MustCompile(`audit: event=hardening role=master pid=\d+ mode=(\S+) .* missing=(\S+)\n`)

// checkMasterStatus checks the master's identity and capabilities.
func checkMasterStatus(t *testing.T, mode deploymentMode, pid int) {
	t.Helper()
	st := procStatus(t, pid)
	if f := strings.Fields(st["Uid"]); len(f) != 4 || f[0] != mode.masterUID || f[1] != mode.masterUID || f[2] != mode.masterUID {
		t.Errorf("master Uid = %q, want %s", st["Uid"], mode.masterUID)
	}
	if mode.asNobody == nil {
		return // root keeps root's capabilities
	}
	want := fmt.Sprintf("%016x", mode.masterCaps)
	for k, v := range map[string]string{"CapEff": want, "CapPrm": want, "CapAmb": "0000000000000000", "CapInh": "0000000000000000"} {
		if st[k] != v {
			t.Errorf("master %s = %s, want %s", k, st[k], v)
		}
	}
}

// checkWorkerStatus checks that a worker holds nothing: every capability
// set empty, no_new_privs, a seccomp filter, uid (every one of real,
// effective, saved) and a root directory that is not the host's.
func checkWorkerStatus(t *testing.T, role string, pid int, uid string) {
	t.Helper()
	st := procStatus(t, pid)
	for _, k := range []string{"CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"} {
		if st[k] != "0000000000000000" {
			t.Errorf("%s %s = %q, want 0", role, k, st[k])
		}
	}
	if st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" {
		t.Errorf("%s NoNewPrivs = %q Seccomp = %q, want 1 and 2", role, st["NoNewPrivs"], st["Seccomp"])
	}
	if f := strings.Fields(st["Uid"]); len(f) != 4 || f[0] != uid || f[1] != uid || f[2] != uid {
		t.Errorf("%s Uid = %q, want %s", role, st["Uid"], uid)
	}
	// The rlimits docs/policy.md prints (seccomp.WorkerRlimits), soft
	// and hard, as the kernel holds them.
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Errorf("%s limits: %v", role, err)
	}
	for _, want := range []string{"Max file size 0 0 bytes", "Max core file size 0 0 bytes", "Max open files 4096 4096 files"} {
		found := false
		for _, line := range strings.Split(string(limits), "\n") {
			found = found || strings.Join(strings.Fields(line), " ") == want
		}
		if !found {
			t.Errorf("%s: /proc/%d/limits has no %q:\n%s", role, pid, want, limits)
		}
	}
	// The descriptors docs/policy.md lists as received at spawn.
	for fd, want := range map[int]string{0: "/dev/null", 1: "pipe:", 2: "pipe:", 3: "socket:"} {
		if got, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd)); err != nil || !strings.HasPrefix(got, want) {
			t.Errorf("%s fd %d = %q (%v), want %s", role, fd, got, err, want)
		}
	}
	root, err := os.Readlink(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		t.Errorf("%s root: %v", role, err)
	} else if root == "/" || !strings.HasSuffix(root, "/run/empty") {
		t.Errorf("%s root directory %q, want the empty chroot directory", role, root)
	}
}

// nobodyDir is a fresh directory nobody can write, for the configuration,
// the run directory and the leases (a root master works in it too).
func nobodyDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "moat-e2e-modes-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startMoatdAs starts moatd inside n, through setpriv with asNobody when
// it is not nil, and stops it when the test ends.
func startMoatdAs(t *testing.T, n *netns, asNobody []string, args ...string) *moatd {
	t.Helper()
	cmd := n.command(moatdBin, args...)
	if asNobody != nil {
		cmd = n.command("setpriv", append(append(append([]string{}, asNobody...), moatdBin), args...)...)
	}
	return runMoatd(t, cmd, "")
}

// noUserNSHelperEnv turns the test binary into the helper of
// TestDeploymentModeWithoutUserNamespaces (see init).
const noUserNSHelperEnv = "MOAT_E2E_NO_USERNS_HELPER"

func init() {
	if os.Getenv(noUserNSHelperEnv) == "1" {
		os.Exit(runInUserNSWithoutUserNS(os.Args[1:]))
	}
}

// runInUserNSWithoutUserNS runs argv in a new user namespace mapping root
// and nobody to themselves, where root first sets
// user.max_user_namespaces to 0: in there no process can create a user
// namespace, as on a kernel that forbids unprivileged ones. (The limit is
// per user namespace, so the rest of the machine is unaffected.) Signals
// to the helper go to the child.
func runInUserNSWithoutUserNS(argv []string) int {
	cmd := exec.Command("sh", append([]string{"-c", `echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"`, "sh"}, argv...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: 65534, HostID: 65534, Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: 65534, HostID: 65534, Size: 1}},
		GidMappingsEnableSetgroups: true,
		Pdeathsig:                  syscall.SIGKILL,
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "user namespace helper:", err)
		return 1
	}
	go func() {
		for sig := range sigs {
			_ = cmd.Process.Signal(sig)
		}
	}()
	if err := cmd.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "user namespace helper:", err)
		return 1
	}
	return 0
}

// TestDeploymentModeWithoutUserNamespaces is the development mode where
// user namespaces are not available: the master falls back to workers
// without namespaces, chroot or an empty bounding set, says so once at
// start, and the workers still hold no capability in any other set, run
// with no_new_privs and their seccomp filter, pass --check-sandbox, and
// answer.
func TestDeploymentModeWithoutUserNamespaces(t *testing.T) {
	testutil.RequireRoot(t, "network and user namespaces, setpriv to nobody")
	testutil.RequireCommand(t, "setpriv")
	n := newNetns(t)
	startUpstreamPort(t, n, "127.0.0.2", "53")
	dir := nobodyDir(t)
	confPath := filepath.Join(dir, "moatd.conf")
	conf := "port=5353\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nserver=127.0.0.2\npid-file=\nrun-dir=" + dir + "/run\n"
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := func(args ...string) *exec.Cmd {
		argv := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", moatdBin}, args...)
		cmd := n.command(self, append([]string{"setpriv"}, argv...)...)
		cmd.Env = append(os.Environ(), noUserNSHelperEnv+"=1")
		return cmd
	}

	out, err := helper("--check-sandbox", "--conf-file="+confPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "check-sandbox: all") {
		t.Fatalf("check-sandbox without user namespaces: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "hardening missing user-namespace: user namespaces unavailable: user.max_user_namespaces is 0") {
		t.Errorf("check-sandbox does not say why there is no user namespace:\n%s", out)
	}

	m := runMoatd(t, helper("--conf-file="+confPath, "--keep-in-foreground", "--log-facility=-"), "")
	m.waitReady(t)
	if got := strings.TrimSpace(n.dig("@127.0.0.1", "-p", "5353", "+short", "forwarded.test")); got != "192.0.2.55" {
		t.Errorf("forwarded.test = %q, want 192.0.2.55", got)
	}
	log := m.out.String()
	for _, want := range []string{
		"mode=development uid=65534 master-caps=none ",
		"missing=ebpf-filter,user-namespace,namespaces,chroot,bounding-set,uid-switch\n",
		"hardening missing chroot: needs root or a user namespace",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}

	masters := childrenOf(t, m.cmd.Process.Pid)
	if len(masters) != 1 {
		t.Fatalf("helper %d has children %v, want the master alone", m.cmd.Process.Pid, masters)
	}
	if f := strings.Fields(procStatus(t, masters[0])["Uid"]); len(f) == 0 || f[0] != "65534" {
		t.Errorf("master Uid = %v, want 65534", f)
	}
	dnsd := childrenByRole(t, masters[0])["dnsd"]
	if dnsd == 0 {
		t.Fatal("no dnsd worker")
	}
	st := procStatus(t, dnsd)
	// The bounding set is the one layer besides chroot and namespaces
	// that cannot apply; every other set is empty.
	for _, k := range []string{"CapEff", "CapPrm", "CapAmb", "CapInh"} {
		if st[k] != "0000000000000000" {
			t.Errorf("dnsd %s = %q, want 0", k, st[k])
		}
	}
	if st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" {
		t.Errorf("dnsd NoNewPrivs = %q Seccomp = %q, want 1 and 2", st["NoNewPrivs"], st["Seccomp"])
	}
	if f := strings.Fields(st["Uid"]); len(f) == 0 || f[0] != "65534" {
		t.Errorf("dnsd Uid = %q, want 65534", st["Uid"])
	}
}

// childrenOf lists the pids whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) >= 2 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}
