package dnsd

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func TestForwardedReplyIsRebuilt(t *testing.T) {
	var upstreamID atomic.Uint32
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		upstreamID.Store(uint32(r.Id))
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(1, 2, 3, 4)}}
		m.SetEdns0(4096, true)
		_ = w.WriteMsg(m)
	})
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{})
	q := newQuery("Www.Example.COM.", dns.TypeA)
	q.Id = 4242
	r := ask(t, d, q, "udp")
	if r.Id != 4242 || r.Question[0].Name != "Www.Example.COM." || len(r.Answer) != 1 || !r.Authoritative {
		t.Errorf("reply %v", r)
	}
	if r.IsEdns0() != nil {
		t.Error("upstream OPT relayed to a client that did not use EDNS")
	}
	if upstreamID.Load() == 4242 {
		t.Error("client ID reused upstream (1 in 65536 chance)")
	}
}

func TestFailover(t *testing.T) {
	// A server that never answers: dnsd must give up on it after the
	// per-try timeout and move on.
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silentAddr := silent.LocalAddr().(*net.UDPAddr).AddrPort()

	up := startUpstream(t, answerA("5.6.7.8", 60))
	tests := []struct {
		name    string
		servers []netip.AddrPort
		rcode   int
	}{
		{"first dead (port unreachable)", []netip.AddrPort{deadUDPAddr(t), up.addr}, dns.RcodeSuccess},
		{"first silent", []netip.AddrPort{silentAddr, up.addr}, dns.RcodeSuccess},
		{"all dead", []netip.AddrPort{deadUDPAddr(t), silentAddr}, dns.RcodeServerFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startDNSD(t, upstreamCfg(tt.servers...), "", instanceOptions{tune: func(s *Server) {
				s.udpTry = 300 * time.Millisecond
			}})
			r := ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
			if r.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			if tt.rcode == dns.RcodeSuccess && (len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "5.6.7.8") {
				t.Errorf("answer %v", r.Answer)
			}
		})
	}
}

func TestRefusedMovesOn(t *testing.T) {
	refusing := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeRefused)
		_ = w.WriteMsg(m)
	})
	good := startUpstream(t, answerA("5.6.7.8", 60))
	d := startDNSD(t, upstreamCfg(refusing.addr, good.addr), "", instanceOptions{})
	if r := ask(t, d, newQuery("a.example.", dns.TypeA), "udp"); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("reply %v", r)
	}
	d2 := startDNSD(t, upstreamCfg(refusing.addr), "", instanceOptions{})
	if r := ask(t, d2, newQuery("a.example.", dns.TypeA), "udp"); r.Rcode != dns.RcodeRefused {
		t.Errorf("only a refusing server: rcode %s, want its REFUSED", dns.RcodeToString[r.Rcode])
	}
}

func TestDomainSpecificServer(t *testing.T) {
	def := startUpstream(t, answerA("1.1.1.1", 60))
	corp := startUpstream(t, answerA("10.1.1.1", 60))
	inner := startUpstream(t, answerA("10.2.2.2", 60))
	unqual := startUpstream(t, answerA("10.3.3.3", 60))
	cfg := upstreamCfg(def.addr)
	cfg.Upstreams = append(cfg.Upstreams,
		&ipcpb.Upstream{Address: corp.addr.String(), Domains: []string{"corp", "corp.example"}},
		&ipcpb.Upstream{Address: inner.addr.String(), Domains: []string{"inner.corp"}},
		&ipcpb.Upstream{Address: unqual.addr.String(), Domains: []string{""}},
	)
	d := startDNSD(t, cfg, "", instanceOptions{})
	for name, want := range map[string]string{
		"www.example.":       "1.1.1.1",
		"corp.":              "10.1.1.1",
		"a.CORP.":            "10.1.1.1",
		"x.corp.example.":    "10.1.1.1",
		"notcorp.":           "10.3.3.3", // single label: server=//ip
		"a.inner.corp.":      "10.2.2.2", // most specific wins
		"a.b.inner.corp.":    "10.2.2.2",
		"inner.corp.example": "10.1.1.1",
		"corpx.example.":     "1.1.1.1",
	} {
		r := ask(t, d, newQuery(dns.Fqdn(name), dns.TypeA), "udp")
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != want {
			t.Errorf("%s: %v, want %s", name, r.Answer, want)
		}
	}
}

