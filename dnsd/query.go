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
}

// handleLocal runs the part of the pipeline that needs no network: parse,
// opcode, local domains, hosts, cache. It returns the packed reply to send
// now, or a request that must be forwarded, or neither (drop). It never
// keeps a reference to raw.
func (s *Server) handleLocal(st *state, raw []byte, client netip.AddrPort, tcp bool) ([]byte, *request) {
	s.stats.queries.Add(1)
	// A response (QR set) sent to a server port is dropped: answering it
	// could start a loop between two servers.
	if len(raw) < 12 || raw[2]&0x80 != 0 {
		s.stats.malformed.Add(1)
		return nil, nil
	}
	msg := new(dns.Msg)
	if err := msg.Unpack(raw); err != nil {
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
		return nil, nil
	}
	req := &request{msg: msg, q: msg.Question[0], client: client, tcp: tcp, st: st, maxSize: dns.MinMsgSize}
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
		s.log.logQuery(req.q, client)
	}

	if m := s.answerHosts(req); m != nil {
		s.stats.hostsAnswers.Add(1)
		return s.finish(req, m), nil
	}
	r := cfg.route(req.key)
	if r.local {
		s.stats.localAnswers.Add(1)
		return s.finish(req, s.answerLocalDomain(req)), nil
	}
	if a, ok := st.cache.Get(req.q); ok {
		s.stats.cacheHits.Add(1)
		m := s.newReply(req, a.Rcode)
		m.Answer, m.Ns, m.Extra = a.Answer, a.Ns, a.Extra
		if cfg.logQueries {
			s.log.logAnswer("cached", req.q, m)
		}
		return s.finish(req, m), nil
	}
	if len(r.servers) == 0 {
		// dnsmasq 2.90 with no server for the name: REFUSED, logged
		// "config error is REFUSED".
		s.stats.refused.Add(1)
		m := s.newReply(req, dns.RcodeRefused)
		if cfg.logQueries {
			s.log.logAnswer("config", req.q, m)
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
// the client takes (setting TC), and packs. A reply that cannot be packed
// becomes SERVFAIL.
func (s *Server) finish(req *request, m *dns.Msg) []byte {
	if req.edns {
		m.SetEdns0(req.st.cfg.ednsMax, false)
	}
	m.Compress = true
	m.Truncate(req.maxSize)
	out, err := m.Pack()
	if err != nil {
		fail := s.newReply(req, dns.RcodeServerFailure)
		if req.edns {
			fail.SetEdns0(req.st.cfg.ednsMax, false)
		}
		out, err = fail.Pack()
		if err != nil {
			return nil
		}
	}
	return out
}
