package masterd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/testutil"
)

// TestParseControlRequest: only one known verb on one line passes.
func TestParseControlRequest(t *testing.T) {
	for _, tc := range []struct {
		in, verb string
		ok       bool
	}{
		{"status\n", "status", true},
		{"leases\n", "leases", true},
		{"cache\n", "cache", true},
		{"dump\n", "dump", true},
		{"reload\n", "reload", true},
		{"status", "", false},                       // no newline
		{"STATUS\n", "", false},                     // case matters
		{"status \n", "", false},                    // no arguments, no blanks
		{"status\r\n", "", false},                   // no CR
		{"stop\n", "", false},                       // unknown
		{"\n", "", false},                           // empty
		{"status\nreload\n", "", false},             // one line only
		{"stat\x00us\n", "", false},                 // NUL
		{strings.Repeat("a", 64) + "\n", "", false}, // too long
		{"", "", false},
	} {
		verb, err := parseControlRequest([]byte(tc.in))
		if (err == nil) != tc.ok || verb != tc.verb {
			t.Errorf("%q: got %q, %v; want %q ok=%v", tc.in, verb, err, tc.verb, tc.ok)
		}
	}
}

// FuzzParseControlRequest: whatever a client sends, the parser returns a
// known verb or an error, and never reads past its bound.
func FuzzParseControlRequest(f *testing.F) {
	for _, s := range []string{"status\n", "dump\n", "reload", "x\n", "status\nstatus\n", strings.Repeat("z", 70)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		verb, err := parseControlRequest(b)
		if err != nil {
			if verb != "" {
				t.Fatalf("%q: verb %q with error %v", b, verb, err)
			}
			return
		}
		if string(b) != verb+"\n" || len(b) > maxControlRequest {
			t.Fatalf("%q accepted as %q", b, verb)
		}
	})
}

