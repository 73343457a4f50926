package dnsdiff

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Result is a reply in canonical form: what two servers' replies are
// compared on. It travels as JSON from difftool to the test.
type Result struct {
	// Err says why there is no usable reply: "timeout", or a reply that
	// does not parse or does not match the query. Empty when there is one.
	Err        string   `json:"err,omitempty"`
	Opcode     string   `json:"opcode,omitempty"`
	Rcode      string   `json:"rcode,omitempty"`
	Flags      []string `json:"flags,omitempty"` // set header bits: qr aa tc rd ra ad cd
	Question   []string `json:"question,omitempty"`
	Answer     []RR     `json:"answer,omitempty"`
	Authority  []RR     `json:"authority,omitempty"`
	Additional []RR     `json:"additional,omitempty"` // without the OPT record
	EDNS       *EDNS    `json:"edns,omitempty"`
	Size       int      `json:"size,omitempty"` // reply bytes; shown, not compared
	// Upstream lists, one line per query, what this server's upstream
	// servers were asked while it answered (see Summarize).
	Upstream []string `json:"upstream,omitempty"`
}

// RR is one resource record: its text with the TTL field zeroed (so that
// equal records compare equal whatever their TTLs) and the TTL apart.
type RR struct {
	Text string `json:"text"`
	TTL  uint32 `json:"ttl"`
}

// EDNS is the OPT record of a reply.
type EDNS struct {
	Version uint8    `json:"version"`
	UDPSize uint16   `json:"udp_size"`
	DO      bool     `json:"do,omitempty"`
	Options []string `json:"options,omitempty"`
}

// FromMsg puts a parsed reply in canonical form.
func FromMsg(m *dns.Msg, size int) Result {
	r := Result{Opcode: opcodeName(m.Opcode), Rcode: rcodeName(m.Rcode), Size: size}
	for _, f := range []struct {
		set  bool
		name string
	}{
		{m.Response, "qr"}, {m.Authoritative, "aa"}, {m.Truncated, "tc"}, {m.RecursionDesired, "rd"},
		{m.RecursionAvailable, "ra"}, {m.AuthenticatedData, "ad"}, {m.CheckingDisabled, "cd"},
	} {
		if f.set {
			r.Flags = append(r.Flags, f.name)
		}
	}
	if m.Zero {
		r.Flags = append(r.Flags, "z")
	}
	for _, q := range m.Question {
		r.Question = append(r.Question, fmt.Sprintf("%s %s %s", q.Name, dns.Class(q.Qclass), dns.Type(q.Qtype)))
	}
	r.Answer = canonicalRRs(m.Answer)
	r.Authority = canonicalRRs(m.Ns)
	var extra []dns.RR
	for _, rr := range m.Extra {
		if opt, ok := rr.(*dns.OPT); ok {
			e := &EDNS{Version: opt.Version(), UDPSize: opt.UDPSize(), DO: opt.Do()}
			for _, o := range opt.Option {
				e.Options = append(e.Options, fmt.Sprintf("%d:%s", o.Option(), o.String()))
			}
			r.EDNS = e
			continue
		}
		extra = append(extra, rr)
	}
	r.Additional = canonicalRRs(extra)
	if m.Rcode == dns.RcodeBadVers && r.EDNS != nil {
		r.Rcode = "BADVERS" // 16 is BADSIG in TSIG and BADVERS with an OPT record
	}
	return r
}

func canonicalRRs(rrs []dns.RR) []RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]RR, 0, len(rrs))
	for _, rr := range rrs {
		c := dns.Copy(rr)
		ttl := c.Header().Ttl
		c.Header().Ttl = 0
		out = append(out, RR{Text: strings.ReplaceAll(c.String(), "\t", " "), TTL: ttl})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Text != out[j].Text {
			return out[i].Text < out[j].Text
		}
		return out[i].TTL < out[j].TTL
	})
	return out
}

func opcodeName(op int) string {
	if s, ok := dns.OpcodeToString[op]; ok {
		return s
	}
	return fmt.Sprintf("OPCODE%d", op)
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// Exchange sends q to server (host:port) and returns the canonical reply,
// or a Result with Err set. A UDP reply with another ID is skipped (as a
// stub resolver would) until the timeout.
func Exchange(server string, q Query, timeout time.Duration) Result {
	r := exchange(server, q, timeout)
	// A server that resets a TCP connection at once (local-service)
	// may do so while the client connects, writes or reads: the same
	// refusal whenever it lands.
	if strings.Contains(r.Err, "connection reset by peer") {
		r.Err = "connection reset"
	}
	return r
}

func exchange(server string, q Query, timeout time.Duration) Result {
	var idb [2]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return Result{Err: fmt.Sprintf("random id: %v", err)}
	}
	id := binary.BigEndian.Uint16(idb[:])
	packed, err := q.Msg(id).Pack()
	if err != nil {
		return Result{Err: fmt.Sprintf("pack query: %v", err)}
	}
	network := "udp"
	if q.TCP {
		network = "tcp"
	}
	deadline := time.Now().Add(timeout)
	d := net.Dialer{Timeout: timeout}
	if q.From.IsValid() {
		if q.TCP {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(q.From, 0))
		} else {
			d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(q.From, 0))
		}
	}
	conn, err := d.Dial(network, server)
	if err != nil {
		return Result{Err: fmt.Sprintf("connect: %v", err)}
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return Result{Err: err.Error()}
	}
	if q.TCP {
		return exchangeTCP(conn, packed, id)
	}
	if _, err := conn.Write(packed); err != nil {
		return Result{Err: fmt.Sprintf("send: %v", err)}
	}
	buf := make([]byte, dns.MaxMsgSize)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return Result{Err: readErr(err)}
		}
		if n >= 2 && binary.BigEndian.Uint16(buf) != id {
			continue
		}
		return parseReply(buf[:n], id)
	}
}

func exchangeTCP(conn net.Conn, packed []byte, id uint16) Result {
	framed := binary.BigEndian.AppendUint16(nil, uint16(len(packed)))
	if _, err := conn.Write(append(framed, packed...)); err != nil {
		return Result{Err: fmt.Sprintf("send: %v", err)}
	}
	var length [2]byte
	if _, err := io.ReadFull(conn, length[:]); err != nil {
		return Result{Err: readErr(err)}
	}
	buf := make([]byte, binary.BigEndian.Uint16(length[:]))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return Result{Err: readErr(err)}
	}
	return parseReply(buf, id)
}

// readErr names the ways a server can fail to answer: silence, a closed
// TCP connection, or a refusal (ICMP port unreachable).
func readErr(err error) string {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without a reply"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	}
	return err.Error()
}

func parseReply(b []byte, id uint16) Result {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return Result{Err: fmt.Sprintf("unparseable reply (%v): %s", err, hex.EncodeToString(b[:min(len(b), 64)])), Size: len(b)}
	}
	if m.Id != id {
		return Result{Err: fmt.Sprintf("reply ID %d, query ID %d", m.Id, id), Size: len(b)}
	}
	return FromMsg(m, len(b))
}
