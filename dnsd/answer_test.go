package dnsd

import (
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const testHosts = `
192.168.1.10 Foo.lan foo
fd00::10 foo.lan
10.0.0.1 bar.lan
10.0.0.1 second.lan
`

func TestHostsAnswers(t *testing.T) {
	up := startUpstream(t, answerA("9.9.9.9", 300))
	cfg := upstreamCfg(up.addr)
	cfg.LocalTtl = 42
	d := startDNSD(t, cfg, testHosts, instanceOptions{})

	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		want   []string
		aa     bool
		upstrm bool // answered by the upstream, not from hosts
	}{
		{"A", "foo.lan.", dns.TypeA, []string{"foo.lan. 42 IN A 192.168.1.10"}, true, false},
		{"case kept in reply", "FOO.Lan.", dns.TypeA, []string{"FOO.Lan. 42 IN A 192.168.1.10"}, true, false},
		{"short name", "foo.", dns.TypeA, []string{"foo. 42 IN A 192.168.1.10"}, true, false},
		{"AAAA", "foo.lan.", dns.TypeAAAA, []string{"foo.lan. 42 IN AAAA fd00::10"}, true, false},
		{"ANY", "foo.lan.", dns.TypeANY, []string{"foo.lan. 42 IN A 192.168.1.10", "foo.lan. 42 IN AAAA fd00::10"}, true, false},
		{"PTR v4 first name wins", "1.0.0.10.in-addr.arpa.", dns.TypePTR, []string{"1.0.0.10.in-addr.arpa. 42 IN PTR bar.lan."}, true, false},
		{"PTR v6", "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR,
			[]string{"0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 42 IN PTR foo.lan."}, true, false},
		// dnsmasq 2.90 forwards a type the hosts name lacks.
		{"AAAA of an IPv4-only name is forwarded", "bar.lan.", dns.TypeAAAA, nil, false, true},
		{"MX of a hosts name is forwarded", "bar.lan.", dns.TypeMX, nil, false, true},
		{"unknown name is forwarded", "other.example.", dns.TypeA, []string{"other.example. 300 IN A 9.9.9.9"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.queries()
			r := ask(t, d, newQuery(tt.qname, tt.qtype), "udp")
			if got := answerStrings(r); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("answer = %q, want %q", got, tt.want)
			}
			if r.Rcode != dns.RcodeSuccess || r.Authoritative != tt.aa || !r.RecursionAvailable {
				t.Errorf("rcode %s aa %v ra %v", dns.RcodeToString[r.Rcode], r.Authoritative, r.RecursionAvailable)
			}
			if r.Question[0].Name != tt.qname {
				t.Errorf("question %q, want the client's spelling %q", r.Question[0].Name, tt.qname)
			}
			if forwarded := up.queries() > before; forwarded != tt.upstrm {
				t.Errorf("forwarded = %v, want %v", forwarded, tt.upstrm)
			}
		})
	}
}

func TestLocalDomain(t *testing.T) {
	up := startUpstream(t, answerA("9.9.9.9", 300))
	cfg := upstreamCfg(up.addr)
	cfg.LocalDomains = []string{"lan"}
	d := startDNSD(t, cfg, testHosts, instanceOptions{})
	tests := []struct {
		qname string
		qtype uint16
		rcode int
		n     int
		aa    bool
	}{
		{"bar.lan.", dns.TypeA, dns.RcodeSuccess, 1, true},
		{"bar.lan.", dns.TypeAAAA, dns.RcodeSuccess, 0, false}, // NODATA, as dnsmasq
		{"bar.lan.", dns.TypeMX, dns.RcodeSuccess, 0, false},
		{"nope.lan.", dns.TypeA, dns.RcodeNameError, 0, false},
		{"deep.nope.LAN.", dns.TypeTXT, dns.RcodeNameError, 0, false},
		{"lan.", dns.TypeSOA, dns.RcodeSuccess, 0, false}, // NODATA: bar.lan is below it, as dnsmasq 2.90 answers
	}
	for _, tt := range tests {
		r := ask(t, d, newQuery(tt.qname, tt.qtype), "udp")
		if r.Rcode != tt.rcode || len(r.Answer) != tt.n || r.Authoritative != tt.aa || len(r.Ns) != 0 {
			t.Errorf("%s %s: rcode %s, %d answers, aa %v, %d ns; want %s, %d, %v, 0", tt.qname, dns.TypeToString[tt.qtype],
				dns.RcodeToString[r.Rcode], len(r.Answer), r.Authoritative, len(r.Ns), dns.RcodeToString[tt.rcode], tt.n, tt.aa)
		}
	}
	if up.queries() != 0 {
		t.Errorf("%d queries for a local domain reached the upstream", up.queries())
	}
	// A name outside the local domain is still forwarded.
	if r := ask(t, d, newQuery("lan.example.", dns.TypeA), "udp"); len(r.Answer) != 1 || up.queries() != 1 {
		t.Errorf("lan.example: %v, upstream queries %d", r.Answer, up.queries())
	}
}

func TestNoUpstreamRefused(t *testing.T) {
	d := startDNSD(t, upstreamCfg(), "", instanceOptions{})
	r := ask(t, d, newQuery("example.com.", dns.TypeA), "udp")
	if r.Rcode != dns.RcodeRefused || r.Authoritative {
		t.Errorf("rcode %s aa %v, want REFUSED without AA (dnsmasq 2.90)", dns.RcodeToString[r.Rcode], r.Authoritative)
	}
}

