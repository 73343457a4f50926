package dnsd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unsafe"

	"github.com/miekg/dns"
)

// One try of a forwarded query: build the upstream query, send it to one
// server over a fresh socket, accept only the reply that matches. The
// policy that decides which servers to try is in upstream_flight.go and
// upstream_select.go.

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

var readBufPool = sync.Pool{New: func() any { b := make([]byte, dns.MaxMsgSize); return &b }}

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

// upstreamQuery packs the query dnsd sends, with ID 0 (each try sets its
// own crypto-random ID): the client's question, its RD, AD and CD bits
// and DO bit (as dnsmasq 2.90 passes them, RFC 6840 5.7, RFC 3225), and
// EDNS0 with dnsd's UDP size.
func upstreamQuery(req *request) ([]byte, error) {
	q := new(dns.Msg)
	q.Opcode = dns.OpcodeQuery
	q.RecursionDesired = req.msg.RecursionDesired
	q.AuthenticatedData = req.msg.AuthenticatedData
	q.CheckingDisabled = req.msg.CheckingDisabled
	q.Question = []dns.Question{req.q}
	q.SetEdns0(req.st.cfg.ednsMax, clientDO(req.msg))
	addClientOptions(q, req) // add-mac, add-subnet (filter_edns.go)
	out, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("pack upstream query: %w", err)
	}
	return out, nil
}

// withID returns a copy of the packed query with its ID set.
func withID(wire []byte, id uint16) []byte {
	out := make([]byte, len(wire))
	copy(out, wire)
	binary.BigEndian.PutUint16(out, id)
	return out
}

// sourcePort says which local port a UDP query to up leaves from: up's
// own (@source#port), else query-port for a server without a source,
// else -1 (a random port per query).
func sourcePort(up *upstream, pol *upstreamPolicy) int {
	switch {
	case up.bind.port != 0:
		return int(up.bind.port)
	case up.bind.isZero() && pol.queryPort >= 0:
		return pol.queryPort
	}
	return -1
}

// exchangeUDP sends the query from a fresh socket on a random port,
// connected to the server, and waits for a reply that matches; replies
// that do not match are counted and ignored until the deadline. A fixed
// source port (query-port, @source#port) uses the shared socket of that
// port instead.
func (s *Server) exchangeUDP(ctx context.Context, up *upstream, req *request, wire []byte) (*dns.Msg, error) {
	pol := &req.st.cfg.upstream.policy
	if port := sourcePort(up, pol); port >= 0 {
		// The shared socket's reader matches server and ID; acceptReply
		// learns the server from the request (0x20's fallback is per
		// server).
		one := *req
		one.servers = unsafe.Slice(up, 1)
		return s.exchangeShared(ctx, up, &one, wire, port)
	}
	f, id, err := sendUDP(up, pol, wire)
	if err != nil {
		return nil, err
	}
	return s.awaitUDP(ctx, f, id, up, req)
}

// sendUDP sends the query from a fresh socket on a random port,
// connected to up, and returns the socket and the query's ID. The
// datagram goes out even when the flight has already ended (another
// server answered first under all-servers): a query once chosen for a
// server is sent, as dnsmasq sends it.
func sendUDP(up *upstream, pol *upstreamPolicy, wire []byte) (*os.File, uint16, error) {
	id := randomID()
	pkt := withID(wire, id)
	f, err := dialUDP(up, pol, -1, pkt)
	if err != nil {
		return nil, 0, err
	}
	if _, err := f.Write(pkt); err != nil {
		f.Close()
		return nil, 0, &sendError{fmt.Errorf("send to %s: %w", up.label, err)}
	}
	return f, id, nil
}

