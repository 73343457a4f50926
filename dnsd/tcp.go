package dnsd

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// serveTCP accepts connections until the listener is closed, at most
// tcpMaxConns at a time; connections over the cap are closed at once.
func (s *Server) serveTCP(l *net.TCPListener, wildcard bool) {
	slots := make(chan struct{}, s.tcpMaxConns)
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off instead of spinning.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			s.stats.tcpRejected.Add(1)
			c.Close()
			continue
		}
		if !s.track(c) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-slots }()
			defer s.untrack(c)
			defer c.Close()
			s.serveTCPConn(c, wildcard)
		}()
	}
}

// serveTCPConn answers length-prefixed queries one after another until the
// client closes, goes idle, or sends something malformed.
func (s *Server) serveTCPConn(c *net.TCPConn, wildcard bool) {
	remote := addrPortOf(c.RemoteAddr())
	local := addrPortOf(c.LocalAddr())
	if wildcard {
		if !s.st.Load().cfg.allowedTCP(local.Addr()) {
			s.stats.tcpRejected.Add(1)
			return
		}
	}
	bp := readBufPool.Get().(*[]byte)
	defer readBufPool.Put(bp)
	for range maxTCPQueries {
		if err := c.SetReadDeadline(time.Now().Add(s.tcpIdle)); err != nil {
			return
		}
		msg, err := readTCPMessage(c, *bp)
		if err != nil {
			if errors.Is(err, errShortMessage) {
				s.stats.queries.Add(1)
				s.stats.malformed.Add(1)
			}
			return
		}
		st := s.st.Load()
		resp, fwd := s.handleLocalAt(st, msg, remote, local.Addr(), true)
		if fwd != nil {
			resp = s.forwardAndFinish(s.ctx, fwd)
		}
		if resp == nil {
			return // malformed: a stream cannot resynchronise reliably
		}
		if err := c.SetWriteDeadline(time.Now().Add(s.tcpIdle)); err != nil {
			return
		}
		if err := writeTCPMessage(c, resp); err != nil {
			s.stats.writeErrors.Add(1)
			return
		}
	}
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	return netip.AddrPort{}
}
