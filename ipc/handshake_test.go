package ipc

import (
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// handshakeBoth runs Handshake on both ends at once, as master and worker do.
func handshakeBoth(t *testing.T, a, b *Conn, roleA, roleB string) (errA, errB error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := b.Handshake(roleB)
		done <- err
	}()
	_, errA = a.Handshake(roleA)
	return errA, <-done
}

func TestHandshakeSuccess(t *testing.T) {
	a, b := newConnPair(t)
	done := make(chan *ipcpb.Hello, 1)
	go func() {
		h, err := b.Handshake("dnsd")
		if err != nil {
			t.Error(err)
		}
		done <- h
	}()
	h, err := a.Handshake("dnsd")
	if err != nil {
		t.Fatal(err)
	}
	peer := <-done
	for _, got := range []*ipcpb.Hello{h, peer} {
		if got.GetVersion() != Version || got.GetRole() != "dnsd" || got.GetPid() != int32(os.Getpid()) {
			t.Errorf("peer hello = %v, want version %d, role dnsd, pid %d", got, Version, os.Getpid())
		}
	}
}

func TestHandshakeRoleMismatch(t *testing.T) {
	a, b := newConnPair(t)
	errA, errB := handshakeBoth(t, a, b, "dnsd", "dhcpd")
	for _, err := range []error{errA, errB} {
		if !errors.Is(err, ErrRoleMismatch) || !strings.Contains(err.Error(), `"dhcpd"`) {
			t.Errorf("Handshake = %v, want ErrRoleMismatch naming both roles", err)
		}
	}
}

// TestHandshakeBadPeer: the peer sends something else than a proper Hello
// as its first message.
func TestHandshakeBadPeer(t *testing.T) {
	tests := []struct {
		name  string
		first *ipcpb.Envelope // nil: the peer closes without a word
		want  error
		text  string
	}{
		{"version mismatch", &ipcpb.Envelope{Msg: &ipcpb.Envelope_Hello{Hello: &ipcpb.Hello{Version: Version + 1, Role: "dnsd", Pid: 7}}},
			ErrVersionMismatch, "protocol version 2, this side 1"},
		{"version zero", &ipcpb.Envelope{Msg: &ipcpb.Envelope_Hello{Hello: &ipcpb.Hello{Role: "dnsd"}}},
			ErrVersionMismatch, "protocol version 0"},
		{"ready before hello", &ipcpb.Envelope{Msg: &ipcpb.Envelope_Ready{Ready: &ipcpb.Ready{}}},
			ErrUnexpected, "first message from peer is ready, want hello"},
		{"table item before hello", sampleMessages()[5],
			ErrUnexpected, "table_item"},
		{"peer gone", nil, syscall.EPIPE, "send hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newConnPair(t)
			if tt.first != nil {
				if err := b.Send(tt.first); err != nil {
					t.Fatal(err)
				}
			} else {
				b.Close()
			}
			_, err := a.Handshake("dnsd")
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Handshake = %v, want %v containing %q", err, tt.want, tt.text)
			}
		})
	}
}

func TestHandshakeRefusesBadLocalRole(t *testing.T) {
	a, _ := newConnPair(t)
	if _, err := a.Handshake(""); !errors.Is(err, ErrInvalid) {
		t.Errorf("Handshake(\"\") = %v, want ErrInvalid", err)
	}
}

// TestHandshakePeerLeavesAfterHello: the peer's Hello is queued, then it
// closes; the handshake itself succeeds and the next Recv sees EOF.
func TestHandshakePeerLeavesAfterHello(t *testing.T) {
	a, b := newConnPair(t)
	if err := b.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_Hello{Hello: &ipcpb.Hello{Version: Version, Role: "dnsd"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Handshake("dnsd"); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, _, err := a.Recv(); err != io.EOF {
		t.Errorf("Recv = %v, want io.EOF", err)
	}
}
