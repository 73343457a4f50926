package seccomp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/testutil"
)

// The confinement tests re-execute the test binary: TestMain sees
// childScenarioEnv and, instead of running tests, plays a worker (or the
// unprivileged master that starts one) and reports on stdout, one JSON
// object per line.
const (
	childScenarioEnv = "MOAT_SECCOMP_CHILD"
	childSpecEnv     = "MOAT_SECCOMP_SPEC"     // Spec.Args joined by "\n"
	childProbeEnv    = "MOAT_SECCOMP_PROBE"    // probe name
	childDurationEnv = "MOAT_SECCOMP_DURATION" // workload duration
	childInnerEnv    = "MOAT_SECCOMP_INNER"    // scenario the launcher starts
)

// nobody is the role user of the root-mode tests.
const nobody = 65534

var soakFlag = flag.Duration("seccomp.soak", 0, "soak duration per role (default 20s with CI=true, else 3s)")

func soakDuration() time.Duration {
	if *soakFlag > 0 {
		return *soakFlag
	}
	if d, err := time.ParseDuration(os.Getenv("MOAT_SECCOMP_SOAK")); err == nil && d > 0 {
		return d
	}
	if os.Getenv("CI") == "true" {
		return 20 * time.Second
	}
	return 3 * time.Second
}

func TestMain(m *testing.M) {
	if sc := os.Getenv(childScenarioEnv); sc != "" {
		os.Exit(runChild(sc))
	}
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// shared holds a world-readable copy of a test binary that can confine
// itself: the test binary itself, or, when it was built with cgo (go test
// -race), a CGO_ENABLED=0 build of the same tests, because
// AllThreadsSyscall does not work under cgo. It lives in a 0755 directory
// so the unprivileged (uid 65534) scenarios can execute it.
var shared struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func childBinary(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "moat-seccomp-test-")
		if shared.err != nil {
			return
		}
		if shared.err = os.Chmod(shared.dir, 0o755); shared.err != nil {
			return
		}
		shared.bin = filepath.Join(shared.dir, "seccomp.test")
		if cgoBuild {
			cmd := exec.Command(filepath.Join(goroot(), "bin", "go"), "test", "-c", "-o", shared.bin, ".")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				shared.err = fmt.Errorf("build a CGO_ENABLED=0 test binary: %v\n%s", err, out)
			}
			return
		}
		shared.err = copyFile(os.Args[0], shared.bin)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.bin
}

func goroot() string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err == nil {
		return strings.TrimSpace(string(out))
	}
	return "/usr/local/go"
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// requireRoot skips outside CI when not root; in CI (which runs as root)
// a missing requirement is a failure.
func requireRoot(t testing.TB) {
	t.Helper()
	testutil.RequireRoot(t, "chroot, setresuid, capability bounding set")
}

// chrootDir makes an empty directory the role user can reach: t.TempDir
// and its parent are 0700, which uid 65534 could not traverse in the
// user-namespace mode.
func chrootDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{d, filepath.Dir(d)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// childReport is one line a child prints.
type childReport struct {
	Kind         string // "status", "probe", "workload", "error"
	PID          int
	Status       Status
	ConfineNanos int64
	Err          string
	Probe        string
	Blocked      bool
	Detail       string
	Workload     workloadStats
	Signal       int // "exit" (launcher): the signal that ended the worker
	Code         int // "exit" (launcher): the worker's exit code
}

// child is a running re-executed test binary.
type child struct {
	cmd    *exec.Cmd
	ipc    *os.File // the parent's end of the socketpair (fd 3 in the child), or nil
	lines  chan string
	stderr *lockedBuffer
	waited bool
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type childOpts struct {
	scenario string
	spec     *Spec
	env      []string // extra environment
	attr     *syscall.SysProcAttr
	ipc      bool
}

func startChild(t testing.TB, o childOpts) *child {
	t.Helper()
	bin := childBinary(t)
	cmd := exec.Command(bin)
	cmd.Env = append([]string{childScenarioEnv + "=" + o.scenario}, o.env...)
	if o.spec != nil {
		cmd.Env = append(cmd.Env, childSpecEnv+"="+strings.Join(o.spec.Args(), "\n"))
	}
	cmd.SysProcAttr = o.attr
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	c := &child{cmd: cmd, lines: make(chan string, 64), stderr: &lockedBuffer{}}
	cmd.Stderr = c.stderr
	if o.ipc {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		c.ipc = os.NewFile(uintptr(fds[0]), "ipc-parent")
		childEnd := os.NewFile(uintptr(fds[1]), "ipc-child")
		defer childEnd.Close()
		cmd.ExtraFiles = []*os.File{childEnd}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		if c.ipc != nil {
			c.ipc.Close()
		}
		t.Fatalf("start child %s: %v", o.scenario, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		if !c.waited {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
		if c.ipc != nil {
			c.ipc.Close()
		}
	})
	return c
}

// next returns the child's next report; ok=false when its stdout closed.
func (c *child) next(t testing.TB, timeout time.Duration) (childReport, bool) {
	t.Helper()
	select {
	case line, open := <-c.lines:
		if !open {
			return childReport{}, false
		}
		var r childReport
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("child said %q: %v", line, err)
		}
		return r, true
	case <-time.After(timeout):
		t.Fatalf("no report from child in %v; stderr:\n%s", timeout, c.stderr.String())
		return childReport{}, false
	}
}

// expect reads the next report and requires its kind ("" for any).
func (c *child) expect(t testing.TB, kind string, timeout time.Duration) childReport {
	t.Helper()
	r, ok := c.next(t, timeout)
	if !ok {
		err := c.wait()
		t.Fatalf("child ended (%s) before its %q report; stderr:\n%s", describeExit(err), kind, c.stderr.String())
	}
	if kind != "" && r.Kind != kind {
		t.Fatalf("child report %+v, want kind %q; stderr:\n%s", r, kind, c.stderr.String())
	}
	return r
}

// wait reaps the child, bounded in time.
func (c *child) wait() error {
	if c.waited {
		return errors.New("already waited")
	}
	c.waited = true
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		c.cmd.Process.Kill()
		return fmt.Errorf("child did not exit in 60s (killed): %v", <-done)
	}
}

// exitSignal is the signal that ended the child, or 0.
func exitSignal(err error) syscall.Signal {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal()
		}
	}
	return 0
}

func describeExit(err error) string {
	if err == nil {
		return "exit 0"
	}
	if sig := exitSignal(err); sig != 0 {
		return "signal " + sig.String()
	}
	return err.Error()
}

// report prints one JSON line (child side).
func report(r childReport) {
	r.PID = os.Getpid()
	b, _ := json.Marshal(r)
	os.Stdout.Write(append(b, '\n'))
}