// rawUpstream answers each query with the datagrams script returns, sent
// in order, so tests can forge replies.
func rawUpstream(t *testing.T, script func(q *dns.Msg) []*dns.Msg) netip.AddrPort {
	t.Helper()
	return rawBytesUpstream(t, func(q *dns.Msg) [][]byte {
		var out [][]byte
		for _, m := range script(q) {
			if b, err := m.Pack(); err == nil {
				out = append(out, b)
			}
		}
		return out
	})
}

func aReply(q *dns.Msg, ip string) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)}}
	return m
}

func TestMismatchedRepliesIgnored(t *testing.T) {
	addr := rawUpstream(t, func(q *dns.Msg) []*dns.Msg {
		wrongID := aReply(q, "6.6.6.6")
		wrongID.Id = q.Id + 1
		wrongName := aReply(q, "6.6.6.6")
		wrongName.Question[0].Name = "evil.example."
		wrongType := aReply(q, "6.6.6.6")
		wrongType.Question[0].Qtype = dns.TypeAAAA
		notResponse := aReply(q, "6.6.6.6")
		notResponse.Response = false
		// The question in another case than sent (0x20): a forgery.
		wrongCase := aReply(q, "6.6.6.6")
		wrongCase.Question[0].Name = flipCase(q.Question[0].Name)
		good := aReply(q, "7.7.7.7")
		return []*dns.Msg{wrongID, wrongName, wrongType, wrongCase, notResponse, good}
	})
	d := startDNSD(t, upstreamCfg(addr), "", instanceOptions{})
	r := ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "7.7.7.7" {
		t.Fatalf("answer %v, want the matching reply's 7.7.7.7", r.Answer)
	}
	if got := d.server.stats.upstreamMismatch.Load(); got != 4 {
		t.Errorf("mismatches counted %d, want 4", got)
	}
	if got := d.server.stats.upstreamBad.Load(); got != 1 {
		t.Errorf("bad replies counted %d, want 1", got)
	}
}

func TestTruncatedRelayAndTCP(t *testing.T) {
	big := func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for i := range 40 {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(10, 0, 0, byte(i))})
		}
		if w.RemoteAddr().Network() == "udp" {
			m.Answer = m.Answer[:1]
			m.Truncated = true
		}
		_ = w.WriteMsg(m)
	}
	up := startUpstream(t, big)
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{})

	r := ask(t, d, newQuery("big.example.", dns.TypeA), "udp")
	if !r.Truncated {
		t.Errorf("UDP reply from a truncated upstream answer has no TC: %v", r)
	}
	r = ask(t, d, newQuery("big.example.", dns.TypeA), "tcp")
	if r.Truncated || len(r.Answer) != 40 {
		t.Errorf("TCP: tc %v, %d answers; want the full 40", r.Truncated, len(r.Answer))
	}
	if up.tcp.Load() != 1 || up.udp.Load() != 1 {
		t.Errorf("upstream saw %d UDP and %d TCP queries, want 1 and 1 (the TC answer is not cached)", up.udp.Load(), up.tcp.Load())
	}
	// The full answer is cached now; a UDP client without EDNS gets TC
	// and no records (never part of the RRset, compat_truncate.go).
	r = ask(t, d, newQuery("big.example.", dns.TypeA), "udp")
	if !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("cached big answer over UDP: tc %v, %d answers", r.Truncated, len(r.Answer))
	}
	q := newQuery("big.example.", dns.TypeA)
	q.SetEdns0(1232, false)
	if r = ask(t, d, q, "udp"); r.Truncated || len(r.Answer) != 40 {
		t.Errorf("EDNS client: tc %v, %d answers", r.Truncated, len(r.Answer))
	}
}

