package seccomp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/testutil"
)

const reportTimeout = 60 * time.Second

func rootSpec(t testing.TB, role string) Spec {
	return Spec{Role: role, Chroot: chrootDir(t), SwitchUser: true, UID: nobody, GID: nobody, MaxFiles: 256}
}

// sendSockets plays the master: it opens the sockets the role would
// inherit and sends them over the socketpair with SCM_RIGHTS.
func sendSockets(t *testing.T, ipc *os.File, role string) []string {
	t.Helper()
	lc := net.ListenConfig{}
	lc.SetMultipathTCP(false) // plain TCP, as the master makes them
	var files []*os.File
	var kinds []string
	add := func(kind string, f *os.File, err error) {
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		files = append(files, f)
		kinds = append(kinds, kind)
	}
	udp := func(kind, network, addr string) {
		pc, err := lc.ListenPacket(context.Background(), network, addr)
		if err != nil {
			if kind == "udp6" {
				t.Logf("no IPv6 loopback (%v): IPv6 part skipped", err)
				return
			}
			t.Fatal(err)
		}
		defer pc.Close()
		f, err := pc.(*net.UDPConn).File()
		add(kind, f, err)
	}
	tcp := func(kind, network, addr string) {
		l, err := lc.Listen(context.Background(), network, addr)
		if err != nil {
			if kind == "tcp6" {
				return
			}
			t.Fatal(err)
		}
		defer l.Close()
		f, err := l.(*net.TCPListener).File()
		add(kind, f, err)
	}
	udp("udp4", "udp4", "127.0.0.1:0")
	switch role {
	case "dnsd":
		tcp("tcp4", "tcp4", "127.0.0.1:0")
		udp("udp6", "udp6", "[::1]:0")
		tcp("tcp6", "tcp6", "[::1]:0")
	case "dhcpd":
		udp("udp4b", "udp4", "127.0.0.1:0")
	}
	msg, _ := json.Marshal(socketSet{Kinds: kinds})
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	if err := unix.Sendmsg(int(ipc.Fd()), msg, unix.UnixRights(fds...), nil, 0); err != nil {
		t.Fatalf("send sockets: %v", err)
	}
	for _, f := range files {
		f.Close()
	}
	return kinds
}

// checkStatus asserts what Confine reported.
func checkStatus(t *testing.T, r childReport, spec Spec, wantUID int) {
	t.Helper()
	if r.Err != "" {
		t.Fatalf("Confine failed: %s", r.Err)
	}
	st := r.Status
	p, _ := PolicyFor(spec.Role)
	names, _ := p.AllowedSyscalls()
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{fmt.Sprintf("UID %d want %d", st.UID, wantUID), st.UID == uint32(wantUID)},
		{fmt.Sprintf("CapEff %x", st.CapEff), st.CapEff == 0},
		{fmt.Sprintf("CapPrm %x", st.CapPrm), st.CapPrm == 0},
		{fmt.Sprintf("CapBnd %x", st.CapBnd), st.CapBnd == 0},
		{fmt.Sprintf("CapAmb %x", st.CapAmb), st.CapAmb == 0},
		{fmt.Sprintf("CapInh %x", st.CapInh), st.CapInh == 0},
		{"NoNewPrivs", st.NoNewPrivs},
		{fmt.Sprintf("SeccompMode %d", st.SeccompMode), st.SeccompMode == 2},
		{"Chrooted", st.Chrooted == (spec.Chroot != "")},
		{fmt.Sprintf("SyscallsAllowed %d want %d", st.SyscallsAllowed, len(names)), st.SyscallsAllowed == len(names)},
	} {
		if !c.ok {
			t.Errorf("status: %s", c.name)
		}
	}
	if spec.SwitchUser && st.GID != uint32(spec.GID) {
		t.Errorf("status: GID %d want %d", st.GID, spec.GID)
	}
	t.Logf("%s: Confine took %v; %d syscalls allowed; notes: %q", spec.Role, time.Duration(r.ConfineNanos), st.SyscallsAllowed, st.Notes)
}

