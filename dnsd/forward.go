package dnsd

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

var (
	// errMismatch: a reply whose ID or question is not the query's. On
	// UDP it is ignored (a forgery or a late reply) and dnsd keeps
	// waiting for the real one.
	errMismatch = errors.New("reply does not match the query")
	// errBadReply: bytes that are not a usable DNS reply.
	errBadReply = errors.New("malformed reply")
	// errShortMessage: a TCP length prefix below the DNS header size.
	errShortMessage = errors.New("message shorter than a DNS header")
)

// sourcePortAttempts bounds the random ports tried before the kernel picks.
const sourcePortAttempts = 4

var readBufPool = sync.Pool{New: func() any { b := make([]byte, dns.MaxMsgSize); return &b }}

// forwardAndFinish forwards req and packs the reply for the client.
func (s *Server) forwardAndFinish(ctx context.Context, req *request) []byte {
	m := s.forward(ctx, req)
	return s.finish(req, m)
}

// forward asks req's servers in order until one gives a usable answer,
// within the overall budget, and returns the reply for the client: a new
// message built from the parsed upstream answer (never the upstream's
// bytes), or SERVFAIL. SERVFAIL and REFUSED from one server move on to the
// next, as dnsmasq does for "broken servers"; if every server answers so,
// the last of those answers is passed on.
func (s *Server) forward(ctx context.Context, req *request) *dns.Msg {
	ctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()
	cfg := req.st.cfg
	var fallback *dns.Msg
	for _, up := range req.servers {
		if ctx.Err() != nil {
			break
		}
		try := s.udpTry
		if req.tcp {
			try = s.tcpTry
		}
		tryCtx, tryCancel := context.WithTimeout(ctx, try)
		if cfg.logQueries {
			s.log.printf("forwarded %s to %s", logName(req.q.Name), up.label)
		}
		s.stats.forwarded.Add(1)
		var reply *dns.Msg
		var err error
		if req.tcp {
			reply, err = s.exchangeTCP(tryCtx, up, req)
		} else {
			reply, err = s.exchangeUDP(tryCtx, up, req)
		}
		tryCancel()
		if err != nil {
			s.stats.upstreamErrors.Add(1)
			continue
		}
		if reply.Rcode == dns.RcodeServerFailure || reply.Rcode == dns.RcodeRefused {
			fallback = reply
			continue
		}
		m := s.clientReply(req, reply)
		req.st.cache.Put(req.q, reply)
		if cfg.logQueries {
			s.log.logAnswer("reply", req.q, m)
		}
		return m
	}
	if fallback != nil {
		m := s.clientReply(req, fallback)
		if cfg.logQueries {
			s.log.logAnswer("reply", req.q, m)
		}
		return m
	}
	s.stats.servfail.Add(1)
	m := s.newReply(req, dns.RcodeServerFailure)
	if cfg.logQueries {
		s.log.logAnswer("reply", req.q, m)
	}
	return m
}

// clientReply rebuilds an upstream answer for the client: the client's ID
// and question, the upstream's rcode, AA and TC bits and records (without
// its OPT record; finish adds dnsd's own).
func (s *Server) clientReply(req *request, up *dns.Msg) *dns.Msg {
	m := s.newReply(req, up.Rcode)
	m.Authoritative = up.Authoritative
	m.Truncated = up.Truncated
	m.Answer = up.Answer
	m.Ns = up.Ns
	m.Extra = withoutOPT(up.Extra)
	return m
}

