package ipc

import (
	"fmt"
	"os"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Handshake sends Hello{Version, role, pid} and reads the peer's Hello,
// which must have the same version and role. Both sides send first, so
// neither waits on the other; the socket buffer holds the Hellos.
//
// The pid is informative only: in a PID namespace the worker sees itself
// as 1. Use SetDeadline to bound the wait for a peer that never answers.
func (c *Conn) Handshake(role string) (*ipcpb.Hello, error) {
	hello := &ipcpb.Hello{Version: Version, Role: role, Pid: int32(os.Getpid())}
	if err := c.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_Hello{Hello: hello}}); err != nil {
		return nil, fmt.Errorf("ipc handshake as %q: send hello: %w", role, err)
	}
	m, fds, err := c.Recv()
	if err != nil {
		return nil, fmt.Errorf("ipc handshake as %q: receive hello: %w", role, err)
	}
	closeFDs(fds) // Recv admits none with a Hello; belt and braces
	peer := m.GetHello()
	if peer == nil {
		return nil, fmt.Errorf("ipc handshake as %q: first message from peer is %s, want hello: %w", role, messageName(m), ErrUnexpected)
	}
	if peer.GetVersion() != Version {
		return nil, fmt.Errorf("ipc handshake as %q: peer (pid %d) speaks protocol version %d, this side %d: %w",
			role, peer.GetPid(), peer.GetVersion(), Version, ErrVersionMismatch)
	}
	if peer.GetRole() != role {
		return nil, fmt.Errorf("ipc handshake: peer (pid %d) says role %q, this side %q: %w",
			peer.GetPid(), peer.GetRole(), role, ErrRoleMismatch)
	}
	return peer, nil
}
