package dnsd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/cache"
)

// Tests of the dnsmasq 2.90 protocol details in compat_*.go, over
// loopback: truncation, the cache bypass for RD=0 and DO queries, the
// DO and AD bits upstream, FORMERR without a question, and the EDE of
// REFUSED for want of a server.

// seenQuery is what a compat upstream noted of one query it got.
type seenQuery struct {
	name               string
	rd, ad, cd, do, tc bool
}

// compatUpstream answers by first label: "many" 40 A records; "tcpart"
// over UDP TC with one record of two (over TCP both); "sig" an A record
// and, to a DO query, its RRSIG; anything else one A record. It notes
// every query.
type compatUpstream struct {
	*testUpstream
	mu   sync.Mutex
	seen []seenQuery
}

func startCompatUpstream(t *testing.T) *compatUpstream {
	t.Helper()
	u := &compatUpstream{}
	u.testUpstream = startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		q := r.Question[0]
		opt := r.IsEdns0()
		tcp := w.RemoteAddr().Network() == "tcp"
		u.mu.Lock()
		u.seen = append(u.seen, seenQuery{name: strings.ToLower(q.Name), rd: r.RecursionDesired, ad: r.AuthenticatedData,
			cd: r.CheckingDisabled, do: opt != nil && opt.Do(), tc: tcp})
		u.mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(r)
		if opt != nil {
			m.SetEdns0(1232, opt.Do())
		}
		a := func(i int) dns.RR {
			return &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
				A: net.IPv4(198, 51, 100, byte(i+1))}
		}
		first, _, _ := strings.Cut(strings.ToLower(q.Name), ".")
		switch first {
		case "many":
			for i := range 40 {
				m.Answer = append(m.Answer, a(i))
			}
		case "tcpart":
			m.Answer = []dns.RR{a(0), a(1)}
			if !tcp {
				m.Answer, m.Truncated = m.Answer[:1], true
			}
		case "sig":
			m.Answer = []dns.RR{a(0)}
			if opt != nil && opt.Do() {
				m.Answer = append(m.Answer, fakeRRSIG(q.Name))
			}
		default:
			m.Answer = []dns.RR{a(0)}
		}
		_ = w.WriteMsg(m)
	})
	return u
}

func fakeRRSIG(name string) dns.RR {
	return &dns.RRSIG{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 300},
		TypeCovered: dns.TypeA, Algorithm: dns.ECDSAP256SHA256, Labels: 2, OrigTtl: 300,
		Expiration: 2000000000, Inception: 1700000000, KeyTag: 1, SignerName: "example.", Signature: "AAAA"}
}

// last returns the last query the upstream got for name.
func (u *compatUpstream) last(t *testing.T, name string) seenQuery {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := len(u.seen) - 1; i >= 0; i-- {
		if u.seen[i].name == name {
			return u.seen[i]
		}
	}
	t.Fatalf("upstream never asked for %s", name)
	return seenQuery{}
}

// compatQuery builds a query for name A with the given bits; udpSize 0
// means no OPT record.
func compatQuery(name string, rd, ad, cd, do bool, udpSize uint16) *dns.Msg {
	m := newQuery(name, dns.TypeA)
	m.RecursionDesired, m.AuthenticatedData, m.CheckingDisabled = rd, ad, cd
	if udpSize > 0 || do {
		m.SetEdns0(max(udpSize, 512), do)
	}
	return m
}

func hasType(rrs []dns.RR, t uint16) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			return true
		}
	}
	return false
}

// manyHostsText gives manyhosts.test 60 addresses (about 1 KB of answer).
func manyHostsText() string {
	var b strings.Builder
	for i := range 60 {
		fmt.Fprintf(&b, "10.0.0.%d manyhosts.test\n", i+1)
	}
	return b.String()
}