func TestNotImplemented(t *testing.T) {
	up := startUpstream(t, answerA("9.9.9.9", 300))
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{})
	for _, op := range []int{dns.OpcodeNotify, dns.OpcodeUpdate, dns.OpcodeStatus, dns.OpcodeIQuery} {
		q := newQuery("example.com.", dns.TypeSOA)
		q.Opcode = op
		r := ask(t, d, q, "udp")
		if r.Rcode != dns.RcodeNotImplemented || r.Opcode != op || !r.Response {
			t.Errorf("opcode %s: rcode %s opcode %d", dns.OpcodeToString[op], dns.RcodeToString[r.Rcode], r.Opcode)
		}
	}
	if up.queries() != 0 {
		t.Errorf("non-QUERY opcodes forwarded")
	}
}

func TestMalformedDroppedServerGoesOn(t *testing.T) {
	d := startDNSD(t, upstreamCfg(), "10.0.0.1 bar.lan\n", instanceOptions{})
	conn, err := net.Dial("udp", d.udpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp := newQuery("bar.lan.", dns.TypeA)
	resp.Response = true
	respWire, _ := resp.Pack()
	two := newQuery("bar.lan.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	twoWire, _ := two.Pack()
	good, _ := newQuery("bar.lan.", dns.TypeA).Pack()
	bad := [][]byte{
		{0x12},                         // shorter than a header
		good[:len(good)-3],             // question cut short
		append(good[:12:12], 0xc0, 12), // compression pointer to itself: a loop
		good[:len(good)-4],             // a name without type and class
		good[:len(good)-2],             // a name and a type without class
		respWire,                       // a response, not a query
		twoWire,                        // two questions
		make([]byte, 600),              // zeros: header says nothing, question absent
	}
	for _, b := range bad {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	r := ask(t, d, newQuery("bar.lan.", dns.TypeA), "udp")
	if len(r.Answer) != 1 {
		t.Fatalf("answer after garbage: %v", r)
	}
	waitFor(t, fmt.Sprintf("malformed count %d", len(bad)), func() bool { return d.server.stats.malformed.Load() == uint64(len(bad)) })
}

func TestTCPServing(t *testing.T) {
	d := startDNSD(t, upstreamCfg(), testHosts, instanceOptions{})
	c, err := net.Dial("tcp", d.tcpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := &dns.Conn{Conn: c}
	for i, name := range []string{"foo.lan.", "bar.lan.", "second.lan.", "foo.lan."} {
		q := newQuery(name, dns.TypeA)
		if err := conn.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
		r, err := conn.ReadMsg()
		if err != nil {
			t.Fatalf("query %d on one connection: %v", i, err)
		}
		if r.Id != q.Id || len(r.Answer) != 1 || r.Answer[0].Header().Name != name {
			t.Errorf("query %d: %v", i, r)
		}
	}
}

func TestEDNS(t *testing.T) {
	cfg := upstreamCfg()
	cfg.EdnsPacketMax = 1400
	d := startDNSD(t, cfg, "10.0.0.1 bar.lan\n", instanceOptions{})
	q := newQuery("bar.lan.", dns.TypeA)
	q.SetEdns0(4096, false)
	r := ask(t, d, q, "udp")
	opt := r.IsEdns0()
	if opt == nil || opt.UDPSize() != 1400 {
		t.Errorf("reply OPT = %v, want UDP size 1400", opt)
	}
	q = newQuery("bar.lan.", dns.TypeA)
	q.SetEdns0(4096, false)
	q.IsEdns0().SetVersion(1)
	r = ask(t, d, q, "udp")
	if r.Rcode != dns.RcodeBadVers {
		t.Errorf("EDNS version 1: rcode %s, want BADVERS", dns.RcodeToString[r.Rcode])
	}
	if r := ask(t, d, newQuery("bar.lan.", dns.TypeA), "udp"); r.IsEdns0() != nil {
		t.Error("OPT in the reply to a query without EDNS")
	}
}

func TestLogQueriesFormat(t *testing.T) {
	up := startUpstream(t, answerA("1.2.3.4", 300))
	cfg := upstreamCfg(up.addr)
	cfg.LogQueries = true
	cfg.LocalDomains = []string{"loc"}
	d := startDNSD(t, cfg, testHosts, instanceOptions{})
	ask(t, d, newQuery("foo.lan.", dns.TypeA), "udp")
	ask(t, d, newQuery("1.0.0.10.in-addr.arpa.", dns.TypePTR), "udp")
	ask(t, d, newQuery("example.com.", dns.TypeA), "udp")
	ask(t, d, newQuery("example.com.", dns.TypeA), "udp")
	ask(t, d, newQuery("example.com.", dns.TypeAAAA), "udp")
	ask(t, d, newQuery("nx.loc.", dns.TypeA), "udp")
	label := "127.0.0.1#" + strconv.Itoa(int(up.addr.Port()))
	want := []string{
		"query[A] foo.lan from 127.0.0.1",
		"/etc/hosts foo.lan is 192.168.1.10",
		"query[PTR] 1.0.0.10.in-addr.arpa from 127.0.0.1",
		"/etc/hosts 10.0.0.1 is bar.lan",
		"query[A] example.com from 127.0.0.1",
		"forwarded example.com to " + label,
		"reply example.com is 1.2.3.4",
		"query[A] example.com from 127.0.0.1",
		"cached example.com is 1.2.3.4",
		"query[AAAA] example.com from 127.0.0.1",
		"forwarded example.com to " + label,
		"reply example.com is NODATA-IPv6",
		"query[A] nx.loc from 127.0.0.1",
		"config nx.loc is NXDOMAIN",
	}
	waitFor(t, "log lines", func() bool { return strings.Count(d.log.String(), "\n") >= len(want) })
	got := strings.Split(strings.TrimSuffix(d.log.String(), "\n"), "\n")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
