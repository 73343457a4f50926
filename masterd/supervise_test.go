package masterd

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/testutil"
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
	sock, err := openUDP(netip.MustParseAddrPort("127.0.0.1:0"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.file.Close()
	raw, err := net.FilePacketConn(sock.file)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.WriteTo([]byte("violate"), raw.LocalAddr()); err != nil {
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
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("supervisor did not stop within 10s")
		}
	}()

	deadline := time.Now().Add(15 * time.Second)
	for {
		s.mu.Lock()
		restarts, current := s.restarts, s.current
		s.mu.Unlock()
		if restarts >= 1 && current != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no healthy restart within 15s (restarts %d); log:\n%s", restarts, logBuf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	log := logBuf.String()
	if !strings.Contains(log, "protocol-violation role=dnsd") || !strings.Contains(log, "unexpected *ipcpb.Envelope_Hello after Ready") {
		t.Errorf("violation not logged:\n%s", log)
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
