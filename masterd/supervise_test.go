package masterd

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/testutil"
	"github.com/moatdns/moat/seccomp"
)

// workerBinary returns the binary the master under test starts workers
// from: this test binary, or, when it was built with cgo (the race
// detector needs cgo, and cgo disables the all-threads syscalls workers
// confine themselves with), a CGO_ENABLED=0 build of it.
func workerBinary(t *testing.T) string {
	t.Helper()
	if !cgoEnabled {
		return selfExe
	}
	bin := filepath.Join(t.TempDir(), "masterd-worker.test")
	cmd := exec.Command("go", "test", "-c", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build a cgo-free worker binary: %v\n%s", err, out)
	}
	return bin
}

// TestSupervisorRestartsProtocolBreaker: a worker that breaks the protocol
// after Ready is killed and restarted, and the new worker gets the very
// same socket.
func TestSupervisorRestartsProtocolBreaker(t *testing.T) {
	testutil.RequireRoot(t, "workers confine themselves: chroot, uid switch")
	s, logBuf := superviseFakeDnsdUntilRestart(t, "violate", 15*time.Second)
	log := logBuf.String()
	if !strings.Contains(log, "protocol-violation role=dnsd") || !strings.Contains(log, "unexpected *ipcpb.Envelope_Hello after Ready") {
		t.Errorf("violation not logged:\n%s", log)
	}
	// Once: one breaker, one record (its worker-exit says why, as another event).
	if n := strings.Count(log, "audit: event=protocol-violation "); n != 1 {
		t.Errorf("%d protocol-violation records, want 1:\n%s", n, log)
	}
	if strings.Count(log, "ready: uid=") < 2 {
		t.Errorf("expected two Ready workers (the breaker and its successor):\n%s", log)
	}
	select {
	case <-s.firstReady:
	default:
		t.Error("firstReady not closed")
	}
}

// seccompDieEnv turns TestSeccompDeathHelper into a process that
// installs a filter refusing syncfs(2) and calls it.
const seccompDieEnv = "MOAT_TEST_SECCOMP_DIE"

// TestSeccompDeathHelper is not a test: run by TestDyingBySeccomp in a
// child process, it dies by its seccomp filter (the usual helper-process
// pattern; without the variable it does nothing).
func TestSeccompDeathHelper(t *testing.T) {
	if os.Getenv(seccompDieEnv) != "1" {
		return
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		os.Exit(4)
	}
	const retKillProcess, retAllow = 0x80000000, 0x7fff0000
	if err := seccomp.Install([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 4}, // seccomp_data.nr
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_SYNCFS, SkipFalse: 1},
		bpf.RetConstant{Val: retKillProcess},
		bpf.RetConstant{Val: retAllow},
	}); err != nil {
		os.Exit(5)
	}
	_, _, _ = unix.Syscall(unix.SYS_SYNCFS, 0, 0, 0)
	os.Exit(6)
}

// TestDyingBySeccomp: a worker its filter is killing shows Seccomp: 3
// (SECCOMP_MODE_DEAD) in /proc/<pid>/status, and only such a worker; the
// supervisor then reports a seccomp kill, not a lie about its sandbox,
// when the kill races its Ready check.
func TestDyingBySeccomp(t *testing.T) {
	if dyingBySeccomp(os.Getpid()) {
		t.Fatal("this live test process counted as dying by seccomp")
	}
	cmd := exec.Command(selfExe, "-test.run=^TestSeccompDeathHelper$")
	cmd.Env = append(os.Environ(), seccompDieEnv+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// Unreaped, the dead child stays a zombie whose status can be read.
	zombie := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			zombie = true
			break
		}
	}
	if !zombie {
		t.Fatal("the helper did not die within 10s")
	}
	st, err := readProcStatus(pid)
	if err != nil {
		t.Fatal(err)
	}
	switch st.GetSeccompMode() {
	case seccompModeDead:
		if !dyingBySeccomp(pid) {
			t.Error("Seccomp: 3, but dyingBySeccomp says no")
		}
	case 2:
		// Before Linux 5.17 the mode stays 2: nothing to tell apart.
		t.Logf("kernel without SECCOMP_MODE_DEAD: Seccomp stays 2")
		if dyingBySeccomp(pid) {
			t.Error("dyingBySeccomp without SECCOMP_MODE_DEAD")
		}
	default:
		t.Errorf("Seccomp: %d, want 3 (or 2 before Linux 5.17)", st.GetSeccompMode())
	}
	err = cmd.Wait()
	if reason := exitReason(err); reason != "killed by seccomp (SIGSYS)" {
		t.Errorf("helper ended %q, want killed by seccomp", reason)
	}
}

// superviseFakeDnsdUntilRestart supervises the test's fake dnsd (see
// main_test.go), whose one socket holds order, the fake worker's
// instruction ("violate", the seccomp trigger...), and waits until the
// supervisor has restarted it and a worker runs again. The supervisor is
// stopped when the test ends; the log is returned.
func superviseFakeDnsdUntilRestart(t *testing.T, order string, within time.Duration) (*supervisor, *testutil.SyncBuffer) {
	t.Helper()
	sock, err := openUDP(netip.MustParseAddrPort("127.0.0.1:0"), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.file.Close() })
	raw, err := net.FilePacketConn(sock.file)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.WriteTo([]byte(order), raw.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	logBuf := &testutil.SyncBuffer{}
	m := &master{cfg: &config.Config{RunDir: t.TempDir()}, log: &logger{w: logBuf, pid: os.Getpid()}}
	if m.sandbox, err = planSandbox(m.cfg); err != nil {
		t.Fatal(err)
	}
	m.exe = workerBinary(t)
	s := newSupervisor(m, "dnsd", []openSocket{sock}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("supervisor did not stop within 10s")
		}
	})
	deadline := time.Now().Add(within)
	for {
		s.mu.Lock()
		restarts, current := s.restarts, s.current
		s.mu.Unlock()
		if restarts >= 1 && current != nil {
			return s, logBuf
		}
		if time.Now().After(deadline) {
			t.Fatalf("no restart within %v (restarts %d); log:\n%s", within, restarts, logBuf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
