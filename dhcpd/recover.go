package dhcpd

import (
	"fmt"
	"io"
	"os"

	"github.com/moatdns/moat/internal/panicreport"
)

// A bug in a handler must cost one packet, not the worker (issue 5): the
// packet path recovers a panic, counts it (reason "panic", malformed.go)
// and logs it with the offending bytes, so that the bug can be
// reproduced (the hex is a ready fuzz seed) rather than take DHCP away
// from every client until the master has restarted dhcpd. This mirrors
// dnsd/recover.go.

// packetFault, when set (by tests only), runs on every datagram's bytes
// before it is decoded: a way to make the handler panic on purpose.
var packetFault func(raw []byte)

// panicLog is where a recovered panic is reported; dhcpd's log is its
// stderr, which the master reads. Tests replace it.
var panicLog io.Writer = os.Stderr

// recoverPacket is deferred by the packet handler: it stops a panic,
// counts it and logs it with the packet. recover works only when called
// directly by the deferred function, hence this shape.
func (s *server) recoverPacket(pkt []byte) {
	if r := recover(); r != nil {
		s.notePanic(r, pkt)
	}
}

func (s *server) notePanic(r any, pkt []byte) {
	s.count.drops.note(dropPanic)
	fmt.Fprintln(panicLog, panicreport.Format("handling a DHCP packet", r, pkt))
}
