package dnsdiff

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// Zone is the data a fake upstream answers from: a recursive resolver's
// view of the world, given as zone-file text (origin ".", default TTL
// 300). It answers as a resolver does: RA set, AA clear, CNAMEs chased
// inside the data, wildcards ("*.dom") expanded, NODATA and NXDOMAIN with
// the SOA of the closest enclosing apex in the authority section (TTL the
// SOA's minimum), so that negative caching can be compared.
//
// A few first labels steer the reply whatever the data holds, so that
// scenarios can exercise failure handling:
//
//	servfail.*, refused.*, notimp.*, formerr.*  that rcode, empty sections
//	drop.*                                      no reply at all
//	tc.*                                        over UDP: TC set and nothing else
//	                                            (over TCP the data answers)
//	slow.*                                      the data's answer, after SlowDelay
//
// A line "$LOOP" makes the upstream a forwarding loop for loop probes
// (see LoopDirective).
type Zone struct {
	owners map[string][]dns.RR // by lower-case owner name
	exists map[string]bool     // owners and their ancestors (empty non-terminals)
	loop   bool
}

// ParseZone parses zone-file text.
func ParseZone(text string) (*Zone, error) {
	z := &Zone{owners: map[string][]dns.RR{}, exists: map[string]bool{}}
	text, z.loop = cutLoopDirective(text)
	zp := dns.NewZoneParser(strings.NewReader("$TTL 300\n"+text), ".", "zone")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		owner := strings.ToLower(rr.Header().Name)
		z.owners[owner] = append(z.owners[owner], rr)
		for name := owner; name != "."; name = parent(name) {
			z.exists[name] = true
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("parse zone: %w", err)
	}
	return z, nil
}

func parent(name string) string {
	_, rest, ok := strings.Cut(name, ".")
	if !ok || rest == "" {
		return "."
	}
	return rest
}

// lookup returns the records of name (lower case). A name that does not
// exist is answered from the wildcard child of its closest existing
// ancestor, if there is one (RFC 4592, simplified).
func (z *Zone) lookup(name string) (rrs []dns.RR, exists bool) {
	if z.exists[name] {
		return z.owners[name], true
	}
	p := parent(name)
	for p != "." && !z.exists[p] {
		p = parent(p)
	}
	wildcard := "*." + p
	if p == "." {
		wildcard = "*."
	}
	wild, ok := z.owners[wildcard]
	if !ok {
		return nil, false
	}
	out := make([]dns.RR, 0, len(wild))
	for _, rr := range wild {
		c := dns.Copy(rr)
		c.Header().Name = name
		out = append(out, c)
	}
	return out, true
}

// soaFor returns the negative-answer SOA for name: the closest enclosing
// SOA, with the TTL a resolver gives it.
func (z *Zone) soaFor(name string) dns.RR {
	for n := name; ; n = parent(n) {
		for _, rr := range z.owners[n] {
			if soa, ok := rr.(*dns.SOA); ok {
				c := dns.Copy(soa).(*dns.SOA)
				c.Hdr.Ttl = min(c.Hdr.Ttl, c.Minttl)
				return c
			}
		}
		if n == "." {
			return nil
		}
	}
}

var magicRcodes = map[string]int{
	"servfail": dns.RcodeServerFailure, "refused": dns.RcodeRefused,
	"notimp": dns.RcodeNotImplemented, "formerr": dns.RcodeFormatError,
}

// Answer builds the reply to req, or returns nil when the query must go
// unanswered.
func (z *Zone) Answer(req *dns.Msg, tcp bool) *dns.Msg {
	m := &dns.Msg{}
	m.Id, m.Response, m.Opcode = req.Id, true, req.Opcode
	m.RecursionDesired, m.CheckingDisabled, m.RecursionAvailable = req.RecursionDesired, req.CheckingDisabled, true
	m.Question = req.Question
	limit := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(DefaultUDPSize, opt.Do())
		limit = max(int(opt.UDPSize()), dns.MinMsgSize)
		if opt.Version() != 0 {
			m.Rcode = dns.RcodeBadVers
			return m
		}
	}
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		m.Rcode = dns.RcodeNotImplemented
		return m
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	first, _, _ := strings.Cut(name, ".")
	if rc, ok := magicRcodes[first]; ok {
		m.Rcode = rc
		return m
	}
	switch {
	case first == "drop":
		return nil
	case first == "tc" && !tcp:
		m.Truncated = true
		return m
	case q.Qclass != dns.ClassINET:
		m.Rcode = dns.RcodeRefused
		return m
	}
	m.Rcode = z.resolve(m, name, q.Qtype)
	if !tcp {
		m.Truncate(limit)
	}
	return m
}