// awaitUDP waits on f, the socket sendUDP sent the query with this ID
// from, for a reply that matches, until ctx ends; it closes f.
func (s *Server) awaitUDP(ctx context.Context, f *os.File, id uint16, up *upstream, req *request) (*dns.Msg, error) {
	defer f.Close()
	stop := fileDeadline(ctx, f)
	defer stop()
	bp := readBufPool.Get().(*[]byte)
	defer readBufPool.Put(bp)
	buf := *bp
	for range maxUpstreamRead {
		n, err := f.Read(buf)
		if errors.Is(err, io.EOF) { // an empty datagram
			s.stats.upstreamBad.Add(1)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read from %s: %w", up.label, err)
		}
		if reply, ok := s.acceptReplyFrom(up, req, buf[:n], id); ok {
			return reply, nil
		}
	}
	return nil, fmt.Errorf("read from %s: %d unusable datagrams", up.label, maxUpstreamRead)
}

// acceptReply is acceptReplyFrom for the server req.servers[0]: the
// shared socket's reader (upstream_shared.go) gets a request naming the
// server it asked (exchangeUDP).
func (s *Server) acceptReply(req *request, b []byte, id uint16) (*dns.Msg, bool) {
	return s.acceptReplyFrom(&req.servers[0], req, b, id)
}

// acceptReplyFrom validates a datagram from up as the reply to the query
// with this ID and req's question, spelled as sent (0x20,
// forward_case.go), counting what it rejects.
func (s *Server) acceptReplyFrom(up *upstream, req *request, b []byte, id uint16) (_ *dns.Msg, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.notePanic("an upstream reply", r, b)
			ok = false
		}
	}()
	reply, err := validateReply(b, id, req.q)
	switch {
	case errors.Is(err, errMismatch):
		s.stats.upstreamMismatch.Add(1)
		return nil, false
	case err != nil:
		s.stats.upstreamBad.Add(1)
		return nil, false
	case !s.checkCase(up, req, id, reply): // another spelling: a forgery, or a server that does not keep case
		return nil, false
	case s.ignoreReply(req, reply): // ignore-address: wait for another
		return nil, false
	}
	return reply, true
}

// exchangeTCP forwards a query that arrived over TCP over a fresh TCP
// connection from the server's source address.
func (s *Server) exchangeTCP(ctx context.Context, up *upstream, req *request, wire []byte) (*dns.Msg, error) {
	id := randomID()
	f, err := dialTCP(up, &req.st.cfg.upstream.policy)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	stop := fileDeadline(ctx, f)
	defer stop()
	if err := writeTCPMessage(f, withID(wire, id)); err != nil {
		return nil, fmt.Errorf("send to %s: %w", up.label, err)
	}
	bp := readBufPool.Get().(*[]byte)
	defer readBufPool.Put(bp)
	msg, err := readTCPMessage(f, *bp)
	if err != nil {
		return nil, fmt.Errorf("read from %s: %w", up.label, err)
	}
	reply, err := validateReply(msg, id, req.q)
	if err != nil {
		if errors.Is(err, errMismatch) {
			s.stats.upstreamMismatch.Add(1)
		} else {
			s.stats.upstreamBad.Add(1)
		}
		return nil, fmt.Errorf("reply from %s: %w", up.label, err)
	}
	if s.ignoreReply(req, reply) { // ignore-address: no other reply comes on TCP
		return nil, fmt.Errorf("reply from %s: ignored (ignore-address)", up.label)
	}
	return reply, nil
}

// validateReply parses an upstream datagram and accepts it only as the
// answer to the query with this ID and question: QR set, opcode QUERY, one
// question equal to ours (name case-insensitively, type, class; a UDP
// reply's case is checkCase's). A
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
	// miekg/dns takes the header's counts as upper bounds; a whole reply
	// whose counts promise more records than it holds is malformed (a
	// truncated one may be cut anywhere).
	if !m.Truncated && (int(binary.BigEndian.Uint16(b[4:])) != len(m.Question) ||
		int(binary.BigEndian.Uint16(b[6:])) != len(m.Answer) ||
		int(binary.BigEndian.Uint16(b[8:])) != len(m.Ns) ||
		int(binary.BigEndian.Uint16(b[10:])) != len(m.Extra)) {
		return nil, fmt.Errorf("header counts more records than the reply holds: %w", errBadReply)
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
