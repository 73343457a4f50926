package dnsd

import (
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/hosts"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// fuzzServer is a Server with a state and no sockets: hosts names, a local
// domain, a forwarded domain, logging on (to exercise the log formatting).
func fuzzServer(t testing.TB) *Server {
	s := newServer(io.Discard)
	t.Cleanup(s.stop)
	cfg, err := newRunConfig(&ipcpb.DNSConfig{
		Upstreams:    []*ipcpb.Upstream{{Address: "127.0.0.1:9", Domains: []string{"fwd"}}},
		LocalDomains: []string{"lan"},
		CacheSize:    100,
		LogQueries:   true,
		LocalTtl:     5,
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := hosts.Parse("/etc/hosts", []byte("10.0.0.1 a.lan a\nfd00::1 a.lan\n10.0.0.2 b.example\n"))
	s.install(cfg, hosts.NewTable(entries))
	return s
}

func packed(t testing.TB, m *dns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkReply requires a reply to parse and to answer the query it was for.
func checkReply(t *testing.T, out []byte, id uint16, maxSize int) {
	if out == nil {
		return
	}
	if len(out) > maxSize {
		t.Fatalf("reply of %d bytes, client takes %d", len(out), maxSize)
	}
	m := new(dns.Msg)
	if err := m.Unpack(out); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if m.Id != id || !m.Response {
		t.Fatalf("reply id %d response %v, query id %d", m.Id, m.Response, id)
	}
}

// FuzzHandleQuery feeds arbitrary datagrams to the query path: it must
// never panic, and whatever it sends must be a parsable reply to the query.
func FuzzHandleQuery(f *testing.F) {
	for _, q := range []*dns.Msg{
		newQuery("a.lan.", dns.TypeA), newQuery("A.LAN.", dns.TypeANY), newQuery("x.lan.", dns.TypeMX),
		newQuery("1.0.0.10.in-addr.arpa.", dns.TypePTR), newQuery("b.example.", dns.TypeAAAA),
		newQuery("x.fwd.", dns.TypeA), newQuery(".", dns.TypeNS),
	} {
		f.Add(packed(f, q))
		q.SetEdns0(4096, true)
		f.Add(packed(f, q))
	}
	notify := newQuery("a.lan.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	f.Add(packed(f, notify))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1})
	s := fuzzServer(f)
	client := netip.MustParseAddrPort("127.0.0.1:5353")
	f.Fuzz(func(t *testing.T, raw []byte) {
		st := s.st.Load()
		for _, tcp := range []bool{false, true} {
			out, fwd := s.handleLocal(st, raw, client, tcp)
			if out != nil && fwd != nil {
				t.Fatal("both a reply and a forward")
			}
			if len(raw) < 2 {
				if out != nil {
					t.Fatal("reply to a datagram without an ID")
				}
				continue
			}
			id := uint16(raw[0])<<8 | uint16(raw[1])
			maxSize := dns.MaxMsgSize
			if !tcp {
				maxSize = int(st.cfg.ednsMax)
			}
			checkReply(t, out, id, maxSize)
			if fwd != nil {
				// The forwarding path's rebuilding, without the network:
				// an upstream reply with the question echoed.
				up := new(dns.Msg)
				up.SetReply(&dns.Msg{MsgHdr: dns.MsgHdr{Id: 1}, Question: []dns.Question{fwd.q}})
				up.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: fwd.q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.IPv4(1, 2, 3, 4)}}
				checkReply(t, s.finish(fwd, s.clientReply(fwd, up)), id, max(maxSize, fwd.maxSize))
			}
		}
	})
}

// FuzzUpstreamReply feeds arbitrary datagrams to reply validation as the
// answer to "a.example. IN A" with the ID in the datagram's first bytes: it
// must never panic, accept only a reply to that question, and whatever it
// accepts must rebuild into a reply for the client and go into the cache.
func FuzzUpstreamReply(f *testing.F) {
	q := newQuery("a.example.", dns.TypeA)
	good := aReply(q, "1.2.3.4")
	f.Add(packed(f, good))
	tc := aReply(q, "1.2.3.4")
	tc.Truncated = true
	tcWire := packed(f, tc)
	f.Add(tcWire[:len(tcWire)-4])
	nx := new(dns.Msg).SetRcode(q, dns.RcodeNameError)
	nx.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60}, Ns: "ns.", Mbox: "h.", Minttl: 30}}
	f.Add(packed(f, nx))
	f.Add([]byte{0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	s := fuzzServer(f)
	question := q.Question[0]
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) < 2 {
			if _, err := validateReply(raw, 0, question); err == nil {
				t.Fatal("accepted a datagram without a header")
			}
			return
		}
		id := uint16(raw[0])<<8 | uint16(raw[1])
		m, err := validateReply(raw, id, question)
		if err != nil {
			return
		}
		if !m.Response || len(m.Question) != 1 || m.Question[0].Qtype != question.Qtype || m.Question[0].Qclass != question.Qclass ||
			hosts.Key(m.Question[0].Name) != "a.example" {
			t.Fatalf("accepted a reply to another question: %v", m.Question)
		}
		st := s.st.Load()
		req := &request{msg: q, q: question, key: "a.example", st: st, maxSize: 512, edns: true}
		checkReply(t, s.finish(req, s.clientReply(req, m)), q.Id, 512)
		st.cache.Put(question, m)
		if a, ok := st.cache.Get(question); ok {
			req.maxSize = dns.MaxMsgSize
			req.tcp = true
			r := s.newReply(req, a.Rcode)
			r.Answer, r.Ns, r.Extra = a.Answer, a.Ns, a.Extra
			checkReply(t, s.finish(req, r), q.Id, dns.MaxMsgSize)
		}
	})
}
