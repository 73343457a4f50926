package test

import (
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/moatdns/moat/internal/testutil"
)

// TestDebPackage builds the .deb with `make deb`, checks its metadata and
// contents, installs it with dpkg into a throwaway root (maintainer
// scripts run chrootless with DPKG_ROOT, so the postinst creates the
// moatd user in that root's /etc/passwd), verifies the unit files, runs
// the installed moatd as each installed unit would (moatd.service:
// chrooted there, its ExecStartPre and ExecStart lines, its capability
// bounding set, no_new_privs; moatd-unprivileged.service: as the moatd
// user with its ambient capabilities, on port 53), asks each a question,
// and purges the package.
func TestDebPackage(t *testing.T) {
	testutil.RequireRoot(t, "dpkg into a throwaway root, chroot, network namespace")
	for _, tool := range []string{"make", "dpkg-deb", "dpkg", "useradd", "userdel", "chroot", "setpriv"} {
		testutil.RequireCommand(t, tool)
	}
	deb := buildDeb(t)
	checkDebMetadata(t, deb)
	checkDebContents(t, deb)
	checkDebRepackagesIdentically(t, deb)

	root := installDeb(t, deb)
	uid := passwdUID(t, root, "moatd")
	if uid <= 0 {
		t.Fatalf("postinst created no moatd user in %s/etc/passwd", root)
	}
	// One user per worker role, as the packaged configuration names them.
	dnsUID, dhcpUID := passwdUID(t, root, "moatd-dns"), passwdUID(t, root, "moatd-dhcp")
	if dnsUID <= 0 || dhcpUID <= 0 || dnsUID == uid || dhcpUID == uid || dnsUID == dhcpUID {
		t.Fatalf("postinst users: moatd %d, moatd-dns %d, moatd-dhcp %d; want three distinct system users", uid, dnsUID, dhcpUID)
	}
	if conf, err := os.ReadFile(filepath.Join(root, "etc/moat/moatd.conf")); err != nil ||
		!strings.Contains(string(conf), "\ndns-user=moatd-dns\n") || !strings.Contains(string(conf), "\ndhcp-user=moatd-dhcp\n") {
		t.Errorf("packaged moatd.conf does not name the role users (%v):\n%s", err, conf)
	}
	if fi, err := os.Stat(filepath.Join(root, "var/lib/moatd")); err != nil {
		t.Errorf("state directory: %v", err)
	} else if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || fi.Mode().Perm() != 0o750 {
		t.Errorf("/var/lib/moatd: uid %d mode %v, want uid %d mode 0750", st.Uid, fi.Mode().Perm(), uid)
	}
	verifyUnitFiles(t, root)
	if c, err := os.ReadFile(filepath.Join(root, "usr/share/doc/moat/copyright")); err != nil || !strings.Contains(string(c), " golang.org/x/sys v") {
		t.Errorf("copyright does not list the modules compiled in (%v):\n%s", err, c)
	}

	n := newNetns(t)
	m := startInstalledMoatd(t, n, root)
	m.waitReady(t)
	if got := strings.TrimSpace(n.dig("@127.0.0.1", "-p", "5353", "+short", "deb.test")); got != "192.0.2.77" {
		t.Errorf("installed moatd: deb.test = %q, want 192.0.2.77", got)
	}
	dnsd := m.workers(t)["dnsd"]
	if dnsd == 0 {
		t.Fatal("installed moatd has no dnsd worker")
	}
	// The test configuration has no DHCP: dnsd runs, as dns-user.
	if f := strings.Fields(procStatus(t, dnsd)["Uid"]); len(f) == 0 || f[0] != strconv.Itoa(dnsUID) {
		t.Errorf("dnsd Uid = %v, want the package's moatd-dns user %d", f, dnsUID)
	}
	stopMoatd(t, m)

	// moatd-unprivileged.service: the master as the moatd user with the
	// unit's ambient capabilities binds port 53 and still confines dnsd.
	mu := startUnprivilegedUnit(t, n, root, uid)
	mu.waitReady(t)
	if got := strings.TrimSpace(n.dig("@127.0.0.1", "+short", "deb.test")); got != "192.0.2.78" {
		t.Errorf("unprivileged moatd on port 53: deb.test = %q, want 192.0.2.78", got)
	}
	if st := procStatus(t, mu.cmd.Process.Pid); !strings.HasPrefix(st["Uid"], strconv.Itoa(uid)+"\t") {
		t.Errorf("unprivileged master Uid = %q, want %d", st["Uid"], uid)
	}
	if dnsd := mu.workers(t)["dnsd"]; dnsd == 0 {
		t.Error("unprivileged moatd has no dnsd worker")
	} else if st := procStatus(t, dnsd); st["CapEff"] != "0000000000000000" || st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" {
		t.Errorf("unprivileged moatd's dnsd: CapEff=%s NoNewPrivs=%s Seccomp=%s", st["CapEff"], st["NoNewPrivs"], st["Seccomp"])
	}
	stopMoatd(t, mu)

	out, err := exec.Command("dpkg", dpkgRootArgs(root, "--purge", "moat")...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg --purge: %v\n%s", err, out)
	}
	for _, gone := range []string{"usr/sbin/moatd", "etc/moat", "var/lib/moatd", "run/moatd", "usr/lib/systemd/system/moatd.service"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("after purge /%s still exists (%v)", gone, err)
		}
	}
	group, _ := os.ReadFile(filepath.Join(root, "etc/group"))
	for _, name := range []string{"moatd", "moatd-dns", "moatd-dhcp"} {
		if passwdUID(t, root, name) >= 0 {
			t.Errorf("after purge the %s user still exists", name)
		}
		if strings.Contains("\n"+string(group), "\n"+name+":") {
			t.Errorf("after purge the %s group still exists", name)
		}
	}
}

