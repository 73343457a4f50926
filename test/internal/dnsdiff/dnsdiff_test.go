package dnsdiff

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestParseQuery(t *testing.T) {
	cases := []struct {
		spec    string
		check   func(Query) bool
		wantErr string
	}{
		{"www.example.test", func(q Query) bool {
			return q.Name == "www.example.test." && q.Type == dns.TypeA && q.Class == dns.ClassINET && !q.TCP && !q.EDNS && q.TTL == DefaultTTLRule
		}, ""},
		{"+tcp +norec x.test AAAA", func(q Query) bool { return q.TCP && q.NoRD && q.Type == dns.TypeAAAA }, ""},
		{"version.bind TXT CH", func(q Query) bool { return q.Type == dns.TypeTXT && q.Class == dns.ClassCHAOS }, ""},
		{"x.test TYPE65400 CLASS42", func(q Query) bool { return q.Type == 65400 && q.Class == 42 }, ""},
		{"+edns x.test", func(q Query) bool { return q.EDNS && q.UDPSize == DefaultUDPSize }, ""},
		{"+edns=4096 +do x.test", func(q Query) bool { return q.EDNS && q.UDPSize == 4096 && q.DO }, ""},
		{"+ednsver=1 x.test", func(q Query) bool { return q.EDNS && q.EDNSVersion == 1 }, ""},
		{"+ednsopt=65001:abcd x.test", func(q Query) bool {
			return q.EDNS && len(q.EDNSOptions) == 1 && q.EDNSOptions[0].Code == 65001 && string(q.EDNSOptions[0].Data) == "\xab\xcd"
		}, ""},
		{"+opcode=notify x.test SOA", func(q Query) bool { return q.Opcode == dns.OpcodeNotify }, ""},
		{"+opcode=15 x.test", func(q Query) bool { return q.Opcode == 15 }, ""},
		{"+ttl=exact x.test", func(q Query) bool { return q.TTL == TTLRule{} }, ""},
		{"+ttl=any x.test", func(q Query) bool { return q.TTL.Ignore }, ""},
		{"+ttl=5 x.test", func(q Query) bool { return q.TTL.Tolerance == 5 }, ""},
		{"+noquestion", func(q Query) bool { return q.NoQuestion && q.Name == "" }, ""},
		{"+qr +cd +ad +noupstream x.test", func(q Query) bool { return q.QR && q.CD && q.AD && q.IgnoreUpstream }, ""},
		{"+copies=5 +from=10.0.0.1 +srcaddr +srcport=1-2 x.test", func(q Query) bool {
			return q.Copies == 5 && q.From.String() == "10.0.0.1" && q.SourceAddr && q.SourcePort && q.PortRange == [2]uint16{1, 2}
		}, ""},
		{"+copies=0 x.test", nil, "copies"},
		{"+srcport=9-1 x.test", nil, "port range"},
		{"+from=nowhere x.test", nil, "source address"},
		{"", nil, "no name"},
		{"+bogus x.test", nil, "unknown option"},
		{"+opcode=16 x.test", nil, "opcode"},
		{"+ttl=soon x.test", nil, "exact, any"},
		{"x.test A IN extra", nil, "got 4 words"},
		{"x.test NOTATYPE", nil, "neither a type nor a class"},
		{"+ednsopt=1:zz x.test", nil, "option data"},
	}
	for _, c := range cases {
		q, err := ParseQuery(c.spec)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseQuery(%q) error = %v, want one containing %q", c.spec, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", c.spec, err)
			continue
		}
		if !c.check(q) {
			t.Errorf("ParseQuery(%q) = %+v", c.spec, q)
		}
	}
}

func TestQueryMsg(t *testing.T) {
	q, err := ParseQuery("+norec +do +edns=2048 +opcode=STATUS x.test MX")
	if err != nil {
		t.Fatal(err)
	}
	m := q.Msg(77)
	if m.Id != 77 || m.RecursionDesired || m.Opcode != dns.OpcodeStatus || len(m.Question) != 1 || m.Question[0].Qtype != dns.TypeMX {
		t.Errorf("message header/question wrong: %v", m)
	}
	opt := m.IsEdns0()
	if opt == nil || opt.UDPSize() != 2048 || !opt.Do() {
		t.Errorf("OPT = %v", opt)
	}
}

