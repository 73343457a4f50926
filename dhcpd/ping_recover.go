package dhcpd

import (
	"fmt"

	"github.com/moatdns/moat/internal/dhcpserver"
	"github.com/moatdns/moat/internal/panicreport"
)

// The ping goroutine parses ICMP echo replies that come from the network
// (issue 5): a bug in that parser must cost one reply, not the ping
// check, and not the worker. Each reply is parsed under recover, as the
// DHCP packet path is (recover.go): a panic is counted (reason
// "ping_panic", malformed.go) and logged with the reply's bytes, which
// are a ready fuzz seed; the reply is dropped, so the probe it answered
// times out and its address is offered, as dnsmasq does when no reply
// comes.

// pingFault, when set (by tests only), runs on every ICMP reply's bytes
// before they are parsed: a way to make the parser panic on purpose.
var pingFault func(raw []byte)

// parseReply parses one datagram from the ICMP socket: ok only for an
// echo reply carrying the pinger's identifier. A panic while parsing
// returns ok false.
func (p *pinger) parseReply(pkt []byte) (r dhcpserver.EchoReply, ok bool) {
	defer p.recoverReply(pkt, &ok)
	if pingFault != nil {
		pingFault(pkt)
	}
	r, ok = dhcpserver.ParseEchoReply(pkt)
	return r, ok && r.ID == p.id
}

// recoverReply is deferred by parseReply: it stops a panic, counts it,
// logs it with the reply and marks the reply unusable. recover works only
// when called directly by the deferred function, hence this shape.
func (p *pinger) recoverReply(pkt []byte, ok *bool) {
	if r := recover(); r != nil {
		*ok = false
		p.notePanic(r, pkt)
	}
}

func (p *pinger) notePanic(r any, pkt []byte) {
	p.panics.Add(1)
	if p.drops != nil {
		p.drops.note(dropPingPanic)
	}
	fmt.Fprintln(panicLog, panicreport.Format("parsing an ICMP reply", r, pkt))
}
