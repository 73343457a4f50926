package dnsd

import (
	"net/netip"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/hosts"
)

// request is a parsed client query on its way through the pipeline.
type request struct {
	msg     *dns.Msg
	q       dns.Question // as the client spelled it
	key     string       // lower-case name without trailing dot
	client  netip.AddrPort
	tcp     bool
	edns    bool // the client sent an OPT record
	maxSize int  // largest reply the client takes
	servers []upstream
	st      *state
	filt    reqFilter  // area D: log serial, EDE, client options
	dst     netip.Addr // area A: local address the query was sent to, if known (localise-queries)
}

// handleLocal runs the part of the pipeline that needs no network: parse,
// opcode, local domains, hosts, cache. It returns the packed reply to send
// now, or a request that must be forwarded, or neither (drop). It never
// keeps a reference to raw.
func (s *Server) handleLocal(st *state, raw []byte, client netip.AddrPort, tcp bool) ([]byte, *request) {
	return s.handleLocalAt(st, raw, client, netip.Addr{}, tcp)
}

// handleLocalAt is handleLocal for a query sent to the local address dst
// (invalid when not known), which localise-queries answers by (area A).
func (s *Server) handleLocalAt(st *state, raw []byte, client netip.AddrPort, dst netip.Addr, tcp bool) ([]byte, *request) {
	s.stats.queries.Add(1)
	if queryFault != nil {
		queryFault(raw)
	}
	if !s.clientAllowed(st, client) { // local-service (filter_query.go)
		return nil, nil
	}
	// A response (QR set) sent to a server port is dropped: answering it
	// could start a loop between two servers.
	if len(raw) < 12 || raw[2]&0x80 != 0 {
		s.stats.malformed.Add(1)
		return nil, nil
	}
	msg := new(dns.Msg)
	if err := msg.Unpack(raw); err != nil || !wholeQuestion(raw) {
		s.stats.malformed.Add(1)
		return nil, nil
	}
	if msg.Opcode != dns.OpcodeQuery {
		s.stats.notImplemented.Add(1)
		m := &dns.Msg{}
		m.Id, m.Response, m.Opcode, m.Rcode = msg.Id, true, msg.Opcode, dns.RcodeNotImplemented
		m.RecursionDesired = msg.RecursionDesired
		if len(msg.Question) == 1 {
			m.Question = msg.Question
		}
		out, err := m.Pack()
		if err != nil {
			return nil, nil
		}
		return out, nil
	}
	if len(msg.Question) != 1 {
		s.stats.malformed.Add(1)
		return answerNoQuestion(msg), nil // FORMERR without a question (compat_query.go)
	}
	req := &request{msg: msg, q: msg.Question[0], client: client, dst: dst, tcp: tcp, st: st, maxSize: dns.MinMsgSize}
	req.key = hosts.Key(req.q.Name)
	if tcp {
		req.maxSize = dns.MaxMsgSize
	}
	if opt := msg.IsEdns0(); opt != nil {
		req.edns = true
		if !tcp {
			req.maxSize = int(min(max(opt.UDPSize(), dns.MinMsgSize), st.cfg.ednsMax))
		}
		if opt.Version() != 0 {
			return s.finish(req, s.newReply(req, dns.RcodeBadVers)), nil
		}
	}
	cfg := st.cfg
	if cfg.logQueries {
		s.logQueryLine(req)
	}
	if s.isLoopProbe(req) { // dns-loop-detect: our own probe came back (upstream_loop.go)
		return nil, nil
	}
	if m := s.answerChaos(req); m != nil { // CHAOS *.bind (chaos.go)
		return s.finish(req, m), nil
	}

	if m := s.answerHosts(req); m != nil {
		s.stats.hostsAnswers.Add(1)
		return s.finish(req, m), nil
	}
	if m := s.answerAddressRules(req); m != nil { // address= (local_rules.go)
		return s.finish(req, m), nil
	}
	r := cfg.route(req.key)
	if r.local {
		s.stats.localAnswers.Add(1)
		return s.finish(req, s.answerLocalDomain(req)), nil
	}
	if m := s.filterQuery(req); m != nil { // domain-needed, bogus-priv, filterwin2k (filter_query.go)
		return s.finish(req, m), nil
	}
	if out, ok := s.cachedAnswer(req, raw); ok { // not for RD=0 or DO (compat_query.go)
		return out, nil
	}
	if len(r.servers) == 0 {
		// dnsmasq 2.90 with no server for the name: REFUSED, logged
		// "config error is REFUSED".
		s.stats.refused.Add(1)
		req.filt.ede = edeNotReady // as dnsmasq (compat_query.go)
		m := s.newReply(req, dns.RcodeRefused)
		if cfg.logQueries {
			s.logAnswerFor(req, "config", m)
		}
		return s.finish(req, m), nil
	}
	req.servers = r.servers
	return nil, req
}

// newReply starts a reply to req: the client's ID, opcode, RD and CD bits
// and question; RA set, as dnsmasq sets it.
func (s *Server) newReply(req *request, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.Id = req.msg.Id
	m.Response = true
	m.Opcode = req.msg.Opcode
	m.RecursionDesired = req.msg.RecursionDesired
	m.CheckingDisabled = req.msg.CheckingDisabled
	m.RecursionAvailable = true
	m.Rcode = rcode
	m.Question = []dns.Question{req.q}
	return m
}

// finish adds the OPT record when the client used EDNS, truncates to what
// the client takes (setting TC, emptying the sections), and packs. A reply
// that cannot be packed becomes SERVFAIL.
func (s *Server) finish(req *request, m *dns.Msg) []byte {
	if req.edns {
		// The client's DO bit is echoed (RFC 3225).
		m.SetEdns0(req.st.cfg.ednsMax, clientDO(req.msg))
		addEDE(req, m) // filter_reply.go
	}
	out, err := packForClient(m, req.maxSize) // TC with empty sections (compat_truncate.go)
	if err != nil {
		fail := s.newReply(req, dns.RcodeServerFailure)
		if req.edns {
			fail.SetEdns0(req.st.cfg.ednsMax, clientDO(req.msg))
		}
		out, err = fail.Pack()
		if err != nil {
			return nil
		}
	}
	return out
}

// wholeQuestion reports whether a query's first question has its type
// and class: miekg/dns accepts a question cut short after the name or
// the type, which dnsmasq (and moat) drop as malformed.
func wholeQuestion(raw []byte) bool {
	if len(raw) < 12 || raw[4] == 0 && raw[5] == 0 {
		return true // no question: judged later
	}
	_, off, err := dns.UnpackDomainName(raw, 12)
	return err == nil && off+4 <= len(raw)
}