// checkThreads reads every thread's /proc status of the running child:
// the per-thread attributes must have reached all of them, and its root
// must be the chroot directory.
func checkThreads(t *testing.T, pid int, chroot string, wantUID int) {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads of %d: %v", pid, err)
	}
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := parseProcStatus(b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if ps.capEff|ps.capPrm|ps.capBnd|ps.capAmb|ps.capInh != 0 || !ps.noNewPrivs || ps.seccomp != 2 || ps.uids[1] != uint32(wantUID) {
			t.Errorf("%s: %+v", path, ps)
		}
	}
	if root, err := os.Readlink(fmt.Sprintf("/proc/%d/root", pid)); err != nil || root != chroot {
		t.Errorf("root of %d is %q (%v), want %q", pid, root, err, chroot)
	}
	t.Logf("%d threads checked", len(tasks))
}

// finishWorkload receives the descriptor the child sends back, checks it
// is a datagram socket, and lets the child exit.
func finishWorkload(t *testing.T, c *child) {
	t.Helper()
	buf := make([]byte, 16)
	oob := make([]byte, unix.CmsgSpace(4))
	c.ipc.SetReadDeadline(time.Now().Add(reportTimeout))
	rc, err := c.ipc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var oobn int
	var rerr error
	rc.Read(func(fd uintptr) bool {
		_, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if rerr != nil {
		t.Fatalf("receive descriptor from child: %v", rerr)
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(cmsgs) != 1 {
		t.Fatalf("control messages %v: %v", cmsgs, err)
	}
	fds, err := unix.ParseUnixRights(&cmsgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("rights %v: %v", fds, err)
	}
	typ, err := unix.GetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_TYPE)
	unix.Close(fds[0])
	if err != nil || typ != unix.SOCK_DGRAM {
		t.Errorf("descriptor from child: SO_TYPE %d, %v", typ, err)
	}
	if _, err := c.ipc.Write([]byte("bye")); err != nil {
		t.Fatalf("bye: %v", err)
	}
}

func checkWorkload(t *testing.T, role string, w workloadStats) {
	t.Helper()
	if w.Rounds < 1 || w.UDPExchanges < 1 || w.Signals < 1 || w.GCs < 1 {
		t.Errorf("workload did too little: %+v", w)
	}
	if role == "dnsd" && w.TCPExchanges < 1 {
		t.Errorf("dnsd workload made no TCP exchange: %+v", w)
	}
	if w.ControlMsgs < 1 {
		t.Errorf("no IP_PKTINFO control messages: %+v", w)
	}
	t.Logf("%s workload: %d rounds in %v, %d UDP, %d TCP, %d GCs, %d thread exits, %d spin loops, zone %q",
		role, w.Rounds, time.Duration(w.Nanos), w.UDPExchanges, w.TCPExchanges, w.GCs, w.ThreadExits, w.SpinLoops, w.LocalZone)
}

// TestConfinedWorkload is the soak test: each role confines itself as
// root would (chroot, uid 65534, filter) and then runs its allowed
// workload under GC pressure with GOMAXPROCS=2 for soakDuration, which
// shakes out system calls the runtime makes only now and then. Any call
// missing from the allow-list kills the child with SIGSYS.
func TestConfinedWorkload(t *testing.T) {
	requireRoot(t)
	d := soakDuration()
	// Two runtime set-ups per role: GOMAXPROCS=2 from the environment, and
	// the default, where the runtime re-reads the CPU limit every second
	// (sched_getaffinity, pread64 of the cgroup files): setting GOMAXPROCS
	// turns that off, so only the default run exercises it. All children
	// start at once (not as parallel subtests, which -parallel would
	// serialise), so the test takes about one soak duration.
	type soak struct {
		name string
		spec Spec
		c    *child
	}
	var soaks []soak
	for _, role := range Roles() {
		for _, procs := range []string{"GOMAXPROCS=2", "default"} {
			spec := rootSpec(t, role)
			env := []string{childDurationEnv + "=" + d.String(), "GOGC=20"}
			if procs != "default" {
				env = append(env, procs)
			}
			c := startChild(t, childOpts{scenario: "confine", spec: &spec, ipc: true, env: env})
			sendSockets(t, c.ipc, role)
			soaks = append(soaks, soak{role + "/" + procs, spec, c})
		}
	}
	for _, s := range soaks {
		t.Run(s.name, func(t *testing.T) {
			c := s.c
			st := c.expect(t, "status", reportTimeout)
			checkStatus(t, st, s.spec, nobody)
			w := c.expect(t, "workload", d+reportTimeout)
			checkWorkload(t, s.spec.Role, w.Workload)
			checkThreads(t, st.PID, s.spec.Chroot, nobody)
			finishWorkload(t, c)
			if err := c.wait(); err != nil {
				t.Fatalf("child: %s; stderr:\n%s", describeExit(err), c.stderr.String())
			}
		})
	}
}

// runProbe runs one probe in a fresh child and returns how it ended.
func runProbe(t *testing.T, o childOpts) (probe childReport, sig syscall.Signal) {
	t.Helper()
	c := startChild(t, o)
	if o.spec != nil {
		checkStatus(t, c.expect(t, "status", reportTimeout), *o.spec, int(o.spec.UID))
	}
	r, ok := c.next(t, reportTimeout)
	err := c.wait()
	if ok && r.Kind != "probe" {
		t.Fatalf("child report %+v; stderr:\n%s", r, c.stderr.String())
	}
	sig = exitSignal(err)
	if sig == 0 && err != nil {
		t.Fatalf("probe child: %v; stderr:\n%s", err, c.stderr.String())
	}
	if !ok && sig == 0 {
		// execve that went through: /bin/true exited 0 without a report.
		r = childReport{Kind: "probe", Probe: os.Getenv(childProbeEnv), Detail: "exited without a report (execve succeeded?)"}
	}
	return r, sig
}

// TestProbesBlocked runs every probe of every role in a confined child:
// each must be killed by SIGSYS or fail with the errno the allow-list
// gives it.
func TestProbesBlocked(t *testing.T) {
	requireRoot(t)
	for _, role := range Roles() {
		for _, name := range Probes(role) {
			t.Run(role+"/"+name, func(t *testing.T) {
				t.Parallel()
				spec := rootSpec(t, role)
				r, sig := runProbe(t, childOpts{scenario: "probe", spec: &spec, env: []string{childProbeEnv + "=" + name}})
				wantKill, wantErrno, ok := ProbeExpectation(name)
				if !ok {
					t.Fatalf("probe %s has no expectation", name)
				}
				switch {
				case wantKill && sig != syscall.SIGSYS:
					t.Errorf("%s: want SIGSYS, got signal %v, report %+v", name, sig, r)
				case !wantKill && (sig != 0 || !r.Blocked || !strings.Contains(r.Detail, errnoName(wantErrno))):
					t.Errorf("%s: want blocked with %s, got signal %v, report %+v", name, errnoName(wantErrno), sig, r)
				}
			})
		}
	}
}

// TestProbesUnconfined shows the probes can fail: as unconfined root the
// harmless ones succeed (execve, ptrace and mount are not run unconfined).
func TestProbesUnconfined(t *testing.T) {
	requireRoot(t)
	for _, name := range []string{"open", "socket-packet", "socket-unix", "socket-raw", "socket-inet", "setuid0", "bpf-prog-load", "fork", "clone3"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, sig := runProbe(t, childOpts{scenario: "probe-unconfined", env: []string{childProbeEnv + "=" + name}})
			if sig != 0 || r.Blocked {
				t.Errorf("%s unconfined: signal %v, report %+v", name, sig, r)
			}
		})
	}
}