func TestCache(t *testing.T) {
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300},
		Ns: "ns.example.", Mbox: "h.example.", Serial: 1, Refresh: 1, Retry: 1, Expire: 1, Minttl: 60}
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		switch r.Question[0].Name {
		case "a.example.":
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "a.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(1, 2, 3, 4)}}
		case "nx.example.":
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{soa}
		case "nxnosoa.example.":
			m.Rcode = dns.RcodeNameError
		case "fail.example.":
			m.Rcode = dns.RcodeServerFailure
		case "zero.example.":
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "zero.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0}, A: net.IPv4(1, 2, 3, 4)}}
		}
		_ = w.WriteMsg(m)
	})
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{})
	tests := []struct {
		name    string
		rcode   int
		cached  bool
		answers int
	}{
		{"a.example.", dns.RcodeSuccess, true, 1},
		{"nx.example.", dns.RcodeNameError, true, 0},
		{"nxnosoa.example.", dns.RcodeNameError, false, 0},
		{"fail.example.", dns.RcodeServerFailure, false, 0},
		{"zero.example.", dns.RcodeSuccess, false, 1},
	}
	for _, tt := range tests {
		before := up.queries()
		first := ask(t, d, newQuery(tt.name, dns.TypeA), "udp")
		second := ask(t, d, newQuery(tt.name, dns.TypeA), "udp")
		for i, r := range []*dns.Msg{first, second} {
			if r.Rcode != tt.rcode || len(r.Answer) != tt.answers {
				t.Errorf("%s reply %d: rcode %s, %d answers", tt.name, i, dns.RcodeToString[r.Rcode], len(r.Answer))
			}
		}
		wantQueries := int64(2)
		if tt.cached {
			wantQueries = 1
		}
		if tt.rcode == dns.RcodeServerFailure {
			wantQueries = 2 // SERVFAIL is never cached
		}
		if got := up.queries() - before; got != wantQueries {
			t.Errorf("%s: upstream saw %d queries, want %d", tt.name, got, wantQueries)
		}
		if tt.cached && (second.Authoritative || len(second.Ns) != len(first.Ns)) {
			t.Errorf("%s: cached reply aa %v, ns %v", tt.name, second.Authoritative, second.Ns)
		}
		if tt.cached && tt.answers > 0 && second.Answer[0].Header().Ttl > first.Answer[0].Header().Ttl {
			t.Errorf("%s: cached TTL grew", tt.name)
		}
	}
	// Case does not matter to the cache, and the reply keeps the client's.
	before := up.queries()
	r := ask(t, d, newQuery("A.EXAMPLE.", dns.TypeA), "udp")
	if up.queries() != before || r.Question[0].Name != "A.EXAMPLE." {
		t.Errorf("case-folded cache hit: %d new queries, question %q", up.queries()-before, r.Question[0].Name)
	}
	// A new configuration keeps the cache; a new cache epoch (SIGHUP)
	// clears it (area B: cache_stage_test.go has the details).
	oldState := d.server.st.Load()
	d.sendConfig(t, upstreamCfg(up.addr))
	waitFor(t, "new config", func() bool { return d.server.st.Load() != oldState })
	if d.server.st.Load().cache.Len() == 0 {
		t.Errorf("a new configuration with the same cache epoch cleared the cache")
	}
	cfg := upstreamCfg(up.addr)
	cfg.CacheEpoch = 1
	d.sendConfig(t, cfg)
	waitFor(t, "new epoch", func() bool { return d.server.st.Load().cache.Len() == 0 })
	ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
	if up.queries() != before+1 {
		t.Errorf("cache survived a new cache epoch")
	}
}

func TestCacheDisabled(t *testing.T) {
	up := startUpstream(t, answerA("1.2.3.4", 300))
	cfg := upstreamCfg(up.addr)
	cfg.CacheSize = 0
	d := startDNSD(t, cfg, "", instanceOptions{})
	ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
	ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
	if up.queries() != 2 {
		t.Errorf("cache-size=0: upstream saw %d queries, want 2", up.queries())
	}
}

func TestUpstreamQueryShape(t *testing.T) {
	got := make(chan *dns.Msg, 4)
	from := make(chan netip.AddrPort, 4)
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		got <- r
		from <- w.RemoteAddr().(*net.UDPAddr).AddrPort()
		_ = w.WriteMsg(new(dns.Msg).SetReply(r))
	})
	cfg := upstreamCfg(up.addr)
	cfg.EdnsPacketMax = 1400
	d := startDNSD(t, cfg, "", instanceOptions{})
	ports := map[uint16]bool{}
	for range 3 {
		ask(t, d, newQuery("shape.example.", dns.TypeMX), "udp")
		q := <-got
		if opt := q.IsEdns0(); opt == nil || opt.UDPSize() != 1400 {
			t.Errorf("upstream query OPT %v, want UDP size 1400", opt)
		}
		if !q.RecursionDesired {
			t.Error("RD not forwarded")
		}
		src := <-from
		if src.Port() < 1024 {
			t.Errorf("source port %d below 1024", src.Port())
		}
		ports[src.Port()] = true
	}
	// A fresh random port per query: three equal ports would be a bug
	// (or a 1 in 4 billion coincidence).
	if len(ports) == 1 {
		t.Errorf("every query left from the same port %v", ports)
	}
}
