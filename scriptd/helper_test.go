package scriptd

import (
	"bytes"
	"github.com/moatdns/moat/internal/testutil"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/seccomp"
)

// helperEnv makes the test binary run Run instead of the tests, so the
// confined helper is a real process started like the master starts it.
const helperEnv = "SCRIPTD_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(Run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// recordScript writes a script that appends, per run, its arguments and
// its whole environment (NUL-separated, exactly as exec received them)
// and what the kernel says about its identity, then prints a line for
// the log and exits with $EXIT_WITH (0 if unset).
func recordScript(t *testing.T, dir string) string {
	t.Helper()
	script := filepath.Join(dir, "record.sh")
	body := `#!/bin/sh
out=` + dir + `/run.$$
printf '%s\0' "$0" "$@" > "$out.args"
cat /proc/$$/environ > "$out.env"
grep -E '^(Uid|Gid|CapEff|NoNewPrivs|Seccomp):' /proc/$$/status > "$out.status"
if unshare -U true 2>/dev/null; then echo allowed; else echo refused; fi > "$out.unshare"
echo "$1" >> ` + dir + `/order
echo "ran $1 for $3"
exit ${EXIT_WITH:-0}
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// runRecord is what one script run recorded.
type runRecord struct {
	args    []string
	env     map[string]string
	status  string
	unshare string
}

func readRuns(t *testing.T, dir string) []runRecord {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "run.*.args"))
	if err != nil {
		t.Fatal(err)
	}
	var runs []runRecord
	for _, f := range files {
		base := strings.TrimSuffix(f, ".args")
		read := func(suffix string) string {
			b, err := os.ReadFile(base + suffix)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		r := runRecord{env: map[string]string{}, status: read(".status"), unshare: strings.TrimSpace(read(".unshare"))}
		r.args = strings.Split(strings.TrimSuffix(read(".args"), "\x00"), "\x00")
		for _, kv := range strings.Split(strings.TrimSuffix(read(".env"), "\x00"), "\x00") {
			k, v, _ := strings.Cut(kv, "=")
			r.env[k] = v
		}
		runs = append(runs, r)
	}
	return runs
}

// syncBuffer collects the helper's log from the output copier.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func connPair(t *testing.T) (master, helper *ipc.Conn) {
	t.Helper()
	a, b, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	master, helper = ipc.NewConn(a), ipc.NewConn(b)
	t.Cleanup(func() { master.Close(); helper.Close() })
	return master, helper
}

func sendEvent(t *testing.T, c *ipc.Conn, ev *ipcpb.ScriptEvent) *ipcpb.ScriptDone {
	t.Helper()
	if err := c.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_ScriptEvent{ScriptEvent: ev}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	m, _, err := c.Recv()
	if err != nil {
		t.Fatalf("waiting for ScriptDone: %v", err)
	}
	done := m.GetScriptDone()
	if done == nil || done.GetSeq() != ev.GetSeq() {
		t.Fatalf("answer %v to event %d", m, ev.GetSeq())
	}
	return done
}

// TestHelperRunsScript runs a real script through Helper.Serve: argv
// and environment arrive exactly as built, hostile strings included,
// runs happen in order, exit statuses and output come back.
func TestHelperRunsScript(t *testing.T) {
	dir := t.TempDir()
	script := recordScript(t, dir)
	master, helperConn := connPair(t)
	log := &syncBuffer{}
	h := &Helper{Script: script, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DNSMASQ_TAGS=stale"}, Runner: Runner{Log: log}}
	served := make(chan error, 1)
	go func() { served <- h.Serve(helperConn) }()

	hostile := "'; touch " + dir + "/pwned; echo '$(touch " + dir + "/pwned2)`id`\n"
	events := []*ipcpb.ScriptEvent{
		leaseEvent(func(e *ipcpb.ScriptEvent) { e.Seq, e.SuppliedHostname, e.Domain = 1, hostile, "lan" }),
		leaseEvent(func(e *ipcpb.ScriptEvent) { e.Seq, e.Action, e.Hostname = 2, "old", "" }),
		leaseEvent(func(e *ipcpb.ScriptEvent) { e.Seq, e.Action = 3, "del" }),
	}
	for _, ev := range events {
		if done := sendEvent(t, master, ev); done.GetExitStatus() != 0 || done.GetError() != "" {
			t.Fatalf("event %d: status %d %q", ev.GetSeq(), done.GetExitStatus(), done.GetError())
		}
	}
	order, err := os.ReadFile(filepath.Join(dir, "order"))
	if err != nil {
		t.Fatal(err)
	}
	if string(order) != "add\nold\ndel\n" {
		t.Errorf("runs in order %q", order)
	}
	for _, f := range []string{"pwned", "pwned2"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("a client string was interpreted by a shell: %s exists", f)
		}
	}
	runs := readRuns(t, dir)
	if len(runs) != 3 {
		t.Fatalf("%d runs recorded", len(runs))
	}
	var add *runRecord
	for i := range runs {
		if runs[i].args[1] == "add" {
			add = &runs[i]
		}
	}
	if add == nil {
		t.Fatal("no add run")
	}
	if want := []string{script, "add", "00:11:22:aa:bb:cc", "192.168.1.60", "laptop"}; !slices.Equal(add.args, want) {
		t.Errorf("argv %q, want %q", add.args, want)
	}
	for k, v := range map[string]string{
		"DNSMASQ_SUPPLIED_HOSTNAME": hostile, "DNSMASQ_DOMAIN": "lan", "DNSMASQ_LEASE_EXPIRES": "1700003600",
		"DNSMASQ_TIME_REMAINING": "3600", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
	} {
		if add.env[k] != v {
			t.Errorf("%s = %q, want %q", k, add.env[k], v)
		}
	}
	if _, ok := add.env["DNSMASQ_TAGS"]; ok {
		t.Errorf("inherited DNSMASQ_TAGS reached the script")
	}

	if err := master.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_Shutdown{Shutdown: &ipcpb.Shutdown{}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}

	// A failing script: its status comes back, its output is logged.
	h.Env = append(h.Env, "EXIT_WITH=3")
	done := h.Handle(leaseEvent(func(e *ipcpb.ScriptEvent) { e.Seq = 4 }))
	if done.GetSeq() != 4 || done.GetExitStatus() != 3 || !strings.Contains(done.GetError(), "exited with status 3") {
		t.Errorf("failing script: %v", done)
	}
	if !strings.Contains(log.String(), "script: ran add for 192.168.1.60") {
		t.Errorf("script output not logged: %q", log.String())
	}
	// A script that cannot be executed.
	h.Script = filepath.Join(dir, "missing")
	if done := h.Handle(leaseEvent(nil)); done.GetExitStatus() != -1 || !strings.Contains(done.GetError(), "no such file") {
		t.Errorf("missing script: %v", done)
	}
}

// TestHelperInit: "init" runs with only its argument; its output is read
// and counted, not loaded.
func TestHelperInit(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "init.sh")
	body := "#!/bin/sh\n[ \"$1\" = init ] || exit 9\necho '1700000000 00:11:22:33:44:55 192.168.1.70 host *'\necho '0 00:11:22:33:44:56 192.168.1.71 * *'\necho warning >&2\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	h := &Helper{Script: script, Runner: Runner{Log: log}}
	done := h.Handle(&ipcpb.ScriptEvent{Seq: 1, Action: "init"})
	if done.GetExitStatus() != 0 {
		t.Fatalf("init: %d %q", done.GetExitStatus(), done.GetError())
	}
	for _, want := range []string{"script: warning", "printed 2 lease lines"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log %q lacks %q", log.String(), want)
		}
	}
}

// TestConfinedHelper starts the helper as the master does (as root,
// switching to the script user) and shows what the script gets: that
// user's uid and gid, no capabilities, no_new_privs, the seccomp filter,
// and user namespaces refused. With dhcp-scriptuser=root the script is
// root with root's capabilities, still under no_new_privs and the filter.
func TestConfinedHelper(t *testing.T) {
	testutil.RequireRoot(t, "the helper switches to the script user")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	bin := helperBinary(t)
	tests := []struct {
		name       string
		spec       seccomp.ScriptSpec
		uid, gid   string
		capsNone   bool
		boundEmpty bool
	}{
		{"nobody", seccomp.ScriptSpec{SwitchUser: true, UID: uid, GID: gid}, nobody.Uid, nobody.Gid, true, true},
		{"root as configured", seccomp.ScriptSpec{KeepRoot: true}, "0", "0", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "scriptd-confined-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			if err := os.Chmod(dir, 0o777); err != nil { // the script, as nobody, writes here
				t.Fatal(err)
			}
			script := recordScript(t, dir)
			master, stderr := startHelper(t, bin, seccomp.ScriptOptions{Script: script, Spec: tc.spec})
			m, _, err := master.Recv()
			if err != nil || m.GetReady() == nil {
				t.Fatalf("ready: %v %v (helper: %s)", m, err, stderr.String())
			}
			st := m.GetReady().GetSandbox()
			if strconv.Itoa(int(st.GetUid())) != tc.uid || strconv.Itoa(int(st.GetGid())) != tc.gid ||
				(st.GetCapEff() == 0) != tc.capsNone || (st.GetCapBnd() == 0) != tc.boundEmpty || !st.GetNoNewPrivs() || st.GetSeccompMode() != 2 {
				t.Fatalf("helper sandbox %v", st)
			}
			if done := sendEvent(t, master, leaseEvent(nil)); done.GetExitStatus() != 0 {
				t.Fatalf("script: %d %q (helper: %s)", done.GetExitStatus(), done.GetError(), stderr.String())
			}
			runs := readRuns(t, dir)
			if len(runs) != 1 {
				t.Fatalf("%d runs", len(runs))
			}
			r := runs[0]
			for _, want := range []string{
				"Uid:\t" + strings.Repeat(tc.uid+"\t", 3) + tc.uid,
				"Gid:\t" + strings.Repeat(tc.gid+"\t", 3) + tc.gid,
				"NoNewPrivs:\t1", "Seccomp:\t2",
			} {
				if !strings.Contains(r.status, want) {
					t.Errorf("script's status lacks %q:\n%s", want, r.status)
				}
			}
			if got := strings.Contains(r.status, "CapEff:\t0000000000000000"); got != tc.capsNone {
				t.Errorf("script without capabilities: %v, want %v:\n%s", got, tc.capsNone, r.status)
			}
			if r.unshare != "refused" {
				t.Errorf("unshare -U from the script: %s", r.unshare)
			}
			if want := []string{script, "add", "00:11:22:aa:bb:cc", "192.168.1.60", "laptop"}; !slices.Equal(r.args, want) {
				t.Errorf("argv %q", r.args)
			}
		})
	}
}

// startHelper starts bin as the helper with fd 3 its end of the IPC
// socketpair and handshakes; the helper is killed when the test ends.
func startHelper(t *testing.T, bin string, opts seccomp.ScriptOptions) (*ipc.Conn, *syncBuffer) {
	t.Helper()
	a, b, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, opts.Args()...)
	cmd.Env = []string{helperEnv + "=1", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.ExtraFiles = []*os.File{b} // descriptor 3: workerproc.IPCFD
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	master := ipc.NewConn(a)
	t.Cleanup(func() {
		master.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := master.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := master.Handshake(Role); err != nil {
		t.Fatalf("handshake: %v (helper: %s)", err, stderr.String())
	}
	return master, stderr
}

// helperBinary is this test binary, or under cgo (the race detector) a
// CGO_ENABLED=0 build of it: the helper's confinement needs
// AllThreadsSyscall, which cgo disables.
func helperBinary(t *testing.T) string {
	t.Helper()
	if !cgoBuild {
		return os.Args[0]
	}
	out := filepath.Join(t.TempDir(), "scriptd.test")
	build := exec.Command("go", "test", "-c", "-o", out, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the helper without cgo: %v\n%s", err, b)
	}
	return out
}
