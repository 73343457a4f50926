package dnsd

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// serveTCP accepts connections until the listener is closed, at most
// tcpMaxConns at a time and a quarter of them from one address; when the
// listener is full, a new connection takes the slot of the one that has
// waited longest for a query (tcp_conns.go).
func (s *Server) serveTCP(l *net.TCPListener, wildcard bool) {
	table := newTCPTable(s.tcpMaxConns)
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
		tc := &tcpConn{c: c, client: addrPortOf(c.RemoteAddr()).Addr()}
		ok, evicted := table.admit(tc)
		if evicted {
			s.stats.tcpEvicted.Add(1)
		}
		if !ok {
			s.stats.tcpRejected.Add(1)
			c.Close()
			continue
		}
		if !s.track(c) {
			table.remove(tc)
			c.Close()
			return
		}
		s.filt.tcp.open()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.filt.tcp.close()
			defer table.remove(tc)
			defer s.untrack(c)
			defer c.Close()
			s.serveTCPConn(tc, wildcard)
		}()
	}
}

// serveTCPConn answers length-prefixed queries one after another until the
// client closes, goes idle, or sends something malformed.
func (s *Server) serveTCPConn(tc *tcpConn, wildcard bool) {
	c := tc.c
	remote := addrPortOf(c.RemoteAddr())
	local := addrPortOf(c.LocalAddr())
	if wildcard {
		if !s.st.Load().cfg.allowedTCP(local.Addr()) {
			s.stats.tcpRejected.Add(1)
			return
		}
	}
	// local-service refuses a connection before reading from it, as
	// dnsmasq does: closing with the query unread resets it, so the
	// client learns at once that no answer comes.
	if st := s.st.Load(); st != nil && !s.clientAllowed(st, remote) {
		_ = c.SetLinger(0)
		return
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
		tc.setBusy(true)
		resp := s.handleTCPMessage(msg, remote, local)
		// A reply stuck in a client that does not read is not work:
		// the connection may be evicted while the write waits.
		tc.setBusy(false)
		if resp == nil {
			return // malformed: a stream cannot resynchronise reliably
		}
		if err := c.SetWriteDeadline(time.Now().Add(s.tcpIdle)); err != nil {
			return
		}
		s.stats.rcodes.count(resp) // stats_rcode.go
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

// tcpGauge counts the TCP connections being served, and the most at once
// since the last SIGUSR1, for dnsmasq's line "child processes for TCP
// requests: in use N, highest since last SIGUSR1 N, max allowed N"
// (dnsmasq forks a child per connection; moat runs a goroutine).
type tcpGauge struct {
	mu             sync.Mutex
	inUse, highest int
}

func (g *tcpGauge) open() {
	g.mu.Lock()
	g.inUse++
	g.highest = max(g.highest, g.inUse)
	g.mu.Unlock()
}

func (g *tcpGauge) close() {
	g.mu.Lock()
	g.inUse--
	g.mu.Unlock()
}

// report returns the counts and starts a new "highest" period, as
// dnsmasq does on SIGUSR1.
func (g *tcpGauge) report() (inUse, highest uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	inUse, highest = uint32(g.inUse), uint32(g.highest)
	g.highest = g.inUse
	return inUse, highest
}

// handleTCPMessage answers one message of a TCP connection; nil means
// the connection is closed (malformed, or a recovered panic).
func (s *Server) handleTCPMessage(msg []byte, remote, local netip.AddrPort) (resp []byte) {
	defer s.recoverPacket("a TCP query", msg)
	st := s.st.Load()
	resp, fwd := s.handleLocalAt(st, msg, remote, local.Addr(), true)
	if fwd != nil {
		resp = s.forwardAndFinish(s.ctx, fwd)
	}
	return resp
}
