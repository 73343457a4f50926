package dnsd

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func msgWith(rcode int, rrs ...string) *dns.Msg {
	m := new(dns.Msg)
	m.Rcode = rcode
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	return m
}

// withSOA adds a negative answer's SOA to the authority section.
func withSOA(m *dns.Msg) *dns.Msg {
	soa, err := dns.NewRR("arpa. 60 IN SOA ns.test. h.test. 1 2 3 4 60")
	if err != nil {
		panic(err)
	}
	m.Ns = append(m.Ns, soa)
	return m
}

// TestAnswerLines: the lines dnsmasq 2.90 logged for the same answers
// (captured from dnsmasq --log-queries against a crafted upstream).
func TestAnswerLines(t *testing.T) {
	q := func(name string, t uint16) dns.Question {
		return dns.Question{Name: name, Qtype: t, Qclass: dns.ClassINET}
	}
	tests := []struct {
		q    dns.Question
		m    *dns.Msg
		want []string
	}{
		{q("mx.x.", dns.TypeMX), msgWith(0, "mx.x. 300 IN MX 10 mail.test."), []string{"reply mx.x is <MX>"}},
		{q("srv.x.", dns.TypeSRV), msgWith(0, "srv.x. 300 IN SRV 1 2 3 t.test."), []string{"reply srv.x is <SRV>"}},
		{q("ns.x.", dns.TypeNS), msgWith(0, "ns.x. 300 IN NS a.test.", "ns.x. 300 IN NS b.test."), []string{"reply ns.x is <NS>", "reply ns.x is <NS>"}},
		{q("cname.x.", dns.TypeA), msgWith(0, "cname.x. 300 IN CNAME t1.test.", "t1.test. 300 IN CNAME t2.test.", "t2.test. 300 IN A 1.2.3.4", "t2.test. 300 IN A 1.2.3.5"),
			[]string{"reply cname.x is <CNAME>", "reply t1.test is <CNAME>", "reply t2.test is 1.2.3.4", "reply t2.test is 1.2.3.5"}},
		{q("cn.test.", dns.TypeA), msgWith(0, "cn.test. 300 IN CNAME priv.test."), []string{"reply cn.test is <CNAME>", "reply priv.test is NODATA-IPv4"}},
		{q("txt.x.", dns.TypeTXT), msgWith(0, `txt.x. 300 IN TXT "a b" "c"`, `txt.x. 300 IN TXT "second"`), []string{"reply txt.x is a b", "reply txt.x is c", "reply txt.x is second"}},
		{q("nodata.x.", dns.TypeA), msgWith(0), []string{"reply nodata.x is NODATA-IPv4"}},
		{q("nodata.x.", dns.TypeAAAA), msgWith(0), []string{"reply nodata.x is NODATA-IPv6"}},
		{q("nodata.x.", dns.TypeMX), msgWith(0), []string{"reply nodata.x is NODATA"}},
		{q("nx.x.", dns.TypeA), msgWith(dns.RcodeNameError), []string{"reply nx.x is NXDOMAIN"}},
		{q("WwW.x.", dns.TypeA), msgWith(0, "www.X. 300 IN CNAME Other.x.", "Other.x. 300 IN A 192.0.2.1"), []string{"reply WwW.x is <CNAME>", "reply Other.x is 192.0.2.1"}},
		{q("dangling.x.", dns.TypeA), msgWith(dns.RcodeNameError, "dangling.x. 300 IN CNAME nowhere.x."),
			[]string{"reply dangling.x is <CNAME>", "reply nowhere.x is NXDOMAIN"}},
		// A negative PTR answer with an SOA is logged as dnsmasq's reverse
		// cache entry: the address; without SOA, the name.
		{q("9.2.0.192.in-addr.arpa.", dns.TypePTR), withSOA(msgWith(dns.RcodeNameError)), []string{"reply 192.0.2.9 is NXDOMAIN"}},
		{q("9.2.0.192.in-addr.arpa.", dns.TypePTR), withSOA(msgWith(0)), []string{"reply 192.0.2.9 is NODATA-IPv4"}},
		{q("2.0.192.in-addr.arpa.", dns.TypePTR), withSOA(msgWith(0)), []string{"reply 192.0.2.0 is NODATA-IPv4"}},
		{q("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", dns.TypePTR), withSOA(msgWith(dns.RcodeNameError)), []string{"reply 2001:db8::1 is NXDOMAIN"}},
		{q("x.in-addr.arpa.", dns.TypePTR), withSOA(msgWith(0)), []string{"reply x.in-addr.arpa is NODATA"}},
		{q("9.2.0.192.in-addr.arpa.", dns.TypePTR), msgWith(dns.RcodeNameError), []string{"reply 9.2.0.192.in-addr.arpa is NXDOMAIN"}},
		{q("9.2.0.192.in-addr.arpa.", dns.TypeTXT), msgWith(dns.RcodeNameError), []string{"reply 9.2.0.192.in-addr.arpa is NXDOMAIN"}},
		{q("sf.x.", dns.TypeA), msgWith(dns.RcodeServerFailure), []string{"reply error is SERVFAIL"}},
		{q("rf.x.", dns.TypeA), msgWith(dns.RcodeRefused), []string{"reply error is REFUSED"}},
		{q("fe.x.", dns.TypeA), msgWith(dns.RcodeFormatError), []string{"reply error is 1"}},
		{q("ni.x.", dns.TypeA), msgWith(dns.RcodeNotImplemented), []string{"reply error is not implemented"}},
		{q("yx.x.", dns.TypeA), msgWith(dns.RcodeYXDomain), []string{"reply error is 6"}},
		{q("mixed.x.", dns.TypeANY), msgWith(0, "mixed.x. 300 IN A 1.1.1.1", "mixed.x. 300 IN AAAA ::1", "mixed.x. 300 IN MX 5 m.test.", "mixed.x. 300 IN TXT hi"),
			[]string{"reply mixed.x is <A>", "reply mixed.x is <AAAA>", "reply mixed.x is <MX>", "reply mixed.x is <TXT>"}},
		{q("mixed.x.", dns.TypeA), msgWith(0, "mixed.x. 300 IN A 1.1.1.1", "mixed.x. 300 IN AAAA ::1", "mixed.x. 300 IN MX 5 m.test.", "mixed.x. 300 IN TXT hi"),
			[]string{"reply mixed.x is 1.1.1.1", "reply mixed.x is <AAAA>", "reply mixed.x is <MX>", "reply mixed.x is <TXT>"}},
		{q("ptr.x.", dns.TypePTR), msgWith(0, "ptr.x. 300 IN PTR host.test."), []string{"reply host.test is <PTR>"}},
		{q("8.8.8.8.in-addr.arpa.", dns.TypePTR), msgWith(0, "8.8.8.8.in-addr.arpa. 300 IN PTR rev.test."), []string{"reply 8.8.8.8 is rev.test"}},
		{q("caa.x.", dns.TypeCAA), msgWith(0, `caa.x. 300 IN CAA 0 issue "ca.test"`), []string{"reply caa.x is <CAA>"}},
		{q("cname.x.", dns.TypeANY), msgWith(0, "cname.x. 300 IN CNAME t1.test.", "t1.test. 300 IN CNAME t2.test.", "t2.test. 300 IN A 1.2.3.4"),
			[]string{"reply cname.x is <CNAME>", "reply t1.test is <CNAME>", "reply t2.test is <A>"}},
		{q("v6.x.", dns.TypeAAAA), msgWith(0, "v6.x. 300 IN AAAA 2001:4860::1"), []string{"reply v6.x is 2001:4860::1"}},
		{q(".", dns.TypeNS), msgWith(0), []string{"reply . is NODATA"}},
		{q("x.", 65280), msgWith(0, "x. 300 IN TYPE65280 \\# 1 00"), []string{"reply x is <type=65280>"}},
	}
	for _, tt := range tests {
		got := answerLines("reply", tt.q, tt.m)
		if tt.m.Rcode == dns.RcodeSuccess && len(tt.m.Answer) == 0 && !tt.m.Truncated {
			// A truncated copy of an empty answer logs nothing.
			tc := tt.m.Copy()
			tc.Truncated = true
			if l := answerLines("reply", tt.q, tc); l != nil {
				t.Errorf("%s: truncated reply logged %q", tt.q.String(), l)
			}
		}
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", tt.q.String(), got, tt.want)
		}
	}
	for typ, want := range map[uint16]string{65280: "type=65280", 0: "type=0", 65535: "type=65535", 23: "NSAP_PTR", 11: "WKS", dns.TypeHTTPS: "HTTPS"} {
		if got := logType(typ); got != want {
			t.Errorf("logType(%d) = %q, want %q", typ, got, want)
		}
	}
	// Local answers to ANY show their addresses; local negative PTR
	// answers keep the name.
	anyQ := q("ads.test.", dns.TypeANY)
	if got := answerLines("config", anyQ, msgWith(0, "ads.test. 0 IN A 10.9.9.9", "ads.test. 0 IN MX 1 m.test.")); strings.Join(got, "|") != "config ads.test is 10.9.9.9|config ads.test is <MX>" {
		t.Errorf("config ANY: %q", got)
	}
	if got := answerLines("config", q("9.2.0.192.in-addr.arpa.", dns.TypePTR), withSOA(msgWith(dns.RcodeNameError))); strings.Join(got, "|") != "config 9.2.0.192.in-addr.arpa is NXDOMAIN" {
		t.Errorf("config negative PTR: %q", got)
	}
	for label, want := range map[string]string{"10.0.0.1(via eth0)": "10.0.0.1", "10.0.0.1#5353": "10.0.0.1#5353", "fe80::1%eth0": "fe80::1%eth0"} {
		if got := forwardLabel(label); got != want {
			t.Errorf("forwardLabel(%q) = %q, want %q", label, got, want)
		}
	}
	if edeText(14) != "not ready" || edeText(23) != "network error" || edeText(200) != "unknown" {
		t.Error("edeText")
	}
}