// buildDeb runs `make deb` with a fresh directory for the binaries and
// the package (BIN=), and returns the .deb.
func buildDeb(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "-C", "..", "deb", "BIN="+dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "moat_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %v, want one moat_*.deb", debs)
	}
	return debs[0]
}

func checkDebMetadata(t *testing.T, deb string) {
	t.Helper()
	fields := run(t, "dpkg-deb", "--field", deb, "Package", "Architecture", "Version", "Maintainer", "Description")
	for _, want := range []string{"Package: moat\n", "Architecture: ", "Version: ", "Description: privilege-separated"} {
		if !strings.Contains(fields, want) {
			t.Errorf("control fields lack %q:\n%s", want, fields)
		}
	}
	if got := strings.TrimSpace(run(t, "dpkg-deb", "--info", deb, "conffiles")); got != "/etc/moat/moatd.conf" {
		t.Errorf("conffiles = %q, want /etc/moat/moatd.conf", got)
	}
	for script, want := range map[string]string{"postinst": "useradd", "postrm": "purge", "prerm": "systemctl stop"} {
		if body := run(t, "dpkg-deb", "--info", deb, script); !strings.Contains(body, want) {
			t.Errorf("%s does not mention %q", script, want)
		}
	}
}

// checkDebContents: the files the package must ship, all root-owned, all
// with one timestamp (SOURCE_DATE_EPOCH: the .deb is reproducible).
func checkDebContents(t *testing.T, deb string) {
	t.Helper()
	want := map[string]bool{
		"./usr/sbin/moatd":                                    true,
		"./etc/moat/moatd.conf":                               true,
		"./usr/lib/systemd/system/moatd.service":              true,
		"./usr/lib/systemd/system/moatd-unprivileged.service": true,
		"./usr/share/doc/moat/copyright":                      true,
	}
	if _, err := os.Stat("../cmd/moatctl"); err == nil {
		want["./usr/bin/moatctl"] = true
		if _, err := os.Stat("../man/moatctl.8"); err == nil {
			want["./usr/share/man/man8/moatctl.8.gz"] = true
		}
	}
	if _, err := os.Stat("../man/moatd.8"); err == nil {
		want["./usr/share/man/man8/moatd.8.gz"] = true
	}
	stamps := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(run(t, "dpkg-deb", "--contents", deb)), "\n") {
		f := strings.Fields(line) // mode owner/group size date time path
		if len(f) < 6 {
			t.Fatalf("unexpected --contents line %q", line)
		}
		if f[1] != "root/root" {
			t.Errorf("%s owned by %s, want root/root", f[5], f[1])
		}
		stamps[f[3]+" "+f[4]] = true
		if f[5] == "./usr/sbin/moatd" && f[0] != "-rwxr-xr-x" {
			t.Errorf("moatd mode %s", f[0])
		}
		delete(want, f[5])
	}
	for path := range want {
		t.Errorf("the package lacks %s", path)
	}
	if len(stamps) != 1 {
		t.Errorf("members carry %d different timestamps, want one (SOURCE_DATE_EPOCH): %v", len(stamps), stamps)
	}
}

