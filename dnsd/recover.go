package dnsd

import "github.com/moatdns/moat/internal/panicreport"

// A bug in a handler must cost one packet, not the worker: the packet
// paths recover a panic, count it, and log it with the offending bytes,
// so that the bug can be reproduced (a fuzz seed) rather than crash
// dnsd for every client. The master restarts a worker that dies anyway.

// queryFault, when set (by tests only), runs on every query's bytes
// before the pipeline: a way to make a handler panic on purpose.
var queryFault func(raw []byte)

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
	s.log.printf("dnsd: %s", panicreport.Format("in "+where, r, pkt))
}