// TestControlAccess: root and the master's own user always; the control
// group by primary or supplementary group; nobody else.
func TestControlAccess(t *testing.T) {
	withGroup := controlAccess{masterUID: 0, group: 120, hasGroup: true}
	rootOnly := controlAccess{masterUID: 0}
	devMaster := controlAccess{masterUID: 1000}
	for _, tc := range []struct {
		name   string
		access controlAccess
		peer   peerCred
		ok     bool
	}{
		{"root", rootOnly, peerCred{uid: 0, gid: 0}, true},
		{"nobody, no group", rootOnly, peerCred{uid: 65534, gid: 65534}, false},
		{"nobody claiming group 0", rootOnly, peerCred{uid: 65534, gid: 0, groups: []uint32{0}}, false},
		{"primary group", withGroup, peerCred{uid: 1000, gid: 120}, true},
		{"supplementary group", withGroup, peerCred{uid: 1000, gid: 1000, groups: []uint32{27, 120}}, true},
		{"other group", withGroup, peerCred{uid: 1000, gid: 1000, groups: []uint32{27}}, false},
		{"development master's user", devMaster, peerCred{uid: 1000, gid: 1000}, true},
		{"another user of a development master", devMaster, peerCred{uid: 1001, gid: 1001}, false},
	} {
		if err := tc.access.allow(tc.peer); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestReadControlRequestBounded: a client that sends more than the bound
// without a newline gets no more than bound+1 bytes read.
func TestReadControlRequestBounded(t *testing.T) {
	r := &countingReader{r: strings.NewReader(strings.Repeat("x", 10000))}
	b, err := readControlRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != maxControlRequest+1 || r.n != maxControlRequest+1 {
		t.Errorf("read %d bytes (%d from the client), want %d", len(b), r.n, maxControlRequest+1)
	}
	if _, err := parseControlRequest(b); !errors.Is(err, errRequestTooLong) {
		t.Errorf("parse: %v, want too long", err)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// helperEnv makes the test binary a control client: started with it
// set, the binary sends "status" to the socket it names, prints the
// answer's first line and exits before any test runs (init runs before
// TestMain).
const helperEnv = "MOAT_CONTROL_CLIENT_SOCKET"

func init() {
	if path := os.Getenv(helperEnv); path != "" {
		os.Exit(controlClient(path))
	}
}

func controlClient(path string) int {
	c, err := net.Dial("unix", path)
	if err != nil {
		os.Stdout.WriteString("dial: " + err.Error() + "\n")
		return 3
	}
	_, _ = c.Write([]byte("status\n"))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	os.Stdout.WriteString(line)
	return 0
}

// TestControlRefusesNobody: a client running as nobody reaches the socket
// (its file mode lets it) and is refused by the SO_PEERCRED check, with
// an audit record; root, on the same socket, is served.
func TestControlRefusesNobody(t *testing.T) {
	testutil.RequireRoot(t, "running a client as nobody")
	dir := t.TempDir()
	// The child, as nobody, needs to reach the socket and run a copy of
	// this test binary. Only the test's own directories are opened up:
	// the system's temporary directory itself keeps its sticky mode.
	for d := dir; d != filepath.Clean(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "client")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ctl")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chmod(path, 0o777); err != nil { // only the peer check stands in the way
		t.Fatal(err)
	}
	log, buf := testLogger()
	m := &master{cfg: &config.Config{}, log: log}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan struct{})
	go func() {
		defer close(served)
		for range 2 {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			m.serveControlConn(ctx, c, controlAccess{masterUID: 0})
		}
	}()

	cmd := exec.Command(bin)
	cmd.Env = []string{helperEnv + "=" + path}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as nobody: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "error permission denied: uid 65534 is not root") {
		t.Errorf("nobody got %q, want a refusal", out)
	}
	if !strings.Contains(buf.String(), "event=control-refused") || !strings.Contains(buf.String(), "peer-uid=65534") {
		t.Errorf("no audit record of the refusal:\n%s", buf.String())
	}

	cmd = exec.Command(bin)
	cmd.Env = []string{helperEnv + "=" + path}
	out, err = cmd.CombinedOutput()
	if err != nil || string(out) != "ok\n" {
		t.Errorf("root got %q (%v), want ok", out, err)
	}
	_ = l.Close()
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Error("server did not finish")
	}
}

// TestListenControl: the socket gets mode 0600 (0660 and the group with
// control-group); a stale socket file is replaced; a live one, or a file
// that is not a socket, is refused.
func TestListenControl(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "ctl")
	l, err := listenControl(path, controlAccess{})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %v mode %v", err, fi.Mode())
	}
	if _, err := listenControl(path, controlAccess{}); err == nil || !strings.Contains(err.Error(), "another master") {
		t.Errorf("second listener on a live socket: %v", err)
	}
	// A stale file: a socket nobody listens on any more.
	l.SetUnlinkOnClose(false)
	_ = l.Close()
	l2, err := listenControl(path, controlAccess{group: uint32(os.Getegid()), hasGroup: true})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer l2.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o660 || fi.Sys().(*syscall.Stat_t).Gid != uint32(os.Getegid()) {
		t.Errorf("group socket: %v %v", err, fi.Mode())
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := listenControl(plain, controlAccess{}); err == nil {
		t.Error("a plain file was replaced by the socket")
	}
}

// TestNamespacesText: moatctl status names a worker's namespaces in
// short form, in cloneFlagNames' order, and "none" without any.
func TestNamespacesText(t *testing.T) {
	for _, tc := range []struct {
		flags uintptr
		want  string
	}{
		{0, "none"},
		{unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWPID, "mnt,ipc,uts,pid"},
		{unix.CLONE_NEWNET | unix.CLONE_NEWUSER | unix.CLONE_NEWNS, "user,mnt,net"},
	} {
		if got := namespacesText(tc.flags); got != tc.want {
			t.Errorf("namespacesText(%#x) = %q, want %q", tc.flags, got, tc.want)
		}
	}
}