// TestCompatTruncation: a reply too big for the client goes out with TC
// and empty sections (OPT kept), whether forwarded, cached, local, or
// truncated upstream; TCP and a big enough EDNS size get everything.
func TestCompatTruncation(t *testing.T) {
	up := startCompatUpstream(t)
	d := startDNSD(t, upstreamCfg(up.addr), manyHostsText(), instanceOptions{})
	cases := []struct {
		name    string
		qname   string
		udpSize uint16
		network string
		tc      bool
		answers int
	}{
		{"forwarded, no EDNS", "many.example.", 0, "udp", true, 0},
		{"cached, no EDNS", "many.example.", 0, "udp", true, 0},
		{"cached, EDNS 1232", "many.example.", 1232, "udp", false, 40},
		{"cached, EDNS 512", "many.example.", 512, "udp", true, 0},
		{"cached, TCP", "many.example.", 0, "tcp", false, 40},
		{"truncated upstream", "tcpart.example.", 1232, "udp", true, 0},
		{"truncated upstream, TCP", "tcpart.example.", 0, "tcp", false, 2},
		{"hosts, no EDNS", "manyhosts.test.", 0, "udp", true, 0},
		{"hosts, EDNS 1232", "manyhosts.test.", 1232, "udp", false, 60},
		{"hosts, TCP", "manyhosts.test.", 0, "tcp", false, 60},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ask(t, d, compatQuery(c.qname, true, false, false, false, c.udpSize), c.network)
			if r.Truncated != c.tc || len(r.Answer) != c.answers || len(r.Ns) != 0 || r.Rcode != dns.RcodeSuccess {
				t.Fatalf("tc %v, %d answers, %d authority, rcode %d; want tc %v, %d answers, none, NOERROR:\n%v",
					r.Truncated, len(r.Answer), len(r.Ns), r.Rcode, c.tc, c.answers, r)
			}
			if (r.IsEdns0() != nil) != (c.udpSize > 0) || len(r.Extra) != btoi(c.udpSize > 0) {
				t.Fatalf("additional section %v, want the OPT record only when the query had one", r.Extra)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestCompatCacheBypass: queries without RD and queries with DO are
// forwarded every time, on the fast path too, with their bits; local
// data still answers them; the reply to a DO query echoes DO and is
// cached, without its signatures, for queries without DO.
func TestCompatCacheBypass(t *testing.T) {
	up := startCompatUpstream(t)
	d := startDNSD(t, upstreamCfg(up.addr), "10.1.1.1 local.test\n", instanceOptions{})
	for range 5 {
		ask(t, d, newQuery("www.example.", dns.TypeA), "udp")
	}
	if st := d.server.st.Load().cache.Stats(); st.FastHits < 2 {
		t.Fatalf("fast path not used: %+v", st)
	}
	cases := []struct {
		name          string
		qname         string
		rd, ad, do    bool
		network       string
		upstream      bool // the query reaches the upstream
		rrsig, answer bool
	}{
		{"RD=0 of a cached name", "www.example.", false, false, false, "udp", true, false, true},
		{"RD=0 again", "www.example.", false, false, false, "udp", true, false, true},
		{"RD=0 over TCP", "www.example.", false, false, false, "tcp", true, false, true},
		{"RD=1 still cached", "www.example.", true, false, false, "udp", false, false, true},
		{"RD=0 of hosts data", "local.test.", false, false, false, "udp", false, false, true},
		{"DO of hosts data", "local.test.", true, false, true, "udp", false, false, true},
		{"DO of a cached name", "www.example.", true, false, true, "udp", true, false, true},
		{"DO, signed", "sig.example.", true, false, true, "udp", true, true, true},
		{"DO, signed, again", "sig.example.", true, false, true, "udp", true, true, true},
		{"without DO after DO: cached, no RRSIG", "sig.example.", true, false, false, "udp", false, false, true},
		{"DO over TCP", "sig.example.", true, false, true, "tcp", true, true, true},
		{"AD", "ad.example.", true, true, false, "udp", true, false, true},
		{"AD and DO, RD=0", "ad2.example.", false, true, true, "udp", true, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := up.queries()
			q := compatQuery(c.qname, c.rd, c.ad, false, c.do, 0)
			r := ask(t, d, q, c.network)
			if got := up.queries() > before; got != c.upstream {
				t.Fatalf("upstream asked: %v, want %v", got, c.upstream)
			}
			if r.RecursionDesired != c.rd || (len(r.Answer) > 0) != c.answer || hasType(r.Answer, dns.TypeRRSIG) != c.rrsig || r.AuthenticatedData {
				t.Fatalf("reply %v", r)
			}
			if opt := r.IsEdns0(); c.do && (opt == nil || !opt.Do()) {
				t.Fatalf("DO not echoed: %v", r)
			}
			if c.upstream {
				s := up.last(t, c.qname)
				if s.rd != c.rd || s.ad != c.ad || s.do != c.do || s.tc != (c.network == "tcp") {
					t.Fatalf("upstream got %+v", s)
				}
			}
		})
	}
}

// rawExchange sends wire to d over network and returns the reply, or
// ok false when none comes within wait (UDP) or the server closes the
// connection (TCP).
func rawExchange(t *testing.T, d *dnsdInstance, network string, wire []byte, wait time.Duration) ([]byte, bool) {
	t.Helper()
	addr := d.udpAddr
	if network == "tcp" {
		addr = d.tcpAddr
	}
	c, err := net.DialTimeout(network, addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	if network == "tcp" {
		wire = append(binary.BigEndian.AppendUint16(nil, uint16(len(wire))), wire...)
	}
	if _, err := c.Write(wire); err != nil {
		t.Fatal(err)
	}
	if network == "tcp" {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, false
			}
			t.Fatalf("read: %v", err)
		}
		buf := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("read: %v", err)
		}
		return buf, true
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, false
	}
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n], true
}

