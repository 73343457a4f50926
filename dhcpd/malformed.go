package dhcpd

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Malformed requests (issue 5): a datagram dhcpd will not serve is
// dropped and counted by reason, so that an operator can tell a broken
// client (or a fuzzer on the LAN) from silence. The checks before
// decoding are dnsmasq's (rfc2131.c dhcp_reply): a chaddr length over 16
// and a hardware type of 0 with an address are dropped; dhcpd counts
// them instead of dropping them silently.

// dropReason says why a datagram was dropped unserved.
type dropReason uint8

const (
	// dropShort: shorter than the BOOTP header and the magic cookie.
	dropShort dropReason = iota
	// dropNotRequest: op is not BOOTREQUEST (a reply, or junk).
	dropNotRequest
	// dropHWLen: hlen over 16, the size of chaddr.
	dropHWLen
	// dropHWType: hardware type 0 with a hardware address.
	dropHWType
	// dropCookie: no DHCP magic cookie.
	dropCookie
	// dropOptionOverrun: an option's length runs past the end.
	dropOptionOverrun
	// dropNoEnd: the options have no END option.
	dropNoEnd
	// dropMessageType: option 53 names no message a client sends.
	dropMessageType
	// dropPanic: the handler panicked (recover.go).
	dropPanic
	// dropOversize: longer than maxDatagram, truncated at read (rx.go).
	dropOversize
	// dropNotIPv4: the source address is not IPv4 (rx.go).
	dropNotIPv4
	// dropPingPanic: parsing an ICMP reply panicked (ping.go); the
	// reply is dropped, the ping goroutine goes on.
	dropPingPanic

	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	dropShort:         "short",
	dropNotRequest:    "not_request",
	dropHWLen:         "bad_hlen",
	dropHWType:        "bad_htype",
	dropCookie:        "bad_cookie",
	dropOptionOverrun: "option_overrun",
	dropNoEnd:         "no_end",
	dropMessageType:   "bad_message_type",
	dropPanic:         "panic",
	dropOversize:      "oversize",
	dropNotIPv4:       "not_ipv4",
	dropPingPanic:     "ping_panic",
}

func (r dropReason) String() string {
	if r < numDropReasons {
		return dropReasonNames[r]
	}
	return fmt.Sprintf("dropReason(%d)", uint8(r))
}

// dropCounts are the drops by reason; logged is what the log has
// reported (serving goroutine only).
type dropCounts struct {
	n      [numDropReasons]atomic.Uint64
	logged [numDropReasons]uint64
}

func (d *dropCounts) note(r dropReason) { d.n[r].Add(1) }

// byReason returns every counter by its reason's name (for the
// statistics; zero counters included, so that the set of names is fixed).
func (d *dropCounts) byReason() map[string]uint64 {
	out := make(map[string]uint64, numDropReasons)
	for r := range numDropReasons {
		out[r.String()] = d.n[r].Load()
	}
	return out
}

// dropsByReason is dhcpd's drop counters for the statistics and the
// master's metrics (DHCPMetrics.dropped): the malformed datagrams by
// reason, datagrams skipped at read ("oversize", "not_ipv4", rx.go), and
// recovered panics ("panic"; "ping_panic" for ICMP replies).
func (s *server) dropsByReason() map[string]uint64 { return s.count.drops.byReason() }

// sinceLogged returns "reason=n ..." for the drops since the last call,
// and their total; it marks them logged.
func (d *dropCounts) sinceLogged() (string, uint64) {
	var b strings.Builder
	var total uint64
	for r := range numDropReasons {
		now := d.n[r].Load()
		if delta := now - d.logged[r]; delta > 0 {
			if total > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%d", r, delta)
			total += delta
		}
		d.logged[r] = now
	}
	return b.String(), total
}

// logDrops says, at most once a tick, what was dropped as malformed
// since the last time, by reason.
func (s *server) logDrops() {
	if what, n := s.count.drops.sinceLogged(); n > 0 {
		fmt.Fprintf(os.Stderr, "dropped %d malformed DHCP packets in the last %v: %s\n", n, tickEvery, what)
	}
}

// The BOOTP header is 236 bytes, the magic cookie 4 more; chaddr holds
// 16 bytes.
const (
	bootpOptions = 240
	maxChaddr    = 16
)

// checkHeader is what dhcpd checks before decoding b; ok false says why
// b is dropped.
func checkHeader(b []byte) (dropReason, bool) {
	switch {
	case len(b) < bootpOptions:
		return dropShort, false
	case dhcpv4.OpcodeType(b[0]) != dhcpv4.OpcodeBootRequest:
		return dropNotRequest, false
	case b[2] > maxChaddr:
		return dropHWLen, false
	case b[1] == 0 && b[2] != 0:
		return dropHWType, false
	}
	return 0, true
}

// decodeError says why the decoder refused b, which passed checkHeader:
// a bad cookie, an option running past the end, or no END.
func decodeError(b []byte) dropReason {
	if len(b) < bootpOptions || b[236] != 99 || b[237] != 130 || b[238] != 83 || b[239] != 99 {
		return dropCookie
	}
	for i := bootpOptions; i < len(b); {
		switch b[i] {
		case 0: // pad
			i++
			continue
		case 255: // end: the decoder accepts what ends here
			return dropNoEnd
		}
		if i+1 >= len(b) || i+2+int(b[i+1]) > len(b) {
			return dropOptionOverrun
		}
		i += 2 + int(b[i+1])
	}
	return dropNoEnd
}

// clientMessage reports whether t is a DHCP message type a client sends
// to a server.
func clientMessage(t dhcpv4.MessageType) bool {
	switch t {
	case dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeDecline,
		dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeInform:
		return true
	}
	return false
}

// decodeRequest decodes a datagram for the engine, or counts why it is
// dropped. A message-type option of length 0 is left to the engine,
// which, like dnsmasq, takes the packet for BOOTP.
func (s *server) decodeRequest(b []byte) (*dhcpv4.DHCPv4, bool) {
	if packetFault != nil {
		packetFault(b)
	}
	drop := func(r dropReason) (*dhcpv4.DHCPv4, bool) {
		s.count.malformed.Add(1)
		s.count.drops.note(r)
		return nil, false
	}
	if r, ok := checkHeader(b); !ok {
		return drop(r)
	}
	pkt, err := s.decoder.Decode(b)
	if err != nil {
		return drop(decodeError(b))
	}
	if mt := pkt.Options[dhcpv4.OptionDHCPMessageType.Code()]; len(mt) > 0 && !clientMessage(dhcpv4.MessageType(mt[0])) {
		return drop(dropMessageType)
	}
	return pkt, true
}
