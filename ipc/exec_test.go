package ipc

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// childEnv makes the test binary act as a worker on fd 3 instead of
// running tests. Its value says whether fd 3 is made blocking first, as a
// descriptor inherited across exec can be.
const childEnv = "MOAT_IPC_TEST_CHILD"

const childRole = "testworker"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild is the worker side: handshake, receive a UDP socket, read the
// datagram waiting on it, report it, and leave when the master closes.
func runChild(mode string) error {
	if mode == "blocking" {
		if err := unix.SetNonblock(3, false); err != nil {
			return err
		}
	}
	c := NewConn(os.NewFile(3, "ipc"))
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(testWait)); err != nil {
		return fmt.Errorf("deadline: %w", err)
	}
	if _, err := c.Handshake(childRole); err != nil {
		return err
	}
	m, fds, err := c.Recv()
	if err != nil {
		return err
	}
	defer closeFDs(fds)
	if len(fds) != 1 || m.GetSocketSet().GetSockets()[0].GetKind() != ipcpb.Socket_KIND_DNS_UDP {
		return fmt.Errorf("got %v with %d fds, want a socket set with one UDP socket", m, len(fds))
	}
	pfd := []unix.PollFd{{Fd: int32(fds[0]), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, int(testWait/time.Millisecond)); err != nil || n != 1 {
		return fmt.Errorf("poll on the received socket: %d, %v", n, err)
	}
	buf := make([]byte, 512)
	n, _, err := unix.Recvfrom(fds[0], buf, 0)
	if err != nil {
		return fmt.Errorf("recvfrom on the received socket: %w", err)
	}
	reply := &ipcpb.ProbeResult{Probe: "udp", Detail: string(buf[:n])}
	if err := c.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_ProbeResult{ProbeResult: reply}}); err != nil {
		return err
	}
	if _, _, err := c.Recv(); err != io.EOF {
		return fmt.Errorf("after the report: %v, want EOF", err)
	}
	return nil
}

// TestExecWorker runs the whole path a worker takes: its end of Pair()
// passed as fd 3 through exec, handshake, a real UDP socket passed with
// SCM_RIGHTS and used on the other side.
func TestExecWorker(t *testing.T) {
	for _, mode := range []string{"nonblocking", "blocking"} {
		t.Run(mode, func(t *testing.T) { testExecWorker(t, mode) })
	}
}

func testExecWorker(t *testing.T, mode string) {
	masterEnd, workerEnd, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer workerEnd.Close()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udpFile, err := udp.File()
	if err != nil {
		t.Fatal(err)
	}
	defer udpFile.Close()
	payload := fmt.Sprintf("query for %s worker", mode)
	sender, err := net.DialUDP("udp4", nil, udp.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	if _, err := sender.Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}

	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	cmd.ExtraFiles = []*os.File{workerEnd}
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}()
	workerEnd.Close()

	c := NewConn(masterEnd)
	defer c.Close()
	c.SetDeadline(time.Now().Add(testWait))
	peer, err := c.Handshake(childRole)
	if err != nil {
		t.Fatalf("handshake: %v (child stderr: %s)", err, stderr.String())
	}
	if int(peer.GetPid()) != cmd.Process.Pid {
		t.Errorf("peer pid %d, started %d", peer.GetPid(), cmd.Process.Pid)
	}
	set := &ipcpb.SocketSet{Sockets: []*ipcpb.Socket{{Kind: ipcpb.Socket_KIND_DNS_UDP, Address: udp.LocalAddr().String()}}}
	if err := c.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_SocketSet{SocketSet: set}}, fdOf(t, udpFile)); err != nil {
		t.Fatal(err)
	}
	m, _, err := c.Recv()
	if err != nil {
		t.Fatalf("report: %v (child stderr: %s)", err, stderr.String())
	}
	if got := m.GetProbeResult().GetDetail(); got != payload {
		t.Errorf("child read %q from the passed socket, want %q", got, payload)
	}
	c.Close()
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("child: %v (stderr: %s)", waitErr, stderr.String())
		}
	case <-time.After(testWait):
		t.Errorf("child still running after the master closed (stderr: %s)", stderr.String())
	}
}