// resolve fills m's answer (chasing CNAMEs, at most 8) and, for negative
// answers, its authority section, and returns the rcode.
func (z *Zone) resolve(m *dns.Msg, name string, qtype uint16) int {
	for range 8 {
		rrs, exists := z.lookup(name)
		if !exists {
			m.Ns = appendNonNil(m.Ns, z.soaFor(name))
			return dns.RcodeNameError
		}
		var cname *dns.CNAME
		matched := false
		for _, rr := range rrs {
			switch {
			case rr.Header().Rrtype == qtype || qtype == dns.TypeANY:
				m.Answer = append(m.Answer, rr)
				matched = true
			case rr.Header().Rrtype == dns.TypeCNAME:
				cname = rr.(*dns.CNAME)
			}
		}
		if matched || cname == nil {
			if !matched {
				m.Ns = appendNonNil(m.Ns, z.soaFor(name))
			}
			return dns.RcodeSuccess
		}
		m.Answer = append(m.Answer, cname)
		name = strings.ToLower(cname.Target)
	}
	return dns.RcodeSuccess
}

func appendNonNil(rrs []dns.RR, rr dns.RR) []dns.RR {
	if rr == nil {
		return rrs
	}
	return append(rrs, rr)
}

// StatsName, asked in class CH type TXT over TCP, makes an upstream list
// (one TXT string per query, see Summarize) what it was asked since the
// previous such question.
const StatsName = "stats.difftool."

// Summarize describes a query as an upstream saw it, without what differs
// by design between two forwarders (the ID, the source port, the case of
// the name: moat spells it at random, 0x20): first the question and the
// transport, then after " | " the header bits and EDNS.
func Summarize(req *dns.Msg, tcp bool) string {
	var parts []string
	for _, q := range req.Question {
		parts = append(parts, fmt.Sprintf("%s %s %s", strings.ToLower(q.Name), dns.Class(q.Qclass), dns.Type(q.Qtype)))
	}
	if len(req.Question) != 1 {
		parts = append(parts, fmt.Sprintf("qdcount=%d", len(req.Question)))
	}
	if req.Opcode != dns.OpcodeQuery {
		parts = append(parts, "opcode="+opcodeName(req.Opcode))
	}
	if tcp {
		parts = append(parts, "tcp")
	} else {
		parts = append(parts, "udp")
	}
	var bits []string
	for _, f := range []struct {
		set  bool
		name string
	}{{req.RecursionDesired, "rd"}, {req.CheckingDisabled, "cd"}, {req.AuthenticatedData, "ad"}} {
		if f.set {
			bits = append(bits, f.name)
		}
	}
	if opt := req.IsEdns0(); opt != nil {
		e := fmt.Sprintf("edns=v%d/%d", opt.Version(), opt.UDPSize())
		if opt.Do() {
			e += "/do"
		}
		for _, o := range opt.Option {
			e += fmt.Sprintf("/opt%d", o.Option())
			// The options that carry the client's identity show their
			// data: the subnet, the MAC.
			if clientOptions[o.Option()] {
				e += "=" + o.String()
			}
		}
		bits = append(bits, e)
	} else {
		bits = append(bits, "noedns")
	}
	return strings.Join(parts, " ") + " | " + strings.Join(bits, " ")
}

// Upstream is a running fake upstream server on one address (UDP and TCP).
type Upstream struct {
	zone    *Zone
	mu      sync.Mutex
	asked   []string
	looped  map[string]int // loop probes sent back, by name
	port    string         // the first address's port; guarded by mu
	servers []*dns.Server
}

// ServeUpstream starts answering from zone on addr (host:port), over UDP
// and TCP, and returns once both sockets are bound. With port 0 both get
// the port the kernel picks for UDP (see Addr); when that port is taken
// for TCP (by another test, in parallel), another is tried.
func ServeUpstream(addr string, zone *Zone) (*Upstream, error) {
	for attempt := 1; ; attempt++ {
		u, err := serveUpstreamOnce(addr, zone)
		if err == nil || !strings.HasSuffix(addr, ":0") || !errors.Is(err, syscall.EADDRINUSE) || attempt == 10 {
			return u, err
		}
	}
}

