// Package sockfilter owns moat's socket filters: it builds, loads and
// describes the programs that drop junk in the kernel before dnsd wakes
// up (DESIGN.md section 5, SECURITY.md "Socket filters").
//
// Two filters, each in an eBPF form (loaded by the privileged master with
// github.com/cilium/ebpf, attached by dnsd with SO_ATTACH_BPF) and a
// classic BPF form (SO_ATTACH_FILTER, which needs no privilege):
//
//   - Upstream, on every upstream query socket: drops datagrams shorter
//     than a UDP and a DNS header, datagrams with QR clear (queries sent
//     to a query port), and, eBPF only, replies whose transaction ID is not
//     the one dnsd recorded for the socket's local port in the expect map
//     (or, for a port marked ManyIDs, a shared fixed-port socket, not one
//     of the IDs outstanding in the expect-set map). Classic BPF has no
//     maps, so it cannot check the ID.
//   - Listener, on the :53 UDP sockets: drops datagrams shorter than the
//     headers and datagrams with QR set (replies sent to a server port are
//     reflection junk).
//
// A socket filter of a UDP socket sees the packet from the UDP header on
// (the kernel runs it in udp_queue_rcv_skb, after the IP header is
// pulled): the DNS header starts at offset 8, QR is bit 0x80 of byte 10,
// and the destination (local) port is at offset 2. Tests check this on
// real sockets.
package sockfilter

import (
	"fmt"
	"strings"
)

// Mode selects the filters: the socket-filter= option.
type Mode int

const (
	// ModeAuto uses eBPF where it loads, else classic BPF.
	ModeAuto Mode = iota
	// ModeEBPF requires eBPF: failing to load it is an error.
	ModeEBPF
	// ModeClassic uses classic BPF only.
	ModeClassic
	// ModeOff attaches no filter.
	ModeOff
)

var modeNames = [...]string{ModeAuto: "auto", ModeEBPF: "ebpf", ModeClassic: "classic", ModeOff: "off"}

func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads a socket-filter= value (case-insensitive).
func ParseMode(s string) (Mode, error) {
	for m, name := range modeNames {
		if strings.EqualFold(s, name) {
			return Mode(m), nil
		}
	}
	return ModeAuto, fmt.Errorf("socket filter mode %q: want auto, ebpf, classic or off", s)
}

// Active is the kind of filter actually in use.
type Active int

const (
	// ActiveNone: no filter (mode off, or nothing could be attached).
	ActiveNone Active = iota
	// ActiveClassic: classic BPF (length and QR checks only).
	ActiveClassic
	// ActiveEBPF: eBPF with the ID check and counters.
	ActiveEBPF
)

func (a Active) String() string {
	switch a {
	case ActiveClassic:
		return "classic"
	case ActiveEBPF:
		return "ebpf"
	}
	return "none"
}

// Reason indexes the counters map: why a packet was dropped (or that
// it passed).
type Reason uint32

const (
	// UpstreamPassed counts datagrams the upstream filter let through.
	UpstreamPassed Reason = iota
	// UpstreamShort: shorter than a UDP and a DNS header.
	UpstreamShort
	// UpstreamNotReply: QR clear, a query sent to a query port.
	UpstreamNotReply
	// UpstreamWrongID: a reply whose ID is not the expected one.
	UpstreamWrongID
	// ListenerPassed counts datagrams the listener filter let through.
	ListenerPassed
	// ListenerShort: shorter than a UDP and a DNS header.
	ListenerShort
	// ListenerReply: QR set, a reply sent to a server port.
	ListenerReply

	numReasons
)

var reasonNames = [numReasons]string{
	UpstreamPassed:   "upstream_passed",
	UpstreamShort:    "upstream_short",
	UpstreamNotReply: "upstream_not_reply",
	UpstreamWrongID:  "upstream_wrong_id",
	ListenerPassed:   "listener_passed",
	ListenerShort:    "listener_short",
	ListenerReply:    "listener_reply",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint32(r))
}

// Reasons lists every counter, in map order.
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// Stats are the counters summed over CPUs, indexed by Reason.
type Stats [numReasons]uint64

// Dropped is the sum of the drop counters.
func (s *Stats) Dropped() uint64 {
	var n uint64
	for r, v := range s {
		if Reason(r) != UpstreamPassed && Reason(r) != ListenerPassed {
			n += v
		}
	}
	return n
}

// String is "name=value" for every counter.
func (s *Stats) String() string {
	var b strings.Builder
	for r, v := range s {
		if r > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", Reason(r), v)
	}
	return b.String()
}

// headerLen is the shortest datagram either filter passes: a UDP header
// and a DNS header.
const headerLen = 8 + 12

// Offsets from the start of the UDP header, where a socket filter's
// packet begins.
const (
	offDstPort = 2          // UDP destination port: the socket's local port
	offID      = 8          // DNS transaction ID
	offFlags   = 8 + 2      // DNS flags, first byte: QR is its top bit
	qrBit      = 0x80       // QR in that byte
	acceptAll  = 0xffffffff // "keep the whole packet"
)

// ExpectKey is the expect map's key for a socket's local port: the port,
// with bit 16 set for IPv6 (an IPv4 and an IPv6 socket may share a port
// number).
func ExpectKey(port uint16, ipv6 bool) uint32 {
	k := uint32(port)
	if ipv6 {
		k |= 1 << 16
	}
	return k
}
