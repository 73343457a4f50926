// Package workerproc owns the common life of a worker process (dnsd,
// dhcpd): confine itself from the spec on its command line before touching
// any network input, handshake with the master on descriptor 3, answer
// --check-sandbox probes, and receive its sockets.
package workerproc

import (
	"errors"
	"fmt"
	"os"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/seccomp"
)

// IPCFD is the descriptor number of the worker's end of the socketpair.
const IPCFD = 3

// Socket is one inherited socket and what the master said about it.
type Socket struct {
	Desc *ipcpb.Socket
	File *os.File
}

// Worker is a confined worker process connected to its master.
type Worker struct {
	Role    string
	Conn    *ipc.Conn
	Status  seccomp.Status
	Sockets []Socket
}

// errProbeDone ends a --check-sandbox worker after it answered.
var errProbeDone = errors.New("probe answered")

// Start confines the process as args say, handshakes on IPCFD, and waits
// for the SocketSet. A worker started for --check-sandbox runs its probe
// here and exits the process.
func Start(role string, args []string) (*Worker, error) {
	spec, err := seccomp.ParseSpec(args)
	if err != nil {
		return nil, fmt.Errorf("worker arguments: %w", err)
	}
	if spec.Role != role {
		return nil, fmt.Errorf("worker arguments: role %q, started as %q", spec.Role, role)
	}
	// Confinement comes before the first byte from anyone: the master's
	// messages are trusted more than the network's, but not by much.
	status, err := seccomp.Confine(spec)
	if err != nil {
		return nil, fmt.Errorf("confine %s: %w", role, err)
	}
	conn := ipc.NewConn(os.NewFile(IPCFD, "ipc"))
	if _, err := conn.Handshake(role); err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	w := &Worker{Role: role, Conn: conn, Status: status}
	if err := w.receiveSockets(); err != nil {
		if errors.Is(err, errProbeDone) {
			os.Exit(0)
		}
		return nil, err
	}
	return w, nil
}

// receiveSockets waits for the SocketSet, or runs a probe when the master
// sent a ProbeRequest instead.
func (w *Worker) receiveSockets() error {
	m, fds, err := w.Conn.Recv()
	if err != nil {
		return fmt.Errorf("receive sockets: %w", err)
	}
	if p := m.GetProbeRequest(); p != nil {
		closeAll(fds)
		return w.answerProbe(p.GetProbe())
	}
	set := m.GetSocketSet()
	if set == nil {
		closeAll(fds)
		return fmt.Errorf("receive sockets: expected SocketSet, got %T", m.GetMsg())
	}
	if len(set.GetSockets()) != len(fds) {
		closeAll(fds)
		return fmt.Errorf("receive sockets: %d descriptions for %d descriptors", len(set.GetSockets()), len(fds))
	}
	for i, d := range set.GetSockets() {
		w.Sockets = append(w.Sockets, Socket{Desc: d, File: os.NewFile(uintptr(fds[i]), d.GetAddress())})
	}
	return nil
}

// answerProbe reports the sandbox status and, unless only the status was
// asked for, tries the forbidden action. An action the filter does not allow
// kills the process here; the master reads that from the wait status.
func (w *Worker) answerProbe(probe string) error {
	if err := w.Conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_SandboxStatus{SandboxStatus: StatusMessage(w.Status)}}); err != nil {
		return fmt.Errorf("send sandbox status: %w", err)
	}
	if probe == "status" {
		// Stay alive until the master has checked /proc/<pid>/status from
		// outside and closes the connection.
		_, fds, _ := w.Conn.Recv()
		closeAll(fds)
		return errProbeDone
	}
	blocked, detail := seccomp.RunProbe(probe)
	res := &ipcpb.ProbeResult{Probe: probe, Blocked: blocked, Detail: detail}
	if err := w.Conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_ProbeResult{ProbeResult: res}}); err != nil {
		return fmt.Errorf("send probe result: %w", err)
	}
	return errProbeDone
}

// Ready tells the master the worker is confined, configured and serving.
func (w *Worker) Ready() error {
	return w.Conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_Ready{Ready: &ipcpb.Ready{Sandbox: StatusMessage(w.Status)}}})
}

// StatusMessage converts a confinement status for the wire.
func StatusMessage(s seccomp.Status) *ipcpb.SandboxStatus {
	return &ipcpb.SandboxStatus{
		Uid: s.UID, Gid: s.GID,
		CapEff: s.CapEff, CapPrm: s.CapPrm, CapBnd: s.CapBnd, CapAmb: s.CapAmb, CapInh: s.CapInh,
		NoNewPrivs: s.NoNewPrivs, SeccompMode: s.SeccompMode, Chrooted: s.Chrooted,
		SyscallsAllowed: uint32(s.SyscallsAllowed), Notes: s.Notes,
	}
}

func closeAll(fds []int) {
	for _, fd := range fds {
		_ = os.NewFile(uintptr(fd), "").Close()
	}
}
