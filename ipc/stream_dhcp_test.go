package ipc

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// stateLeases makes n distinct leases with names, client-ids and MACs.
func stateLeases(n int) []*ipcpb.LeaseRecord {
	out := make([]*ipcpb.LeaseRecord, n)
	for i := range out {
		out[i] = &ipcpb.LeaseRecord{Addr: []byte{10, byte(i >> 16), byte(i >> 8), byte(i)}, HwType: 1,
			HwAddr: []byte{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}, ClientId: []byte{1, 2, 0, byte(i >> 16), byte(i >> 8), byte(i)},
			Hostname: fmt.Sprintf("host-%d", i), Expires: 1700000000 + int64(i)}
	}
	return out
}

// recvFrom adapts a Conn for RecvDHCPState, counting the messages.
func recvFrom(c *Conn, count *int) func() (*ipcpb.Envelope, error) {
	return func() (*ipcpb.Envelope, error) {
		m, fds, err := c.Recv()
		if len(fds) > 0 {
			return nil, errors.New("descriptors")
		}
		*count++
		return m, err
	}
}

// TestDHCPStateStream: 50,000 leases (several megabytes) cross a real
// socketpair in messages under the cap and arrive whole and in order;
// small tables and an empty one too.
func TestDHCPStateStream(t *testing.T) {
	ifs := []*ipcpb.DHCPInterface{{Name: "eth0", Index: 2, Prefixes: []string{"10.0.0.1/8"}}}
	for _, n := range []int{0, 1, 50_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			a, b := newConnPair(t)
			st := &ipcpb.DHCPState{Interfaces: ifs, Leases: stateLeases(n)}
			errc := make(chan error, 1)
			go func() { errc <- SendDHCPState(a, st) }()
			msgs := 0
			got, err := RecvDHCPState(recvFrom(b, &msgs))
			if err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, st) {
				t.Fatalf("received state differs (%d leases, want %d)", len(got.GetLeases()), n)
			}
			size := proto.Size(st)
			if min := 2 + size/MaxMessageSize; msgs < min || n == 50_000 && size < 4*MaxMessageSize {
				t.Fatalf("%d messages for %d bytes of state", msgs, size)
			}
			t.Logf("%d leases, %d bytes, %d messages", n, size, msgs)
		})
	}
}

// TestDHCPStateStreamErrors: what a confused or hostile master sends is
// refused, and a bad lease stops the sender before anything goes out.
func TestDHCPStateStreamErrors(t *testing.T) {
	head := &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpState{DhcpState: &ipcpb.DHCPState{}}}
	chunk := &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpLeaseChunk{DhcpLeaseChunk: &ipcpb.DHCPLeaseChunk{Leases: stateLeases(2)}}}
	end := func(n uint64) *ipcpb.Envelope {
		return &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpStateEnd{DhcpStateEnd: &ipcpb.DHCPStateEnd{Leases: n}}}
	}
	other := &ipcpb.Envelope{Msg: &ipcpb.Envelope_LeaseCommitted{LeaseCommitted: &ipcpb.LeaseCommitted{Id: 1}}}
	for _, tc := range []struct {
		name string
		msgs []*ipcpb.Envelope
		want error
	}{
		{"no head", []*ipcpb.Envelope{chunk, end(2)}, ErrUnexpected},
		{"count too high", []*ipcpb.Envelope{head, chunk, end(3)}, ErrStream},
		{"count too low", []*ipcpb.Envelope{head, chunk, chunk, end(2)}, ErrStream},
		{"other message inside", []*ipcpb.Envelope{head, chunk, other, end(2)}, ErrUnexpected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newConnPair(t)
			for _, m := range tc.msgs {
				if err := a.Send(m); err != nil {
					t.Fatal(err)
				}
			}
			msgs := 0
			if _, err := RecvDHCPState(recvFrom(b, &msgs)); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("delete record not sent", func(t *testing.T) {
		a, _ := newConnPair(t)
		leases := stateLeases(3)
		leases[2] = &ipcpb.LeaseRecord{Delete: true, Addr: []byte{10, 0, 0, 9}}
		if err := SendDHCPState(a, &ipcpb.DHCPState{Leases: leases}); err == nil {
			t.Fatal("a delete record was streamed")
		}
	})
	t.Run("empty chunk invalid", func(t *testing.T) {
		if err := Validate(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpLeaseChunk{DhcpLeaseChunk: &ipcpb.DHCPLeaseChunk{}}}); err == nil {
			t.Fatal("an empty chunk validates")
		}
	})
}
