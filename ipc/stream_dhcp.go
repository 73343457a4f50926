package ipc

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// dhcpd's start-up state (DHCPState) holds the lease table, which can be
// far larger than one message: it travels as the DHCPState (interfaces,
// and no leases), DHCPLeaseChunk messages each packed to just under
// MaxMessageSize, and a DHCPStateEnd that counts the leases. dhcpd uses
// the leases only when the count matches, so a half-sent table is never
// taken for the whole one.

// MaxDHCPStateLeases caps the leases of one streamed DHCPState, sent or
// received: far more than any DHCP server hands out (dhcp-lease-max is
// at most a few hundred thousand in practice).
const MaxDHCPStateLeases = 4_000_000

// Field numbers from moat.proto, for exact size arithmetic.
const (
	envelopeDHCPLeaseChunkField = 74
	leaseChunkLeasesField       = 1
)

// SendDHCPState streams st (its leases in chunks) as DHCPState,
// DHCPLeaseChunk... and DHCPStateEnd. st is not modified. Every record is
// validated before the first message goes out.
func SendDHCPState(c *Conn, st *ipcpb.DHCPState) error {
	leases := st.GetLeases()
	if len(leases) > MaxDHCPStateLeases {
		return fmt.Errorf("ipc send dhcp state: %d leases, at most %d: %w", len(leases), MaxDHCPStateLeases, ErrTooLarge)
	}
	ends, err := leaseChunks(leases)
	if err != nil {
		return fmt.Errorf("ipc send dhcp state: %w", err)
	}
	head := &ipcpb.DHCPState{Interfaces: st.GetInterfaces()}
	c.streamMu.Lock()
	defer c.streamMu.Unlock()
	if err := c.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpState{DhcpState: head}}); err != nil {
		return err
	}
	start := 0
	for _, end := range ends {
		chunk := &ipcpb.DHCPLeaseChunk{Leases: leases[start:end]}
		if err := c.sendValidated(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpLeaseChunk{DhcpLeaseChunk: chunk}}, nil); err != nil {
			return fmt.Errorf("ipc send dhcp state: leases %d-%d: %w", start, end-1, err)
		}
		start = end
	}
	fin := &ipcpb.DHCPStateEnd{Leases: uint64(len(leases))}
	return c.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpStateEnd{DhcpStateEnd: fin}})
}

// leaseChunks validates the leases and returns the end index (exclusive)
// of each chunk.
func leaseChunks(leases []*ipcpb.LeaseRecord) ([]int, error) {
	const budget = MaxMessageSize - streamMargin
	envelopeSize := func(chunkLen int) int {
		return protowire.SizeTag(envelopeDHCPLeaseChunkField) + protowire.SizeBytes(chunkLen)
	}
	var ends []int
	chunkLen := 0
	for i, l := range leases {
		if err := validateStateLease(l); err != nil {
			return nil, fmt.Errorf("lease %d: %w", i, err)
		}
		es := protowire.SizeTag(leaseChunkLeasesField) + protowire.SizeBytes(proto.Size(l))
		if chunkLen > 0 && envelopeSize(chunkLen+es) > budget {
			ends = append(ends, i)
			chunkLen = 0
		}
		chunkLen += es
	}
	if chunkLen > 0 {
		ends = append(ends, len(leases))
	}
	return ends, nil
}

// RecvDHCPState reads a streamed DHCPState with recv (which returns the
// next message, descriptors already refused) and returns it whole: the
// head's interfaces and every lease. Any other message, a chunk over the
// caps, or an end whose count differs is an error wrapping ErrStream or
// ErrUnexpected.
func RecvDHCPState(recv func() (*ipcpb.Envelope, error)) (*ipcpb.DHCPState, error) {
	m, err := recv()
	if err != nil {
		return nil, err
	}
	head := m.GetDhcpState()
	if head == nil {
		return nil, fmt.Errorf("dhcp state: expected DHCPState, got %s: %w", messageName(m), ErrUnexpected)
	}
	st := &ipcpb.DHCPState{Interfaces: head.GetInterfaces(), Leases: head.GetLeases()}
	for {
		m, err := recv()
		if err != nil {
			return nil, err
		}
		switch x := m.GetMsg().(type) {
		case *ipcpb.Envelope_DhcpLeaseChunk:
			if len(st.Leases)+len(x.DhcpLeaseChunk.GetLeases()) > MaxDHCPStateLeases {
				return nil, fmt.Errorf("dhcp state: more than %d leases: %w", MaxDHCPStateLeases, ErrStream)
			}
			st.Leases = append(st.Leases, x.DhcpLeaseChunk.GetLeases()...)
		case *ipcpb.Envelope_DhcpStateEnd:
			if n := x.DhcpStateEnd.GetLeases(); n != uint64(len(st.Leases)) {
				return nil, fmt.Errorf("dhcp state: end counts %d leases, %d arrived: %w", n, len(st.Leases), ErrStream)
			}
			return st, nil
		default:
			return nil, fmt.Errorf("dhcp state: expected a lease chunk or the end, got %s: %w", messageName(m), ErrUnexpected)
		}
	}
}

// validateStateLease: a lease of the master's table, never a deletion.
func validateStateLease(r *ipcpb.LeaseRecord) error {
	if err := validateLeaseRecord(r); err != nil {
		return err
	}
	if r.GetDelete() {
		return invalid("a delete record")
	}
	return nil
}

func validateDHCPLeaseChunk(c *ipcpb.DHCPLeaseChunk) error {
	if len(c.GetLeases()) == 0 {
		return invalid("an empty lease chunk")
	}
	for i, r := range c.GetLeases() {
		if err := validateStateLease(r); err != nil {
			return fmt.Errorf("leases[%d]: %w", i, err)
		}
	}
	return nil
}

func validateDHCPStateEnd(e *ipcpb.DHCPStateEnd) error {
	if e.GetLeases() > MaxDHCPStateLeases {
		return invalid("leases: %d, at most %d", e.GetLeases(), MaxDHCPStateLeases)
	}
	return nil
}

// validateDHCPInterfaces checks the interfaces as a DHCPState's.
func validateDHCPInterfaces(c *ipcpb.DHCPInterfaces) error {
	return validateDHCPState(&ipcpb.DHCPState{Interfaces: c.GetInterfaces()})
}