// TestCompatNoQuestion: a query without a question gets FORMERR, the
// header only, over UDP and TCP; one with two questions gets nothing.
func TestCompatNoQuestion(t *testing.T) {
	up := startCompatUpstream(t)
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{})
	cases := []struct {
		network    string
		edns       bool
		rd, cd, ad bool
	}{
		{"udp", false, true, false, false},
		{"udp", true, true, false, false},
		{"udp", false, false, true, true},
		{"tcp", false, true, false, false},
		{"tcp", true, false, true, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s edns=%v rd=%v cd=%v ad=%v", c.network, c.edns, c.rd, c.cd, c.ad), func(t *testing.T) {
			q := &dns.Msg{}
			q.Id = dns.Id()
			q.RecursionDesired, q.CheckingDisabled, q.AuthenticatedData = c.rd, c.cd, c.ad
			if c.edns {
				q.SetEdns0(1232, false)
			}
			wire, err := q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			raw, ok := rawExchange(t, d, c.network, wire, 5*time.Second)
			if !ok {
				t.Fatal("no reply")
			}
			r := new(dns.Msg)
			if err := r.Unpack(raw); err != nil {
				t.Fatal(err)
			}
			if len(raw) != 12 || r.Id != q.Id || r.Rcode != dns.RcodeFormatError || !r.Response || !r.RecursionAvailable ||
				r.RecursionDesired != c.rd || r.CheckingDisabled != c.cd || r.AuthenticatedData || r.Authoritative {
				t.Fatalf("%d bytes: %v", len(raw), r)
			}
		})
	}
	if up.queries() != 0 {
		t.Errorf("%d queries upstream, want none", up.queries())
	}

	two := newQuery("www.example.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	wire, err := two.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if raw, ok := rawExchange(t, d, "tcp", wire, 5*time.Second); ok {
		t.Fatalf("two questions over TCP: reply % x", raw)
	}
	// Over UDP: no reply to the two questions; the query that follows
	// on the same socket is the one answered.
	c, err := net.Dial("udp", d.udpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	next := newQuery("www.example.", dns.TypeA)
	next.Id = two.Id + 1
	nextWire, _ := next.Pack()
	for _, w := range [][]byte{wire, nextWire} {
		if _, err := c.Write(w); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if id := binary.BigEndian.Uint16(buf[:n]); id != next.Id {
		t.Fatalf("reply with id %d, want %d (the two-question query %d gets none)", id, next.Id, two.Id)
	}
}

// TestCompatRefusedNotReady: REFUSED for want of a server carries EDE 14
// ("Not Ready") for an EDNS client, and no OPT record for the others.
func TestCompatRefusedNotReady(t *testing.T) {
	d := startDNSD(t, upstreamCfg(), "", instanceOptions{})
	for _, network := range []string{"udp", "tcp"} {
		for _, edns := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s edns=%v", network, edns), func(t *testing.T) {
				var size uint16
				if edns {
					size = 1232
				}
				r := ask(t, d, compatQuery("www.example.", true, false, false, false, size), network)
				if r.Rcode != dns.RcodeRefused {
					t.Fatalf("rcode %d, want REFUSED: %v", r.Rcode, r)
				}
				opt := r.IsEdns0()
				if (opt != nil) != edns {
					t.Fatalf("OPT %v, want one: %v", opt, edns)
				}
				if !edns {
					return
				}
				if len(opt.Option) != 1 {
					t.Fatalf("options %v, want one EDE", opt.Option)
				}
				if e, ok := opt.Option[0].(*dns.EDNS0_EDE); !ok || e.InfoCode != dns.ExtendedErrorCodeNotReady || e.ExtraText != "" {
					t.Fatalf("option %v, want EDE 14 without text", opt.Option[0])
				}
			})
		}
	}
}