// skipIfNoUserns reports a refused user namespace exactly; outside CI it
// skips, in CI it fails.
func userNamespaceRefused(t *testing.T, what string) {
	t.Helper()
	testutil.Unavailable(t, "user namespaces unavailable here ("+what+")")
}

// TestConfineUserNamespace: a root master starts the worker in a new user
// namespace as uid 65534 (mapped to itself) with ambient CAP_SYS_CHROOT and
// CAP_SETPCAP; Confine runs without a uid switch.
func TestConfineUserNamespace(t *testing.T) {
	requireRoot(t)
	spec := Spec{Role: "dnsd", Chroot: chrootDir(t), MaxFiles: 128}
	c := startChild(t, childOpts{
		scenario: "confine", spec: &spec, ipc: true,
		env: []string{childDurationEnv + "=0"},
		attr: &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: nobody, HostID: nobody, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: nobody, HostID: nobody, Size: 1}},
			Credential:  &syscall.Credential{Uid: nobody, Gid: nobody, NoSetGroups: true},
			AmbientCaps: []uintptr{unix.CAP_SYS_CHROOT, unix.CAP_SETPCAP},
		},
	})
	sendSockets(t, c.ipc, spec.Role)
	st := c.expect(t, "status", reportTimeout)
	checkStatus(t, st, spec, nobody)
	checkWorkload(t, spec.Role, c.expect(t, "workload", reportTimeout).Workload)
	checkThreads(t, st.PID, spec.Chroot, nobody)
	finishWorkload(t, c)
	if err := c.wait(); err != nil {
		t.Fatalf("child: %s; stderr:\n%s", describeExit(err), c.stderr.String())
	}
}