func withoutOPT(rrs []dns.RR) []dns.RR {
	out := rrs[:0:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

// upstreamQuery builds the query dnsd sends: a fresh crypto-random ID, the
// client's question and RD/CD bits, and EDNS0 with dnsd's UDP size.
func upstreamQuery(req *request) (*dns.Msg, []byte, error) {
	q := new(dns.Msg)
	q.Id = randomID()
	q.Opcode = dns.OpcodeQuery
	q.RecursionDesired = req.msg.RecursionDesired
	q.CheckingDisabled = req.msg.CheckingDisabled
	q.Question = []dns.Question{req.q}
	q.SetEdns0(req.st.cfg.ednsMax, false)
	out, err := q.Pack()
	if err != nil {
		return nil, nil, fmt.Errorf("pack upstream query: %w", err)
	}
	return q, out, nil
}

// exchangeUDP sends the query from a fresh socket on a random port,
// connected to the server, and waits for a reply that matches; replies
// that do not match are counted and ignored until the deadline.
func (s *Server) exchangeUDP(ctx context.Context, up upstream, req *request) (*dns.Msg, error) {
	q, wire, err := upstreamQuery(req)
	if err != nil {
		return nil, err
	}
	conn, err := dialUpstreamUDP(up)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := deadlineFromContext(ctx, conn)
	defer stop()
	if _, err := conn.Write(wire); err != nil {
		return nil, fmt.Errorf("send to %s: %w", up.label, err)
	}
	bp := readBufPool.Get().(*[]byte)
	defer readBufPool.Put(bp)
	buf := *bp
	for range maxUpstreamRead {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("read from %s: %w", up.label, err)
		}
		reply, err := validateReply(buf[:n], q.Id, req.q)
		switch {
		case errors.Is(err, errMismatch):
			s.stats.upstreamMismatch.Add(1)
			continue
		case err != nil:
			s.stats.upstreamBad.Add(1)
			continue
		}
		return reply, nil
	}
	return nil, fmt.Errorf("read from %s: %d unusable datagrams", up.label, maxUpstreamRead)
}

// deadlineFromContext applies ctx's deadline to conn and interrupts its
// I/O when ctx is cancelled (server shutdown).
func deadlineFromContext(ctx context.Context, conn net.Conn) (stop func() bool) {
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}

// dialUpstreamUDP opens a UDP socket bound to a crypto-random port in
// 1024-65535 and connected to the server. A port in use is retried a few
// times, then the kernel picks one.
func dialUpstreamUDP(up upstream) (*net.UDPConn, error) {
	network := "udp4"
	if up.addr.Addr().Is6() {
		network = "udp6"
	}
	raddr := net.UDPAddrFromAddrPort(up.addr)
	var lastErr error
	for attempt := 0; attempt <= sourcePortAttempts; attempt++ {
		port := 0
		if attempt < sourcePortAttempts {
			port = randomPort()
		}
		conn, err := net.DialUDP(network, &net.UDPAddr{Port: port}, raddr)
		if err == nil {
			return conn, nil
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("open socket to %s: %w", up.label, lastErr)
}

// exchangeTCP forwards a query that arrived over TCP over a fresh TCP
// connection. Plain TCP: MPTCP is switched off explicitly.
func (s *Server) exchangeTCP(ctx context.Context, up upstream, req *request) (*dns.Msg, error) {
	q, wire, err := upstreamQuery(req)
	if err != nil {
		return nil, err
	}
	// One exchange per connection: no keepalive (which would cost four
	// setsockopt calls per connection).
	d := net.Dialer{KeepAlive: -1}
	d.SetMultipathTCP(false)
	network := "tcp4"
	if up.addr.Addr().Is6() {
		network = "tcp6"
	}
	conn, err := d.DialTCP(ctx, network, netip.AddrPort{}, up.addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", up.label, err)
	}
	defer conn.Close()
	stop := deadlineFromContext(ctx, conn)
	defer stop()
	if err := writeTCPMessage(conn, wire); err != nil {
		return nil, fmt.Errorf("send to %s: %w", up.label, err)
	}
	bp := readBufPool.Get().(*[]byte)
	defer readBufPool.Put(bp)
	msg, err := readTCPMessage(conn, *bp)
	if err != nil {
		return nil, fmt.Errorf("read from %s: %w", up.label, err)
	}
	reply, err := validateReply(msg, q.Id, req.q)
	if err != nil {
		if errors.Is(err, errMismatch) {
			s.stats.upstreamMismatch.Add(1)
		} else {
			s.stats.upstreamBad.Add(1)
		}
		return nil, fmt.Errorf("reply from %s: %w", up.label, err)
	}
	return reply, nil
}

// validateReply parses an upstream datagram and accepts it only as the
// answer to the query with this ID and question: QR set, opcode QUERY, one
// question equal to ours (name case-insensitively, type, class). A
// truncated reply whose records do not parse is accepted with its header
// and question only: the client learns TC and retries over TCP.
func validateReply(b []byte, id uint16, q dns.Question) (*dns.Msg, error) {
	if len(b) < 12 {
		return nil, fmt.Errorf("%d bytes: %w", len(b), errBadReply)
	}
	if binary.BigEndian.Uint16(b) != id {
		return nil, fmt.Errorf("id %#04x, want %#04x: %w", binary.BigEndian.Uint16(b), id, errMismatch)
	}
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		if !m.Truncated || len(m.Question) != 1 {
			return nil, fmt.Errorf("%w: %v", errBadReply, err)
		}
		m.Answer, m.Ns, m.Extra = nil, nil, nil
	}
	if !m.Response || m.Opcode != dns.OpcodeQuery {
		return nil, fmt.Errorf("not a query response: %w", errBadReply)
	}
	if len(m.Question) != 1 {
		return nil, fmt.Errorf("%d questions: %w", len(m.Question), errMismatch)
	}
	got := m.Question[0]
	if got.Qtype != q.Qtype || got.Qclass != q.Qclass || !strings.EqualFold(got.Name, q.Name) {
		return nil, fmt.Errorf("question %s, want %s: %w", got.String(), q.String(), errMismatch)
	}
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if err := checkEmptyRdata(rr); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// checkEmptyRdata rejects a record that arrived with no rdata when its type
// cannot be empty. miekg/dns unpacks such a record (an SOA with zero-length
// rdata) into zero fields that it then packs into bytes no parser accepts;
// dnsd rebuilds every reply from parsed records, so it would pass on a
// malformed message. Records with rdata are consistent by construction.
func checkEmptyRdata(rr dns.RR) error {
	if rr.Header().Rdlength != 0 {
		return nil
	}
	buf := make([]byte, dns.Len(rr)+16)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err == nil {
		_, _, err = dns.UnpackRR(buf[:n], 0)
	}
	if err != nil {
		return fmt.Errorf("%s record without data: %w", dns.TypeToString[rr.Header().Rrtype], errBadReply)
	}
	return nil
}

func writeTCPMessage(w io.Writer, msg []byte) error {
	if len(msg) > dns.MaxMsgSize {
		return fmt.Errorf("message of %d bytes", len(msg))
	}
	buf := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(buf, uint16(len(msg)))
	copy(buf[2:], msg)
	_, err := w.Write(buf)
	return err
}

// readTCPMessage reads one length-prefixed message into buf (at least
// 65535 bytes) and returns it.
func readTCPMessage(r io.Reader, buf []byte) ([]byte, error) {
	var lenBuf [2]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(lenBuf[:]))
	if n < 12 {
		return nil, fmt.Errorf("message of %d bytes: %w", n, errShortMessage)
	}
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		return nil, err
	}
	return buf[:n], nil
}

func randomID() uint16 {
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux (getrandom)
	return binary.BigEndian.Uint16(b[:])
}

// randomPort returns a crypto-random port in 1024-65535.
func randomPort() int {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return 1024 + int(binary.BigEndian.Uint32(b[:])%(65536-1024))
}