func serveUpstreamOnce(addr string, zone *Zone) (*Upstream, error) {
	u := &Upstream{zone: zone}
	for _, network := range []string{"udp", "tcp"} {
		if network == "tcp" {
			addr = u.Addr()
		}
		started := make(chan struct{})
		srv := &dns.Server{Addr: addr, Net: network, Handler: u, NotifyStartedFunc: func() { close(started) }}
		failed := make(chan error, 1)
		go func() { failed <- srv.ListenAndServe() }()
		select {
		case <-started:
		case err := <-failed:
			u.Close()
			return nil, fmt.Errorf("listen %s/%s: %w", addr, network, err)
		case <-time.After(5 * time.Second):
			u.Close()
			return nil, fmt.Errorf("listen %s/%s: not started after 5s", addr, network)
		}
		u.servers = append(u.servers, srv)
		if network == "udp" {
			u.mu.Lock()
			u.port = portOf(srv.PacketConn.LocalAddr())
			u.mu.Unlock()
		}
	}
	return u, nil
}

// Listen makes the upstream answer on one more address (a second port),
// with the same data and the same record of what it was asked.
func (u *Upstream) Listen(addr string) error {
	for _, network := range []string{"udp", "tcp"} {
		started := make(chan struct{})
		srv := &dns.Server{Addr: addr, Net: network, Handler: u, NotifyStartedFunc: func() { close(started) }}
		failed := make(chan error, 1)
		go func() { failed <- srv.ListenAndServe() }()
		select {
		case <-started:
		case err := <-failed:
			return fmt.Errorf("listen %s/%s: %w", addr, network, err)
		case <-time.After(5 * time.Second):
			return fmt.Errorf("listen %s/%s: not started after 5s", addr, network)
		}
		u.servers = append(u.servers, srv)
	}
	return nil
}

// Addr is the UDP address the upstream answers on.
func (u *Upstream) Addr() string {
	return u.servers[0].PacketConn.LocalAddr().String()
}

// Close stops the servers.
func (u *Upstream) Close() {
	for _, s := range u.servers {
		_ = s.Shutdown()
	}
}

// ServeDNS answers one query.
func (u *Upstream) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	if len(req.Question) == 1 && req.Question[0].Qclass == dns.ClassCHAOS && strings.EqualFold(req.Question[0].Name, StatsName) {
		u.mu.Lock()
		asked := u.asked
		u.asked = nil
		u.mu.Unlock()
		m := new(dns.Msg).SetReply(req)
		for _, a := range asked {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: StatsName, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS}, Txt: []string{a}})
		}
		_ = w.WriteMsg(m)
		return
	}
	line := Summarize(req, tcp)
	// A query to another port than the first address's says so:
	// "www.example.test. IN A udp#5353 | ...".
	u.mu.Lock()
	first := u.port
	u.mu.Unlock()
	if port := portOf(w.LocalAddr()); port != first {
		transport := " udp | "
		if tcp {
			transport = " tcp | "
		}
		line = strings.Replace(line, transport, strings.TrimSuffix(transport, " | ")+"#"+port+" | ", 1)
	}
	u.mu.Lock()
	u.asked = append(u.asked, line+sourceMark+w.RemoteAddr().String())
	u.mu.Unlock()
	if u.zone.loop && u.loopBack(w, req) {
		return
	}
	if len(req.Question) == 1 && strings.HasPrefix(strings.ToLower(req.Question[0].Name), "slow.") {
		time.Sleep(SlowDelay)
	}
	if m := u.zone.Answer(req, tcp); m != nil {
		_ = w.WriteMsg(m)
	}
}

// Asked fetches (and clears) the list of queries the upstream at addr
// received since the previous call.
func Asked(addr string, timeout time.Duration) ([]string, error) {
	c := &dns.Client{Net: "tcp", Timeout: timeout}
	q := new(dns.Msg)
	q.SetQuestion(StatsName, dns.TypeTXT)
	q.Question[0].Qclass = dns.ClassCHAOS
	r, _, err := c.Exchange(q, addr)
	if err != nil {
		return nil, fmt.Errorf("ask upstream %s what it was asked: %w", addr, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out, nil
}

func portOf(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	return port
}