// checkDebRepackagesIdentically packages the binaries `make deb` built a
// second time, later, from another temporary directory and time zone, and
// wants the same bytes.
func checkDebRepackagesIdentically(t *testing.T, deb string) {
	t.Helper()
	bin := filepath.Dir(deb) // where make deb put the binaries too
	moatctl := ""
	if _, err := os.Stat("../cmd/moatctl"); err == nil {
		moatctl = filepath.Join(bin, "moatctl")
	}
	dir := t.TempDir()
	cmd := exec.Command("../packaging/build-deb.sh", filepath.Join(bin, "moatd"), moatctl, dir)
	cmd.Env = append(os.Environ(), "TMPDIR="+dir, "TZ=Pacific/Auckland")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("build-deb.sh: %v", err)
	}
	again := strings.TrimSpace(string(out))
	a, errA := os.ReadFile(deb)
	b, errB := os.ReadFile(again)
	if errA != nil || errB != nil {
		t.Fatalf("read the packages: %v, %v", errA, errB)
	}
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Errorf("the same binaries packaged twice give different .debs: %s, %s", deb, again)
	}
}

// dpkgRootArgs runs dpkg on root: its own database, maintainer scripts
// run without chroot and see DPKG_ROOT, and the empty root's missing
// dependencies (passwd) are waived.
func dpkgRootArgs(root string, args ...string) []string {
	return append([]string{"--root=" + root, "--force-script-chrootless", "--force-depends", "--log=/dev/null"}, args...)
}

// installDeb makes a throwaway root with an empty dpkg database and
// minimal account files, and installs deb into it.
func installDeb(t *testing.T, deb string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc", "run", "proc", "dev", "sys"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"var/lib/dpkg/status":    "",
		"var/lib/dpkg/available": "",
		"etc/passwd":             "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"etc/group":              "root:x:0:\nnogroup:x:65534:\n",
		"etc/shadow":             "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
		"etc/gshadow":            "root:*::\nnogroup:*::\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("dpkg", dpkgRootArgs(root, "--install", deb)...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg --install into %s: %v\n%s", root, err, out)
	}
	if status := run(t, "dpkg", "--root="+root, "--status", "moat"); !strings.Contains(status, "Status: install ok installed") {
		t.Fatalf("moat not installed:\n%s", status)
	}
	return root
}

// passwdUID is name's uid in root's /etc/passwd, -1 if absent.
func passwdUID(t *testing.T, root, name string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == name {
			uid, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatalf("passwd line %q", line)
			}
			return uid
		}
	}
	return -1
}

// verifyUnitFiles runs systemd-analyze verify on the installed units when
// systemd is installed (it needs no running systemd). Any warning fails:
// systemd-analyze only warns about unknown keys.
func verifyUnitFiles(t *testing.T, root string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the unit files are not verified")
		return
	}
	// The units name targets and /bin/kill, which the throwaway root lacks.
	var sysUnits string
	for _, dir := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		if _, err := os.Stat(filepath.Join(dir, "network.target")); err == nil {
			sysUnits = dir
			break
		}
	}
	if sysUnits == "" {
		t.Log("no systemd targets found: the unit files are not verified")
		return
	}
	etc := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	targets, _ := filepath.Glob(filepath.Join(sysUnits, "*.target"))
	for _, target := range targets {
		copyFile(t, target, filepath.Join(etc, filepath.Base(target)), 0o644)
	}
	kill, err := exec.LookPath("kill")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, kill, filepath.Join(root, "bin/kill"), 0o755)
	units := []string{
		filepath.Join(root, "usr/lib/systemd/system/moatd.service"),
		filepath.Join(root, "usr/lib/systemd/system/moatd-unprivileged.service"),
	}
	out, err := exec.Command(analyze, append([]string{"--root=" + root, "--man=no", "verify"}, units...)...).CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		t.Fatal(err)
	}
}