func rr(t *testing.T, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func reply(t *testing.T, rcode int, answers ...string) Result {
	m := new(dns.Msg)
	m.SetQuestion("x.test.", dns.TypeA)
	m.Response, m.RecursionAvailable, m.Rcode = true, true, rcode
	for _, a := range answers {
		m.Answer = append(m.Answer, rr(t, a))
	}
	return FromMsg(m, 0)
}

func fields(diffs []Diff) []string {
	var out []string
	for _, d := range diffs {
		out = append(out, d.Field)
	}
	return out
}

func TestCompare(t *testing.T) {
	q, _ := ParseQuery("x.test A")
	exact, _ := ParseQuery("+ttl=exact x.test A")
	anyTTL, _ := ParseQuery("+ttl=any x.test A")
	a2 := reply(t, dns.RcodeSuccess, "x.test. 300 IN A 192.0.2.1", "x.test. 300 IN A 192.0.2.2")
	a2swapped := reply(t, dns.RcodeSuccess, "x.test. 300 IN A 192.0.2.2", "x.test. 300 IN A 192.0.2.1")
	a2ttl := reply(t, dns.RcodeSuccess, "x.test. 299 IN A 192.0.2.2", "x.test. 299 IN A 192.0.2.1")
	a2far := reply(t, dns.RcodeSuccess, "x.test. 200 IN A 192.0.2.2", "x.test. 200 IN A 192.0.2.1")
	a1 := reply(t, dns.RcodeSuccess, "x.test. 300 IN A 192.0.2.1")
	nx := reply(t, dns.RcodeNameError)
	aa := a1
	aa.Flags = append(slices.Clone(aa.Flags), "aa")
	edns := a1
	edns.EDNS = &EDNS{UDPSize: 1232}
	up1 := a1
	up1.Upstream = []string{"up1: x.test. IN A udp | rd noedns"}
	up1edns := a1
	up1edns.Upstream = []string{"up1: x.test. IN A udp | rd edns=v0/1232"}
	timeout := Result{Err: "timeout"}

	cases := []struct {
		name string
		q    Query
		a, b Result
		want []string
	}{
		{"same", q, a2, a2, nil},
		{"order does not matter", q, a2, a2swapped, nil},
		{"ttl within a second", q, a2, a2ttl, nil},
		{"ttl exact", exact, a2, a2ttl, []string{FieldTTL}},
		{"ttl too far", q, a2, a2far, []string{FieldTTL}},
		{"ttl ignored", anyTTL, a2, a2far, nil},
		{"missing record", q, a2, a1, []string{FieldAnswer}},
		{"rcode and answer", q, a1, nx, []string{FieldRcode, FieldAnswer}},
		{"flags", q, a1, aa, []string{FieldFlags}},
		{"edns", q, a1, edns, []string{FieldEDNS}},
		{"one side silent", q, a1, timeout, []string{FieldReply}},
		{"both silent", q, timeout, timeout, nil},
		{"upstream asked on one side", q, a1, up1, []string{FieldUpstream}},
		{"upstream asked differently", q, up1, up1edns, []string{FieldUpstreamFlags}},
	}
	for _, c := range cases {
		if got := fields(Compare(c.q, c.a, c.b)); !slices.Equal(got, c.want) {
			t.Errorf("%s: differing fields %v, want %v", c.name, got, c.want)
		}
	}
	noUp, _ := ParseQuery("+noupstream x.test A")
	if d := Compare(noUp, a1, up1); len(d) != 0 {
		t.Errorf("+noupstream still compares upstream: %v", d)
	}
}

func TestSideBySideShowsBoth(t *testing.T) {
	a := reply(t, dns.RcodeSuccess, "x.test. 300 IN A 192.0.2.1")
	b := Result{Err: "timeout"}
	out := SideBySide("moat", "dnsmasq", a, b)
	for _, want := range []string{"moat", "dnsmasq", "192.0.2.1", "no reply: timeout", "NOERROR"} {
		if !strings.Contains(out, want) {
			t.Errorf("side-by-side lacks %q:\n%s", want, out)
		}
	}
}

const testZone = `
test.              SOA   ns.test. hostmaster.test. 1 3600 600 86400 60
www.example.test.  A     192.0.2.1
alias.example.test. CNAME www.example.test.
*.wild.example.test. A   192.0.2.77
txt.example.test.  TXT   "t"
`

func TestZoneAnswers(t *testing.T) {
	z, err := ParseZone(testZone + bigTXT())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		spec      string
		tcp       bool
		rcode     int
		answers   int
		authority int
		tc        bool
		noReply   bool
	}{
		{spec: "www.example.test A", answers: 1},
		{spec: "WWW.EXAMPLE.TEST A", answers: 1},
		{spec: "alias.example.test A", answers: 2},
		{spec: "www.example.test AAAA", authority: 1},
		{spec: "example.test A", authority: 1},
		{spec: "missing.example.test A", rcode: dns.RcodeNameError, authority: 1},
		{spec: "a.wild.example.test A", answers: 1},
		{spec: "www.example.test ANY", answers: 1},
		{spec: "servfail.example.test A", rcode: dns.RcodeServerFailure},
		{spec: "refused.x A", rcode: dns.RcodeRefused},
		{spec: "drop.example.test A", noReply: true},
		{spec: "tc.example.test A", tc: true},
		{spec: "www.example.test A CH", rcode: dns.RcodeRefused},
		{spec: "big.example.test TXT", tc: true, answers: 4},
		{spec: "big.example.test TXT", tcp: true, answers: 20},
		{spec: "+ednsver=1 www.example.test A", rcode: dns.RcodeBadVers},
		{spec: "+opcode=NOTIFY www.example.test SOA", rcode: dns.RcodeNotImplemented},
	}
	for _, c := range cases {
		q, err := ParseQuery(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		m := z.Answer(q.Msg(1), c.tcp)
		if c.noReply {
			if m != nil {
				t.Errorf("%s: reply %v, want none", c.spec, m)
			}
			continue
		}
		if m == nil {
			t.Errorf("%s: no reply", c.spec)
			continue
		}
		if m.Rcode != c.rcode || len(m.Answer) != c.answers || len(m.Ns) != c.authority || m.Truncated != c.tc || m.Authoritative || !m.RecursionAvailable {
			t.Errorf("%s (tcp %v): rcode %d answers %d authority %d tc %v aa %v ra %v; want rcode %d answers %d authority %d tc %v, RA and no AA",
				c.spec, c.tcp, m.Rcode, len(m.Answer), len(m.Ns), m.Truncated, m.Authoritative, m.RecursionAvailable, c.rcode, c.answers, c.authority, c.tc)
		}
	}
	if _, err := ParseZone("bad. IN A not-an-address\n"); err == nil {
		t.Error("ParseZone accepted a bad record")
	}
}

func bigTXT() string {
	var b strings.Builder
	for i := range 20 {
		b.WriteString("big.example.test. TXT \"" + strings.Repeat(string(rune('a'+i)), 100) + "\"\n")
	}
	return b.String()
}

// TestUpstreamOverLoopback runs the fake upstream on real sockets and asks
// it the way the differential harness does.
func TestUpstreamOverLoopback(t *testing.T) {
	z, err := ParseZone(testZone + bigTXT())
	if err != nil {
		t.Fatal(err)
	}
	u, err := ServeUpstream("127.0.0.1:0", z)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	addr := u.Addr()
	side := Side{Name: "one", Server: addr, Upstreams: []string{addr}}
	b := Batch{Sides: []Side{side}, Queries: []string{"www.example.test A", "+tcp +edns big.example.test TXT", "drop.example.test A", "+do alias.example.test A"}, Timeout: 300 * time.Millisecond}
	out, err := b.Run()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 4 {
		t.Fatalf("%d outcomes, want 4", len(out))
	}
	www := out[0].Results[0]
	if www.Err != "" || www.Rcode != "NOERROR" || len(www.Answer) != 1 || www.Answer[0].Text != "www.example.test. 0 IN A 192.0.2.1" || www.Answer[0].TTL != 300 {
		t.Errorf("www: %+v", www)
	}
	// The upstream sees the question itself (asked straight, here).
	if want := []string{"up1: www.example.test. IN A udp | rd noedns"}; !slices.Equal(www.Upstream, want) {
		t.Errorf("upstream asked %q, want %q", www.Upstream, want)
	}
	if big := out[1].Results[0]; big.Err != "" || len(big.Answer) != 20 || big.EDNS == nil || slices.Contains(big.Flags, "tc") {
		t.Errorf("big over TCP: %+v", big)
	}
	if drop := out[2].Results[0]; drop.Err != "timeout" {
		t.Errorf("drop: err %q, want timeout", drop.Err)
	}
	if do := out[3].Results[0]; do.EDNS == nil || !do.EDNS.DO || !strings.Contains(strings.Join(do.Upstream, ""), "edns=v0/1232/do") {
		t.Errorf("+do: %+v", do)
	}
	if err := Probe([]string{addr}, time.Second); err != nil {
		t.Errorf("probe: %v", err)
	}
}