// TestConfineUnprivilegedMaster is the "run as nobody" deployment: the
// master itself is uid 65534 without capabilities; it starts the worker in
// a user namespace that maps only its own ids, with ambient CAP_SYS_CHROOT
// and CAP_SETPCAP there. The worker must end up as fully confined as in
// root mode, except for the uid switch.
func TestConfineUnprivilegedMaster(t *testing.T) {
	requireRoot(t)
	launch := func(t *testing.T, spec *Spec, ipc bool, env ...string) (*child, childReport) {
		c := startChild(t, childOpts{scenario: "launch-userns", spec: spec, ipc: ipc, attr: asUser(nobody), env: env})
		if ipc {
			sendSockets(t, c.ipc, spec.Role)
		}
		r, ok := c.next(t, reportTimeout)
		if !ok {
			t.Fatalf("launcher ended (%s) without a report; stderr:\n%s", describeExit(c.wait()), c.stderr.String())
		}
		if r.Kind == "error" {
			userNamespaceRefused(t, r.Err)
		}
		if r.Kind != "status" {
			t.Fatalf("launcher report %+v; stderr:\n%s", r, c.stderr.String())
		}
		checkStatus(t, r, *spec, nobody)
		return c, r
	}
	t.Run("workload", func(t *testing.T) {
		spec := Spec{Role: "dnsd", Chroot: chrootDir(t), MaxFiles: 128}
		c, st := launch(t, &spec, true, childInnerEnv+"=confine", childDurationEnv+"=0")
		checkWorkload(t, spec.Role, c.expect(t, "workload", reportTimeout).Workload)
		checkThreads(t, st.PID, spec.Chroot, nobody)
		finishWorkload(t, c)
		if e := c.expect(t, "exit", reportTimeout); e.Signal != 0 || e.Code != 0 {
			t.Errorf("worker ended with signal %d code %d; stderr:\n%s", e.Signal, e.Code, c.stderr.String())
		}
		if err := c.wait(); err != nil {
			t.Fatalf("launcher: %s", describeExit(err))
		}
	})
	for _, name := range []string{"setuid0", "mount", "ptrace", "socket-packet", "open"} {
		t.Run("probe/"+name, func(t *testing.T) {
			t.Parallel()
			spec := Spec{Role: "dhcpd", Chroot: chrootDir(t)}
			c, _ := launch(t, &spec, false, childInnerEnv+"=probe", childProbeEnv+"="+name)
			r := c.expect(t, "", reportTimeout)
			if r.Kind == "probe" {
				r = c.expect(t, "exit", reportTimeout)
			}
			if err := c.wait(); err != nil {
				t.Fatalf("launcher: %s", describeExit(err))
			}
			wantKill, _, _ := ProbeExpectation(name)
			if wantKill != (syscall.Signal(r.Signal) == syscall.SIGSYS) {
				t.Errorf("%s: worker ended with signal %d (want killed=%v)", name, r.Signal, wantKill)
			}
		})
	}
}