// TestCacheBypass: the predicate both cache paths share.
func TestCacheBypass(t *testing.T) {
	for _, c := range []struct{ rd, do, bypass bool }{
		{true, false, false}, {false, false, true}, {true, true, true}, {false, true, true},
	} {
		if got := cacheBypass(c.rd, c.do); got != c.bypass {
			t.Errorf("cacheBypass(rd %v, do %v) = %v", c.rd, c.do, got)
		}
	}
}

// TestFastPathBypass: the fast path takes no query the cache must not
// answer. Its parser refuses DO (fastBypassesCache relies on that) and
// the predicate refuses RD=0.
func TestFastPathBypass(t *testing.T) {
	cases := []struct {
		name           string
		rd, do, bypass bool
		udpSize        uint16
	}{
		{"plain", true, false, false, 0},
		{"EDNS", true, false, false, 1232},
		{"RD=0", false, false, true, 0},
		{"RD=0, EDNS", false, false, true, 1232},
		{"DO", true, true, true, 1232},
		{"DO, RD=0", false, true, true, 1232},
	}
	for _, c := range cases {
		wire, err := compatQuery("www.example.", c.rd, false, false, c.do, c.udpSize).Pack()
		if err != nil {
			t.Fatal(err)
		}
		var q cache.Query
		taken := cache.ParseQuery(wire, &q) && !fastBypassesCache(&q)
		if taken == c.bypass {
			t.Errorf("%s: fast path takes it: %v", c.name, taken)
		}
	}
}

