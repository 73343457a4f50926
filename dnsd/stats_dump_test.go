package dnsd

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/cache"
)

// TestCacheDump: cached answers become dnsmasq's per-record dump lines.
func TestCacheDump(t *testing.T) {
	c := cache.New(cache.Options{Size: 100})
	put := func(name string, qtype uint16, rcode int, answers ...string) {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.Response, m.Rcode = true, rcode
		for _, a := range answers {
			rr, err := dns.NewRR(a)
			if err != nil {
				t.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		if len(answers) == 0 {
			soa, _ := dns.NewRR("test. 60 IN SOA ns.test. h.test. 1 2 3 4 60")
			m.Ns = append(m.Ns, soa)
		}
		if !c.Put(m.Question[0], m) {
			t.Fatalf("not cached: %s", name)
		}
	}
	put("www.test.", dns.TypeA, dns.RcodeSuccess, "www.test. 300 IN A 192.0.2.1")
	put("www.test.", dns.TypeAAAA, dns.RcodeSuccess, "www.test. 300 IN AAAA 2001:db8::1")
	put("alias.test.", dns.TypeA, dns.RcodeSuccess, "alias.test. 300 IN CNAME www.test.", "www.test. 300 IN A 192.0.2.1")
	put("1.2.0.192.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "1.2.0.192.in-addr.arpa. 300 IN PTR www.test.")
	put("mx.test.", dns.TypeMX, dns.RcodeSuccess, "mx.test. 300 IN MX 10 mail.test.")
	put("missing.test.", dns.TypeA, dns.RcodeNameError)
	put("nodata.test.", dns.TypeAAAA, dns.RcodeSuccess)

	var got []string
	for _, e := range cacheDump(c) {
		got = append(got, e.GetName()+"|"+e.GetData()+"|"+e.GetFlags())
		if e.GetExpires() == 0 {
			t.Errorf("%s: no expiry", e.GetName())
		}
	}
	slices.Sort(got)
	want := []string{
		"alias.test|www.test|CF        ",
		"missing.test|| F   NX   ",
		"mx.test|<MX>|TF        ",
		"nodata.test||6F   N    ",
		"test|<SOA>|TF        ",
		"www.test|192.0.2.1|4 R       ",
		"www.test|192.0.2.1|4F        ",
		"www.test|2001:db8::1|6F        ",
	}
	if !slices.Equal(got, want) {
		t.Errorf("dump\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if cacheDump(nil) != nil {
		t.Error("a nil cache dumps something")
	}
}

// TestTCPGauge: "highest since last SIGUSR1" restarts from the current
// count at each report.
func TestTCPGauge(t *testing.T) {
	var g tcpGauge
	g.open()
	g.open()
	g.open()
	g.close()
	if in, hi := g.report(); in != 2 || hi != 3 {
		t.Errorf("report = %d, %d; want 2, 3", in, hi)
	}
	g.close()
	if in, hi := g.report(); in != 1 || hi != 2 {
		t.Errorf("second report = %d, %d; want 1, 2", in, hi)
	}
}