func TestConfineFailures(t *testing.T) {
	requireRoot(t)
	noSuchDir := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		desc string
		spec Spec
		attr *syscall.SysProcAttr
		want string
	}{
		{"missing chroot", Spec{Role: "dnsd", Chroot: noSuchDir, SwitchUser: true, UID: nobody, GID: nobody}, nil, "chroot"},
		// Started directly as nobody, a worker can neither chroot nor
		// empty its bounding set: Confine must refuse, not half-apply.
		{"nobody cannot chroot", Spec{Role: "dnsd", Chroot: "/"}, asUser(nobody), "chroot"},
		{"nobody cannot drop bounding set", Spec{Role: "dhcpd"}, asUser(nobody), "bounding set"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			c := startChild(t, childOpts{scenario: "confine", spec: &tc.spec, attr: tc.attr})
			r := c.expect(t, "status", reportTimeout)
			err := c.wait()
			if r.Err == "" || !strings.Contains(r.Err, tc.want) {
				t.Errorf("Confine error %q, want one about %q", r.Err, tc.want)
			}
			var ee interface{ ExitCode() int }
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("child exit: %s, want code 1", describeExit(err))
			}
		})
	}
}

func asUser(id uint32) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: id, Gid: id, Groups: []uint32{}}}
}

// TestTrapForDebug: with --seccomp-trap a forbidden call does not kill the
// process silently; the Go runtime reports it with the calling goroutine.
func TestTrapForDebug(t *testing.T) {
	requireRoot(t)
	spec := rootSpec(t, "dnsd")
	spec.TrapForDebug = true
	c := startChild(t, childOpts{scenario: "probe", spec: &spec, env: []string{childProbeEnv + "=mount"}})
	r := c.expect(t, "status", reportTimeout)
	if r.Err != "" || len(r.Status.Notes) == 0 {
		t.Fatalf("status %+v", r)
	}
	err := c.wait()
	stderr := c.stderr.String()
	if sig := exitSignal(err); sig != 0 || !strings.Contains(stderr, "SIGSYS: bad system call") || !strings.Contains(stderr, "probeMount") {
		t.Errorf("trap mode: %s; stderr:\n%s", describeExit(err), stderr)
	}
}

// TestConfineNotes: layers that apply only partly are reported, not hidden.
func TestConfineNotes(t *testing.T) {
	requireRoot(t)
	spec := rootSpec(t, "dhcpd")
	if err := os.WriteFile(filepath.Join(spec.Chroot, "stray"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	spec.MaxFiles = 1 << 40 // above any hard limit; raising it needs CAP_SYS_RESOURCE
	c := startChild(t, childOpts{scenario: "confine-only", spec: &spec})
	r := c.expect(t, "status", reportTimeout)
	if err := c.wait(); err != nil {
		t.Fatalf("child: %s; stderr:\n%s", describeExit(err), c.stderr.String())
	}
	checkStatus(t, r, spec, nobody)
	notes := strings.Join(r.Status.Notes, "\n")
	for _, want := range []string{"not empty", "RLIMIT_NOFILE"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes %q lack %q", r.Status.Notes, want)
		}
	}
}