// TestLogQueriesExtra: with log-queries=extra every line of a query
// starts with its serial number and the client's address/port, as in
// "3 127.0.0.1/40123 forwarded example.com to 127.0.0.1#5300".
func TestLogQueriesExtra(t *testing.T) {
	up := startUpstream(t, answerA("1.2.3.4", 300))
	cfg := upstreamCfg(up.addr)
	cfg.LogQueries, cfg.LogExtra = true, true
	d := startDNSD(t, cfg, "10.0.0.1 host.lan\n", instanceOptions{})
	ask(t, d, newQuery("example.com.", dns.TypeA), "udp")
	ask(t, d, newQuery("host.lan.", dns.TypeA), "tcp")
	ask(t, d, chaosQuery("version.bind.", dns.TypeTXT), "udp")
	label := "127.0.0.1#" + strconv.Itoa(int(up.addr.Port()))
	want := []string{
		"1 query[A] example.com from 127.0.0.1",
		"1 forwarded example.com to " + label,
		"1 reply example.com is 1.2.3.4",
		"2 query[A] host.lan from 127.0.0.1",
		"2 /etc/hosts host.lan is 10.0.0.1",
		"3 query[TXT] version.bind from 127.0.0.1",
		"3 config version.bind is <TXT>",
	}
	waitFor(t, "log lines", func() bool { return strings.Count(d.log.String(), "\n") >= len(want) })
	re := regexp.MustCompile(`^(\d+) 127\.0\.0\.1/(\d+) (.*)$`)
	ports := map[string]string{}
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(d.log.String(), "\n"), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line without the extra prefix: %q", line)
			continue
		}
		if p, ok := ports[m[1]]; ok && p != m[2] {
			t.Errorf("serial %s has two client ports: %s and %s", m[1], p, m[2])
		}
		ports[m[1]] = m[2]
		got = append(got, m[1]+" "+m[3])
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// stuckWriter blocks every Write until released.
type stuckWriter struct {
	release chan struct{}
	mu      sync.Mutex
	buf     strings.Builder
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// TestLogNeverBlocks: with the writer stuck, printf still returns at once;
// lines beyond the queue are dropped, counted, and reported as dnsmasq's
// log-async does.
func TestLogNeverBlocks(t *testing.T) {
	w := &stuckWriter{release: make(chan struct{})}
	l := newAsyncLog(w)
	// More than the queue and the writer's first batch (64 KiB) hold.
	const n = 3 * logQueueLen
	pad := strings.Repeat("x", 100)
	done := make(chan struct{})
	go func() {
		for i := range n {
			l.printf("line %d %s", i, pad)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("printf blocked on a stuck writer")
	}
	if l.dropped.Load() == 0 {
		t.Fatal("no line dropped with a stuck writer")
	}
	close(w.release)
	l.close()
	w.mu.Lock()
	out := w.buf.String()
	w.mu.Unlock()
	if !regexp.MustCompile(`(?m)^overflow: \d+ log entries lost$`).MatchString(out) {
		t.Errorf("no overflow line in the log output (%d bytes)", len(out))
	}
	written := strings.Count(out, "line ")
	if uint64(written)+l.dropped.Load() != n {
		t.Errorf("%d written + %d dropped != %d", written, l.dropped.Load(), n)
	}
}

// TestLogClientIPv6: addresses print without brackets or zones.
func TestLogClientIPv6(t *testing.T) {
	if got := logClient(netip.MustParseAddrPort("[fe80::1%eth0]:53")); got != "fe80::1" {
		t.Errorf("logClient = %q", got)
	}
}
