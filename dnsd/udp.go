package dnsd

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxQuerySize is the read buffer for client datagrams. A query larger than
// this is truncated by the kernel (MSG_TRUNC) and dropped.
const maxQuerySize = 4096

// serveUDP reads queries from one socket until it is closed, in batches
// (recvmmsg) with the replies of a batch sent together (sendmmsg). Cached
// answers are written by the fast path without leaving this goroutine
// (fastpath.go); everything else goes through the pipeline; forwarded
// queries are answered by their flight (upstream_flight.go).
func (s *Server) serveUDP(conn *net.UDPConn, pktinfo bool) {
	l, err := newUDPLoop(s, conn, pktinfo)
	if err != nil {
		// Not a socket the kernel can batch on: read one datagram at a
		// time (kept for completeness; every inherited socket can).
		s.serveUDPSingle(conn, pktinfo)
		return
	}
	stop := make(chan struct{})
	defer close(stop)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		l.sender.run(stop)
	}()
	for {
		n, err := l.receive()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Errors on an unconnected socket are transient (ICMP
			// reports, ENOMEM); pause briefly so a persistent one
			// cannot spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		l.process(n)
		l.sender.sendDeferred()
		l.flush()
	}
}

// handleDatagram runs one datagram through the pipeline. It returns the
// reply to send now, or nil; a query to forward is started here and
// answers on its own, through sender when there is one.
func (s *Server) handleDatagram(conn *net.UDPConn, sender *replySender, st *state, pkt []byte, from netip.AddrPort, pktinfo bool, dst netip.Addr, ifindex uint32) []byte {
	defer s.recoverPacket("a UDP query", pkt)
	at := dst
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok && !pktinfo && st.cfg.local.localise { // area A: the bound address (localise-queries)
		at = ua.AddrPort().Addr()
	}
	resp, fwd := s.handleLocalAt(st, pkt, from, at, false)
	if resp != nil || fwd == nil {
		return resp
	}
	// The flight (upstream_flight.go) answers from another goroutine:
	// the miss reader in batches of its own on the sender's socket
	// (upstream_fast.go), others through the sender (deliverTo).
	if sender != nil {
		s.forwardWaiter(waiter{req: fwd, sender: sender, to: outReply{to: from, src: dst, ifindex: ifindex}})
		return nil
	}
	s.forwardAsync(fwd, func(out []byte) {
		if out == nil || s.ctx.Err() != nil {
			return
		}
		s.writeUDP(conn, out, from, pktinfo, dst, ifindex, make([]byte, oobSize))
	})
	return nil
}

// serveUDPSingle is the one-datagram-per-call loop.
func (s *Server) serveUDPSingle(conn *net.UDPConn, pktinfo bool) {
	buf := make([]byte, maxQuerySize)
	oob := make([]byte, oobSize)
	replyOOB := make([]byte, oobSize)
	for {
		n, oobn, flags, from, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if flags&unix.MSG_TRUNC != 0 {
			s.stats.queries.Add(1)
			s.stats.malformed.Add(1)
			continue
		}
		st := s.st.Load()
		var dst netip.Addr
		var ifindex uint32
		if pktinfo {
			var ok bool
			dst, ifindex, ok = parsePktinfo(oob[:oobn])
			if !ok || !st.cfg.allowedUDP(dst, ifindex) {
				s.stats.queries.Add(1)
				s.stats.disallowed.Add(1)
				continue
			}
		}
		if resp := s.handleDatagram(conn, nil, st, buf[:n], from, pktinfo, dst, ifindex); resp != nil {
			s.writeUDP(conn, resp, from, pktinfo, dst, ifindex, replyOOB)
		}
	}
}

// writeUDP sends a reply; on a wildcard socket it leaves from the address
// the query was sent to.
func (s *Server) writeUDP(conn *net.UDPConn, resp []byte, to netip.AddrPort, pktinfo bool, src netip.Addr, ifindex uint32, oobBuf []byte) {
	var oob []byte
	if pktinfo {
		oob = marshalPktinfo(oobBuf, src, ifindex)
	}
	s.stats.rcodes.count(resp) // stats_rcode.go
	if _, _, err := conn.WriteMsgUDPAddrPort(resp, oob, to); err != nil {
		s.stats.writeErrors.Add(1)
	}
}

// errnoErr keeps syscall errors comparable without allocating for the
// common ones.
func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
