package dnsd

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/cache"
	"github.com/moatdns/moat/internal/workerproc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// shapesUpstream answers a fixed set of names with answers of different
// forms and sizes.
func shapesUpstream(t testing.TB) *testUpstream {
	return startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		q := r.Question[0]
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true // dnsd must not pass AA on from its cache
		add := func(sec *[]dns.RR, s string) {
			rr, err := dns.NewRR(s)
			if err != nil {
				panic(err)
			}
			*sec = append(*sec, rr)
		}
		soa := "example. 300 IN SOA ns.example. host.example. 1 7200 3600 1209600 60"
		name := q.Name // as asked: the upstream echoes the case
		switch lower := strings.ToLower(name); {
		case lower == "a.example." && q.Qtype == dns.TypeA:
			add(&m.Answer, name+" 300 IN A 192.0.2.1")
		case lower == "multi.example." && q.Qtype == dns.TypeA:
			for i := range 5 {
				add(&m.Answer, fmt.Sprintf("%s 300 IN A 192.0.2.%d", name, 10+i))
			}
			add(&m.Ns, "example. 3600 IN NS ns1.example.")
			add(&m.Extra, "ns1.example. 3600 IN A 192.0.2.53")
		case lower == "cname.example.":
			add(&m.Answer, name+" 300 IN CNAME target.Example.")
			add(&m.Answer, "target.Example. 60 IN A 192.0.2.2")
		case lower == "mx.example." && q.Qtype == dns.TypeMX:
			add(&m.Answer, name+" 300 IN MX 10 mail.mx.example.")
			add(&m.Answer, name+" 300 IN MX 20 mail2.mx.example.")
		case lower == "txt.example." && q.Qtype == dns.TypeTXT: // about 700 bytes
			for i := range 12 {
				add(&m.Answer, fmt.Sprintf("%s 300 IN TXT \"%s%02d\"", name, strings.Repeat("t", 40), i))
			}
		case lower == "huge.example." && q.Qtype == dns.TypeTXT: // about 1500 bytes
			for i := range 25 {
				add(&m.Answer, fmt.Sprintf("%s 300 IN TXT \"%s%02d\"", name, strings.Repeat("h", 40), i))
			}
		case lower == "nx.example.":
			m.Rcode = dns.RcodeNameError
			add(&m.Ns, soa)
		default: // NODATA
			add(&m.Ns, soa)
		}
		_ = w.WriteMsg(m)
	})
}

type queryShape struct {
	name     string
	caseName func(string) string
	edns     int // 0: none
	rd, cd   bool
}