// TestWithoutDNSSEC: what the cache keeps of the reply to a DO query.
func TestWithoutDNSSEC(t *testing.T) {
	a := &dns.A{Hdr: dns.RR_Header{Name: "x.example.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(192, 0, 2, 1)}
	sig := fakeRRSIG("x.example.")
	nsec := &dns.NSEC{Hdr: dns.RR_Header{Name: "x.example.", Rrtype: dns.TypeNSEC, Class: dns.ClassINET}, NextDomain: "y.example."}
	nsec3 := &dns.NSEC3{Hdr: dns.RR_Header{Name: "h.example.", Rrtype: dns.TypeNSEC3, Class: dns.ClassINET}}
	cases := []struct {
		name  string
		in    []dns.RR
		qtype uint16
		want  []dns.RR
	}{
		{"nothing to drop", []dns.RR{a}, dns.TypeA, []dns.RR{a}},
		{"signature dropped", []dns.RR{a, sig}, dns.TypeA, []dns.RR{a}},
		{"denial dropped", []dns.RR{sig, nsec, a, nsec3}, dns.TypeA, []dns.RR{a}},
		{"asked-for type kept", []dns.RR{sig, nsec}, dns.TypeRRSIG, []dns.RR{sig}},
		{"empty", nil, dns.TypeA, nil},
	}
	for _, c := range cases {
		got := withoutDNSSEC(c.in, c.qtype)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPackForClient: the size rules of packForClient, without a network.
func TestPackForClient(t *testing.T) {
	build := func(n int, edns, tc bool) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("many.example.", dns.TypeA)
		m.Response, m.Truncated = true, tc
		for i := range n {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "many.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(192, 0, 2, byte(i))})
		}
		if edns {
			m.SetEdns0(1232, false)
		}
		return m
	}
	cases := []struct {
		name       string
		msg        *dns.Msg
		max        int
		tc         bool
		answers    int
		compressed bool
	}{
		{"fits uncompressed", build(3, false, false), 512, false, 3, false},
		{"fits compressed only", build(25, false, false), 512, false, 25, true},
		{"too big", build(40, false, false), 512, true, 0, false},
		{"too big, OPT kept", build(40, true, false), 512, true, 0, false},
		{"TC from upstream", build(2, true, true), 1232, true, 0, false},
		{"big enough", build(40, true, false), 1232, false, 40, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			edns := c.msg.IsEdns0() != nil
			answers := len(c.msg.Answer)
			out, err := packForClient(c.msg, c.max)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.msg.Answer) != answers {
				t.Fatalf("the message lost records: %d of %d left", len(c.msg.Answer), answers)
			}
			r := new(dns.Msg)
			if err := r.Unpack(out); err != nil {
				t.Fatal(err)
			}
			if len(out) > c.max || r.Truncated != c.tc || len(r.Answer) != c.answers || (r.IsEdns0() != nil) != edns {
				t.Fatalf("%d bytes, tc %v, %d answers, OPT %v", len(out), r.Truncated, len(r.Answer), r.IsEdns0() != nil)
			}
			uncompressed := r.Copy()
			uncompressed.Compress = false
			if plain, _ := uncompressed.Pack(); (len(plain) != len(out)) != c.compressed {
				t.Fatalf("compressed %v, want %v", len(plain) != len(out), c.compressed)
			}
		})
	}
}

// TestCompatTruncationPerWaiter: clients waiting on one upstream query
// each get the reply their size allows: truncating it for a client
// without EDNS takes nothing from the one with a big EDNS buffer.
func TestCompatTruncationPerWaiter(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	u := startRecUpstream(t, "127.0.0.1", func(q *dns.Msg) *dns.Msg {
		<-release
		m := new(dns.Msg)
		m.SetReply(q)
		for i := range 40 {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(10, 0, 0, byte(i))})
		}
		return m
	})
	d := startDNSD(t, upstreamCfg(u.addr), "", instanceOptions{})
	type result struct {
		size uint16
		r    *dns.Msg
	}
	results := make(chan result, 2)
	for i, size := range []uint16{0, 1232} {
		go func() {
			results <- result{size, ask(t, d, compatQuery("held.example.", true, false, false, false, size), "udp")}
		}()
		if i == 0 {
			waitFor(t, "the first query upstream", func() bool { return u.count() == 1 })
		}
	}
	waitFor(t, "the second query joined", func() bool { return d.server.up.joined.Load() == 1 })
	free()
	for range 2 {
		res := <-results
		want := map[uint16]int{0: 0, 1232: 40}[res.size]
		if len(res.r.Answer) != want || res.r.Truncated != (want == 0) {
			t.Errorf("EDNS size %d: tc %v, %d answers; want %d", res.size, res.r.Truncated, len(res.r.Answer), want)
		}
	}
}
