package dhcpserver

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/net/bpf"
)

// The ping check's wire format. The engine only asks for probes (Action
// Probe); the worker sends them on the raw ICMP socket the master opened
// and reads the replies, with these helpers (pure, so that the master,
// which opens the socket, and the worker agree on the filter).

// PingWait is how long an offer waits for an echo reply before the
// address counts as free: dnsmasq's PING_WAIT (3 seconds). dnsmasq
// waits with every other DHCP client stalled; moat's wait holds up only
// the DISCOVER that asked for the probe.
const PingWait = 3 * time.Second

// ICMP message types (RFC 792).
const (
	icmpEchoReply   = 0
	icmpEchoRequest = 8
)

// echoPayloadLen pads the echo request to dnsmasq's size (sizeof(struct
// icmp): 8 bytes of header and 20 of zeros), so that a host that
// answers dnsmasq's probe answers moat's.
const echoPayloadLen = 20

// EchoRequest is an ICMP echo request with identifier id and sequence
// number seq, checksum filled in, for a raw IPPROTO_ICMP socket (the
// kernel adds the IP header).
func EchoRequest(id, seq uint16) []byte {
	b := make([]byte, 8+echoPayloadLen)
	b[0] = icmpEchoRequest
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	binary.BigEndian.PutUint16(b[2:], inetChecksum(b))
	return b
}

// EchoReply is what ParseEchoReply found in a datagram.
type EchoReply struct {
	From netip.Addr // the IP source: the address that answered
	ID   uint16
	Seq  uint16
}

// ParseEchoReply reads a datagram from a raw IPv4 ICMP socket (IP header
// included): ok only for a well-formed, unfragmented echo reply whose
// ICMP checksum holds. The bytes come from the network: anything else is
// refused, never an error.
func ParseEchoReply(b []byte) (EchoReply, bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return EchoReply{}, false
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl+8 || total > len(b) || b[9] != 1 /* ICMP */ {
		return EchoReply{}, false
	}
	if frag := binary.BigEndian.Uint16(b[6:]); frag&0x3fff != 0 {
		return EchoReply{}, false // a fragment (MF set or an offset)
	}
	icmp := b[ihl:total]
	if icmp[0] != icmpEchoReply || icmp[1] != 0 || inetChecksum(icmp) != 0 {
		return EchoReply{}, false
	}
	return EchoReply{
		From: netip.AddrFrom4([4]byte(b[12:16])),
		ID:   binary.BigEndian.Uint16(icmp[4:]),
		Seq:  binary.BigEndian.Uint16(icmp[6:]),
	}, true
}

// EchoReplyFilter is a classic BPF socket filter for a raw IPv4 ICMP
// socket that passes echo replies only (with identifier id when matchID
// is set) and drops every other ICMP message before it wakes the reader:
// a raw ICMP socket otherwise receives a copy of all ICMP traffic of the
// host, our own echo requests on loopback included. Offset 0 is the IP
// header; X is set to its length.
func EchoReplyFilter(id uint16, matchID bool) ([]bpf.RawInstruction, error) {
	const accept, drop = 0xffff, 0
	// Each check loads a field and jumps to the final drop when it
	// fails; all passed, the accept before the drop is reached.
	type check struct {
		load bpf.Instruction
		cond bpf.JumpTest
		val  uint32
	}
	checks := []check{
		// A fragment's payload is not an ICMP header.
		{bpf.LoadAbsolute{Off: 6, Size: 2}, bpf.JumpBitsSet, 0x3fff},
		{bpf.LoadIndirect{Off: 0, Size: 1}, bpf.JumpNotEqual, icmpEchoReply},
	}
	if matchID {
		checks = append(checks, check{bpf.LoadIndirect{Off: 4, Size: 2}, bpf.JumpNotEqual, uint32(id)})
	}
	var prog []bpf.Instruction
	for i, c := range checks {
		if i == 1 {
			prog = append(prog, bpf.LoadMemShift{Off: 0}) // X = IP header length
		}
		prog = append(prog, c.load)
		// Instructions left after this jump up to the drop: the
		// remaining checks' two (and the X load before check 1), then
		// the accept.
		left := 2*(len(checks)-1-i) + 1
		if i == 0 {
			left++
		}
		prog = append(prog, bpf.JumpIf{Cond: c.cond, Val: c.val, SkipTrue: uint8(left)})
	}
	prog = append(prog, bpf.RetConstant{Val: accept}, bpf.RetConstant{Val: drop})
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble echo reply filter: %w", err)
	}
	return raw, nil
}

// inetChecksum is the Internet checksum (RFC 1071) of b.
func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