func mixedCase(s string) string {
	b := []byte(s)
	for i := range b {
		if i%2 == 0 && 'a' <= b[i] && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

func queryShapes() []queryShape {
	var out []queryShape
	for _, c := range []struct {
		name string
		f    func(string) string
	}{{"lower", strings.ToLower}, {"upper", strings.ToUpper}, {"mixed", mixedCase}} {
		for _, edns := range []int{0, 100, 512, 600, 1232, 4096} {
			for _, bits := range [][2]bool{{true, false}, {false, false}, {true, true}} {
				out = append(out, queryShape{
					name:     fmt.Sprintf("%s edns=%d rd=%v cd=%v", c.name, edns, bits[0], bits[1]),
					caseName: c.f, edns: edns, rd: bits[0], cd: bits[1],
				})
			}
		}
	}
	return out
}

func (sh queryShape) pack(t testing.TB, name string, qtype uint16, id uint16) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(sh.caseName(name), qtype)
	m.Id = id
	m.RecursionDesired, m.CheckingDisabled = sh.rd, sh.cd
	if sh.edns != 0 {
		m.SetEdns0(uint16(sh.edns), false)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFastPathMatchesPipeline: for many query shapes (case, EDNS sizes,
// RD/CD bits) and answer forms (several records, CNAME chains, authority
// and additional sections, answers that must be truncated or compressed,
// NXDOMAIN, NODATA), whatever the fast path answers is byte for byte what
// the full pipeline answers, and it does answer the common shapes.
func TestFastPathMatchesPipeline(t *testing.T) {
	up := shapesUpstream(t)
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{})
	client := netip.MustParseAddrPort("127.0.0.1:5000")
	questions := []struct {
		name  string
		qtype uint16
	}{
		{"a.example.", dns.TypeA}, {"multi.example.", dns.TypeA}, {"cname.example.", dns.TypeA},
		{"mx.example.", dns.TypeMX}, {"txt.example.", dns.TypeTXT}, {"huge.example.", dns.TypeTXT},
		{"nx.example.", dns.TypeA}, {"nodata.example.", dns.TypeAAAA},
	}
	fastCount, total := 0, 0
	for _, qq := range questions {
		// Warm the cache through the real socket (forwarded and stored).
		ask(t, d, newQuery(qq.name, qq.qtype), "tcp")
		for i, sh := range queryShapes() {
			raw := sh.pack(t, qq.name, qq.qtype, uint16(1000+i))
			st := d.server.st.Load()
			slow, fwd := d.server.handleLocal(st, raw, client, false)
			var q cache.Query
			fast, ok := d.server.fastAnswer(st, raw, &q, make([]byte, 0, fastReplyMax), st.cache.Now())
			total++
			if !sh.rd {
				// RD clear is forwarded, never answered from the cache
				// (compat_query.go): the fast path must decline it too.
				if fwd == nil || ok {
					t.Errorf("%s %s: RD=0 answered from the cache (pipeline %v, fast path %v)", qq.name, sh.name, fwd == nil, ok)
				}
				continue
			}
			if fwd != nil || slow == nil {
				t.Fatalf("%s %s: not answered from the cache", qq.name, sh.name)
			}
			checkOwnerCase(t, slow, qq.name+" "+sh.name)
			if !ok {
				continue
			}
			fastCount++
			if !bytes.Equal(fast, slow) {
				fm, sm := new(dns.Msg), new(dns.Msg)
				_ = fm.Unpack(fast)
				_ = sm.Unpack(slow)
				t.Errorf("%s %s: fast path differs from the pipeline:\nfast %x\n%v\nslow %x\n%v", qq.name, sh.name, fast, fm, slow, sm)
			}
		}
	}
	// The answers that fit 512 bytes uncompressed are fast for every
	// shape with RD set: a, multi, cname, mx, nx, nodata.
	if want := 6 * len(queryShapes()) * 2 / 3; fastCount < want {
		t.Errorf("fast path answered %d of %d queries, want at least %d", fastCount, total, want)
	}
	t.Logf("fast path answered %d of %d query shapes", fastCount, total)
}

// checkOwnerCase fails unless every answer owner name equal to the
// question name (case-insensitively) is written in the question's case,
// as dnsmasq 2.90 writes cached answers; the cache was filled by a query
// in another case.
func checkOwnerCase(t *testing.T, reply []byte, what string) {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(reply); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if m.Truncated {
		return
	}
	asked := m.Question[0].Name
	for _, rr := range m.Answer {
		if owner := rr.Header().Name; strings.EqualFold(owner, asked) && owner != asked {
			t.Errorf("%s: answer owner %q, want the question's case %q", what, owner, asked)
		}
	}
}

// TestFastPathNeverShadowsNewLocalData: a name answered from the cache
// (through the fast path) is answered from hosts data as soon as that
// data arrives.
func TestFastPathNeverShadowsNewLocalData(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1", 3600))
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{})
	for range 5 {
		ask(t, d, newQuery("shadow.example.", dns.TypeA), "udp")
	}
	if st := d.server.st.Load().cache.Stats(); st.FastHits < 2 {
		t.Fatalf("fast path not used: %+v", st)
	}
	d.sendHosts(t, 2, "10.9.9.9 shadow.example\n")
	waitFor(t, "hosts answer", func() bool {
		r := ask(t, d, newQuery("shadow.example.", dns.TypeA), "udp")
		return len(r.Answer) == 1 && r.Answer[0].(*dns.A).A.String() == "10.9.9.9"
	})
	for range 3 {
		r := ask(t, d, newQuery("Shadow.Example.", dns.TypeA), "udp")
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.9.9.9" || !r.Authoritative {
			t.Fatalf("after new hosts data: %v", r)
		}
	}
}

// TestFastPathOffWithLogQueries: every answer is logged, so none may skip
// the pipeline.
func TestFastPathOffWithLogQueries(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1", 3600))
	cfg := upstreamCfg(up.addr)
	cfg.LogQueries = true
	d := startDNSD(t, cfg, "", instanceOptions{})
	for range 4 {
		ask(t, d, newQuery("logged.example.", dns.TypeA), "udp")
	}
	if st := d.server.st.Load().cache.Stats(); st.FastHits != 0 || st.Hits != 3 {
		t.Errorf("stats %+v, want 3 hits, none fast", st)
	}
	waitFor(t, "three cached lines", func() bool { return strings.Count(d.log.String(), "cached logged.example is 192.0.2.1") == 3 })
}

// TestFastPathRepliesFromAskedAddress: on a wildcard socket, cached
// answers written by the batch loop leave from the address the client
// asked, like every other reply.
func TestFastPathRepliesFromAskedAddress(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1", 3600))
	sock, port := wildcardUDP(t, false)
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{sockets: []workerproc.Socket{sock}})
	for _, a := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		dst := netip.AddrPortFrom(netip.MustParseAddr(a), port)
		for i := range 4 {
			r, from, ok := askFrom(t, dst, "wild.example.", 5*time.Second)
			if !ok || from.Addr() != dst.Addr() || len(r.Answer) != 1 {
				t.Fatalf("query %d to %s: reply %v from %s (ok %v)", i, dst, r, from, ok)
			}
		}
	}
	if st := d.server.st.Load().cache.Stats(); st.FastHits < 6 {
		t.Errorf("fast path not used: %+v", st)
	}
}

