package masterd

import (
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/workerproc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// TestMain lets the test binary stand in for moatd's workers: the master
// under test re-executes /proc/self/exe, which here is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == WorkerArg {
		os.Exit(fakeWorker(os.Args[2], os.Args[3:]))
	}
	os.Exit(m.Run())
}

// fakeWorkerSyscall, as the first socket's datagram, makes the fake worker
// call syncfs(2) after Ready, which its seccomp filter kills.
const fakeWorkerSyscall = "syscall"

// fakeWorker is a really confined worker with a scripted behaviour: if its
// first socket holds a datagram saying "violate", it breaks the protocol
// after Ready; otherwise it behaves until the master stops it. The
// datagram is consumed, so only the first worker to get that socket
// misbehaves, and a well-behaved successor proves it got the same socket.
func fakeWorker(role string, args []string) int {
	w, err := workerproc.Start(role, args)
	if err != nil {
		os.Stderr.WriteString("fake worker: " + err.Error() + "\n")
		return 1
	}
	violate, forbidden := false, false
	if len(w.Sockets) > 0 {
		fd := int(w.Sockets[0].File.Fd())
		_ = syscall.SetNonblock(fd, true)
		buf := make([]byte, 64)
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		violate = err == nil && string(buf[:n]) == "violate"
		forbidden = err == nil && string(buf[:n]) == fakeWorkerSyscall
	}
	if err := w.Ready(); err != nil {
		return 1
	}
	if forbidden {
		// Not on any allow-list: the filter kills the process here.
		_, _, _ = syscall.Syscall(unix.SYS_SYNCFS, 0, 0, 0)
		return 3
	}
	if violate {
		_ = w.Conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_Hello{Hello: &ipcpb.Hello{Version: 1, Role: role}}})
	}
	for {
		m, _, err := w.Conn.Recv()
		if err != nil || m.GetShutdown() != nil {
			return 0
		}
	}
}
