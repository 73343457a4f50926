package dnsd

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// maxQuerySize is the read buffer for client datagrams. A query larger than
// this is truncated by the kernel (MSG_TRUNC) and dropped.
const maxQuerySize = 4096

// serveUDP reads queries from one socket until it is closed. Answers that
// need no network are sent from this goroutine; forwarded queries each get
// a goroutine, bounded by forwardSlots.
func (s *Server) serveUDP(conn *net.UDPConn, pktinfo bool) {
	buf := make([]byte, maxQuerySize)
	oob := make([]byte, oobSize)
	replyOOB := make([]byte, oobSize)
	for {
		n, oobn, flags, from, err := conn.ReadMsgUDPAddrPort(buf, oob)
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
		resp, fwd := s.handleLocal(st, buf[:n], from, false)
		if resp != nil {
			s.writeUDP(conn, resp, from, pktinfo, dst, ifindex, replyOOB)
			continue
		}
		if fwd == nil {
			continue
		}
		select {
		case s.forwardSlots <- struct{}{}:
		default:
			s.stats.forwardDropped.Add(1)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.forwardSlots }()
			out := s.forwardAndFinish(s.ctx, fwd)
			if out != nil && s.ctx.Err() == nil {
				s.writeUDP(conn, out, from, pktinfo, dst, ifindex, make([]byte, oobSize))
			}
		}()
	}
}

// writeUDP sends a reply; on a wildcard socket it leaves from the address
// the query was sent to.
func (s *Server) writeUDP(conn *net.UDPConn, resp []byte, to netip.AddrPort, pktinfo bool, src netip.Addr, ifindex uint32, oobBuf []byte) {
	var oob []byte
	if pktinfo {
		oob = marshalPktinfo(oobBuf, src, ifindex)
	}
	if _, _, err := conn.WriteMsgUDPAddrPort(resp, oob, to); err != nil {
		s.stats.writeErrors.Add(1)
	}
}