// TestBatchLoopManyClients: a burst from many sockets at once is read in
// batches and every client gets its own reply.
func TestBatchLoopManyClients(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1", 3600))
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{})
	ask(t, d, newQuery("burst.example.", dns.TypeA), "udp")
	ask(t, d, newQuery("burst.example.", dns.TypeA), "udp")
	const clients = 100
	conns := make([]*net.UDPConn, clients)
	for i := range conns {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(d.udpAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range conns {
		m := newQuery("burst.example.", dns.TypeA)
		m.Id = uint16(i)
		wire, _ := m.Pack()
		if _, err := c.Write(wire); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 512)
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:n]); err != nil || r.Id != uint16(i) || len(r.Answer) != 1 {
			t.Fatalf("client %d: %v %v", i, r, err)
		}
	}
	if up.queries() != 1 {
		t.Errorf("upstream saw %d queries", up.queries())
	}
}

// BenchmarkFastAnswer is the fast path alone: parse, look up, copy and
// patch. It must not allocate.
func BenchmarkFastAnswer(b *testing.B) {
	up := startUpstream(b, answerA("192.0.2.1", 3600))
	d := startDNSD(b, upstreamCfg(up.addr), "", instanceOptions{})
	ask(b, d, newQuery("www.example.com.", dns.TypeA), "udp")
	ask(b, d, newQuery("www.example.com.", dns.TypeA), "udp") // confirms
	raw, _ := newQuery("www.example.com.", dns.TypeA).Pack()
	st := d.server.st.Load()
	var q cache.Query
	buf := make([]byte, 0, fastReplyMax)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := d.server.fastAnswer(st, raw, &q, buf, st.cache.Now()); !ok {
			b.Fatal("not answered by the fast path")
		}
	}
}

func TestSockaddrRoundTrip(t *testing.T) {
	for _, s := range []string{"192.0.2.1:53", "[2001:db8::1]:5353", "[::ffff:192.0.2.1]:1", "[fe80::1%7]:65535"} {
		ap := netip.MustParseAddrPort(s)
		var sa unix.RawSockaddrInet6
		n := putSockaddr(&sa, ap)
		if got := sockaddrAddrPort(&sa); got != ap {
			t.Errorf("%s: round trip gives %s", s, got)
		}
		want := uint32(unix.SizeofSockaddrInet6)
		if ap.Addr().Is4() {
			want = unix.SizeofSockaddrInet4
		}
		if n != want {
			t.Errorf("%s: length %d, want %d", s, n, want)
		}
	}
}

// TestForwardedRepliesBatched: many clients whose queries are all
// forwarded at once each get their own answer through the reply sender.
func TestForwardedRepliesBatched(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1", 3600))
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{})
	const clients = 60
	conns := make([]*net.UDPConn, clients)
	for i := range conns {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(d.udpAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range conns {
		m := newQuery(fmt.Sprintf("n%d.forwarded.example.", i), dns.TypeA)
		m.Id = uint16(i)
		wire, _ := m.Pack()
		if _, err := c.Write(wire); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 512)
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:n]); err != nil || r.Id != uint16(i) || len(r.Answer) != 1 ||
			r.Question[0].Name != fmt.Sprintf("n%d.forwarded.example.", i) {
			t.Fatalf("client %d: %v %v", i, r, err)
		}
	}
	if up.queries() != clients {
		t.Errorf("upstream saw %d queries, want %d", up.queries(), clients)
	}
}

// TestFastPathHonoursLocalService: with local-service, a cached answer is
// still never given to a client the pipeline would ignore.
func TestFastPathHonoursLocalService(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1", 3600))
	cfg := upstreamCfg(up.addr)
	cfg.LocalService = ipcpb.LocalService_LOCAL_SERVICE_HOST // loopback clients only
	d := startDNSD(t, cfg, "", instanceOptions{})
	for range 3 {
		ask(t, d, newQuery("local.example.", dns.TypeA), "udp") // cached and confirmed
	}
	st := d.server.st.Load()
	if !st.fast.valid(st) {
		t.Fatal("fast path off with local-service")
	}
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(d.udpAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The loop runs in this goroutine, on a server of its own holding the
	// same state, so that its log (local-service logs the first stranger)
	// is closed here too.
	s := newServer(&syncBuffer{})
	defer s.log.close()
	s.st.Store(st)
	l, err := newUDPLoop(s, conn, false)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := newQuery("local.example.", dns.TypeA).Pack()
	for _, tc := range []struct {
		client   string
		answered bool
	}{{"127.0.0.1:4000", true}, {"192.0.2.7:4000", false}} {
		copy(l.recvBuf[0][:], raw)
		l.recvHdr[0].Len = uint32(len(raw))
		l.recvHdr[0].Hdr.Flags = 0
		putSockaddr(&l.recvName[0], netip.MustParseAddrPort(tc.client))
		hits := st.cache.Stats().FastHits
		l.process(1)
		if answered := l.nsend == 1; answered != tc.answered {
			t.Errorf("client %s: answered %v, want %v", tc.client, answered, tc.answered)
		}
		if tc.answered && st.cache.Stats().FastHits != hits+1 {
			t.Errorf("client %s: not answered by the fast path", tc.client)
		}
		l.nsend = 0
		clear(l.sendData[:])
	}
}
