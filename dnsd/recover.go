package dnsd

import (
	"encoding/hex"
	"runtime/debug"
)

// A bug in a handler must cost one packet, not the worker: the packet
// paths recover a panic, count it, and log it with the offending bytes,
// so that the bug can be reproduced (a fuzz seed) rather than crash
// dnsd for every client. The master restarts a worker that dies anyway.

// queryFault, when set (by tests only), runs on every query's bytes
// before the pipeline: a way to make a handler panic on purpose.
var queryFault func(raw []byte)

// maxPanicHex bounds the packet bytes a panic line shows.
const maxPanicHex = 1024

// maxPanicStack bounds the stack trace a panic line shows.
const maxPanicStack = 2048

// recoverPacket is deferred by a packet handler: it stops a panic,
// counts it and logs where it happened and the packet. recover works
// only when called directly by the deferred function, hence this shape.
func (s *Server) recoverPacket(where string, pkt []byte) {
	if r := recover(); r != nil {
		s.notePanic(where, r, pkt)
	}
}

func (s *Server) notePanic(where string, r any, pkt []byte) {
	s.stats.panics.Add(1)
	if s.log == nil {
		return
	}
	shown := pkt
	if len(shown) > maxPanicHex {
		shown = shown[:maxPanicHex]
	}
	stack := debug.Stack()
	if len(stack) > maxPanicStack {
		stack = stack[:maxPanicStack]
	}
	s.log.printf("dnsd: recovered from a panic in %s: %v; packet (%d bytes): %s\n%s",
		where, r, len(pkt), hex.EncodeToString(shown), stack)
}