// unitSetting returns the value of key in a unit file ("" if unset).
func unitSetting(t *testing.T, unit, key string) string {
	t.Helper()
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// unitArgv is a unit's key= command line (ExecStart, ExecStartPre) with
// every argument passed through move; it must run /usr/sbin/moatd and
// read the packaged configuration, which move redirects.
func unitArgv(t *testing.T, unit, key string, move *strings.Replacer) []string {
	t.Helper()
	argv := strings.Fields(unitSetting(t, unit, key))
	if len(argv) == 0 || argv[0] != "/usr/sbin/moatd" || !slices.Contains(argv, "--conf-file=/etc/moat/moatd.conf") {
		t.Fatalf("%s %s=%q: want /usr/sbin/moatd ... --conf-file=/etc/moat/moatd.conf", filepath.Base(unit), key, argv)
	}
	for i := range argv {
		argv[i] = move.Replace(argv[i])
	}
	return argv
}

// unitCaps is a unit's capability list (CapabilityBoundingSet=,
// AmbientCapabilities=) as setpriv spells it: "-all,+net_raw,...".
func unitCaps(t *testing.T, unit, key string) string {
	t.Helper()
	caps := []string{"-all"}
	for _, c := range strings.Fields(unitSetting(t, unit, key)) {
		caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	if len(caps) == 1 {
		t.Fatalf("%s sets no %s", filepath.Base(unit), key)
	}
	return strings.Join(caps, ",")
}

// runUnit runs the unit's ExecStartPre (moatd --test), which must pass,
// then starts its ExecStart, each behind prefix (how the test applies the
// unit's identity and limits) inside n, with the binary at exe.
func runUnit(t *testing.T, n *netns, unit string, prefix []string, exe string, move *strings.Replacer) *moatd {
	t.Helper()
	command := func(key string) []string {
		argv := unitArgv(t, unit, key, move)
		argv[0] = exe
		return append(slices.Clone(prefix), argv...)
	}
	pre := command("ExecStartPre")
	if out, err := n.command(pre[0], pre[1:]...).CombinedOutput(); err != nil || !strings.Contains(string(out), "syntax check OK") {
		t.Fatalf("%s ExecStartPre: %v\n%s", filepath.Base(unit), err, out)
	}
	argv := command("ExecStart")
	return runMoatd(t, n.command(argv[0], argv[1:]...), "")
}

// startInstalledMoatd runs root's moatd as root's moatd.service would,
// chrooted into root (with /proc, /dev and /sys mounted in a mount
// namespace of its own, which disappears with it), inside n, with the
// unit's capability bounding set and no_new_privs, and the unit's
// command lines pointed at a test configuration that includes the
// packaged one and moves DNS to port 5353.
func startInstalledMoatd(t *testing.T, n *netns, root string) *moatd {
	t.Helper()
	conf := "conf-file=/etc/moat/moatd.conf\nport=5353\nno-resolv\nno-hosts\naddress=/deb.test/192.0.2.77\nlog-facility=-\n"
	if err := os.WriteFile(filepath.Join(root, "etc/moat-e2e.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(root, "usr/lib/systemd/system/moatd.service")
	prefix := []string{"sh", "-c", `mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" && mount --rbind /sys "$0/sys" && exec "$@"`, root,
		"setpriv", "--bounding-set=" + unitCaps(t, unit, "CapabilityBoundingSet")}
	if unitSetting(t, unit, "NoNewPrivileges") == "yes" {
		prefix = append(prefix, "--no-new-privs")
	}
	prefix = append(prefix, "chroot", root)
	return runUnit(t, n, unit, prefix, "/usr/sbin/moatd", strings.NewReplacer("--conf-file=/etc/moat/moatd.conf", "--conf-file=/etc/moat-e2e.conf"))
}

// startUnprivilegedUnit runs root's moatd as root's
// moatd-unprivileged.service would: as its User= (uid), with its
// AmbientCapabilities=, CapabilityBoundingSet= and NoNewPrivileges=, and
// its command lines with the paths moved into root (no chroot: the master
// cannot chroot, which is the point of this mode).
func startUnprivilegedUnit(t *testing.T, n *netns, root string, uid int) *moatd {
	t.Helper()
	unit := filepath.Join(root, "usr/lib/systemd/system/moatd-unprivileged.service")
	if user := unitSetting(t, unit, "User"); user != "moatd" {
		t.Fatalf("moatd-unprivileged.service User=%q, want the package's moatd", user)
	}
	// The moatd user must reach the binary (the master re-executes it):
	// open root and the test's own directory that holds it (t.TempDir
	// makes both 0700), nothing above them.
	for _, dir := range []string{root, filepath.Dir(root)} {
		if !strings.HasPrefix(filepath.Base(dir), "TestDebPackage") && dir != root {
			t.Fatalf("unexpected temporary directory layout: %s", root)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	runDir := filepath.Join(root, "run/moatd-unprivileged")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(runDir, uid, uid); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(root, "etc/moat-e2e-unprivileged.conf")
	data := "port=53\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\naddress=/deb.test/192.0.2.78\nlog-facility=-\n"
	if err := os.WriteFile(conf, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	ambient := unitCaps(t, unit, "AmbientCapabilities")
	prefix := []string{"setpriv", "--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(uid), "--clear-groups",
		"--inh-caps=" + ambient, "--ambient-caps=" + ambient, "--bounding-set=" + unitCaps(t, unit, "CapabilityBoundingSet")}
	if unitSetting(t, unit, "NoNewPrivileges") == "yes" {
		prefix = append(prefix, "--no-new-privs")
	}
	move := strings.NewReplacer("--conf-file=/etc/moat/moatd.conf", "--conf-file="+conf,
		"--run-dir=/run/moatd", "--run-dir="+runDir, "=/var/lib/moatd/", "="+root+"/var/lib/moatd/")
	return runUnit(t, n, unit, prefix, filepath.Join(root, "usr/sbin/moatd"), move)
}
