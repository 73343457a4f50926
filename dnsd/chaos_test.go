package dnsd

import (
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func chaosQuery(name string, qtype uint16) *dns.Msg {
	q := newQuery(name, qtype)
	q.Question[0].Qclass = dns.ClassCHAOS
	return q
}

func txtOf(t *testing.T, r *dns.Msg) []string {
	t.Helper()
	if len(r.Answer) != 1 {
		t.Fatalf("want one TXT record, got %v", r)
	}
	txt, ok := r.Answer[0].(*dns.TXT)
	if !ok || txt.Hdr.Class != dns.ClassCHAOS || txt.Hdr.Ttl != 0 {
		t.Fatalf("want a CH TXT record with TTL 0, got %v", r.Answer[0])
	}
	return txt.Txt
}

// TestChaosNames: the *.bind names dnsmasq 2.90 answers (checked with
// dig @dnsmasq CH TXT ...), NOTIMP for the rest of bind and server, and
// the counters kube-dns reads.
func TestChaosNames(t *testing.T) {
	up := startCrafted(t, map[string][]string{"a.example.": {"a.example. 60 IN A 8.8.8.8"}})
	cfg := upstreamCfg(up.addr)
	cfg.Version = "moat-9.9"
	cfg.LogQueries = true
	d := startDNSD(t, cfg, "10.0.0.1 host.lan\n", instanceOptions{})
	ask(t, d, newQuery("a.example.", dns.TypeA), "udp") // a miss, forwarded
	ask(t, d, newQuery("a.example.", dns.TypeA), "udp") // a cache hit
	ask(t, d, newQuery("host.lan.", dns.TypeA), "udp")  // local data

	tests := []struct {
		name  string
		qtype uint16
		want  []string // nil: NOTIMP
	}{
		{"version.bind.", dns.TypeTXT, []string{"moat-9.9"}},
		{"VERSION.Bind.", dns.TypeANY, []string{"moat-9.9"}},
		{"authors.bind.", dns.TypeTXT, []string{chaosAuthors}},
		{"copyright.bind.", dns.TypeTXT, []string{chaosCopyright}},
		{"cachesize.bind.", dns.TypeTXT, []string{"150"}},
		{"insertions.bind.", dns.TypeTXT, []string{"1"}},
		{"evictions.bind.", dns.TypeTXT, []string{"0"}},
		{"misses.bind.", dns.TypeTXT, []string{"1"}},
		// the cache hit, the hosts answer and nine CHAOS answers so
		// far, this one included (dnsmasq counts it too)
		{"hits.bind.", dns.TypeTXT, []string{"11"}},
		{"auth.bind.", dns.TypeTXT, []string{"0"}},
		{"servers.bind.", dns.TypeTXT, []string{"127.0.0.1#" + strconv.Itoa(int(up.addr.Port())) + " 1 0"}}, // one query sent, none failed
		{"hostname.bind.", dns.TypeTXT, nil},
		{"x.version.bind.", dns.TypeTXT, nil},
		{"bind.", dns.TypeTXT, nil},
		{"version.bind.", dns.TypeA, nil},
		{"id.server.", dns.TypeTXT, nil},
		{"hostname.server.", dns.TypeTXT, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name+dns.TypeToString[tt.qtype], func(t *testing.T) {
			before := up.queries()
			r := ask(t, d, chaosQuery(tt.name, tt.qtype), "udp")
			if up.queries() != before {
				t.Error("a CHAOS bind/server query was forwarded")
			}
			if tt.want == nil {
				if r.Rcode != dns.RcodeNotImplemented || len(r.Answer) != 0 || r.Authoritative {
					t.Errorf("want NOTIMP, no AA, got %v", r)
				}
				return
			}
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
				t.Errorf("want NOERROR with AA, got %v", r)
			}
			if got := txtOf(t, r); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("TXT %q, want %q", got, tt.want)
			}
			if r.Answer[0].Header().Name != tt.name {
				t.Errorf("owner %q, want the question's spelling %q", r.Answer[0].Header().Name, tt.name)
			}
		})
	}
	for _, line := range []string{
		"query[TXT] version.bind from 127.0.0.1",
		"config version.bind is <TXT>",
		"config hostname.bind is not implemented (EDE: unknown)",
	} {
		waitFor(t, "log "+line, func() bool { return strings.Contains(d.log.String(), line+"\n") })
	}
	// Other CHAOS names are forwarded, like dnsmasq.
	before := up.queries()
	ask(t, d, chaosQuery("a.example.", dns.TypeTXT), "udp")
	if up.queries() == before {
		t.Error("CH TXT a.example was not forwarded")
	}
}

func TestNoIdent(t *testing.T) {
	cfg := upstreamCfg()
	cfg.NoIdent = true
	d := startDNSD(t, cfg, "", instanceOptions{})
	for _, name := range []string{"version.bind.", "cachesize.bind.", "id.server."} {
		if r := ask(t, d, chaosQuery(name, dns.TypeTXT), "udp"); r.Rcode != dns.RcodeNotImplemented {
			t.Errorf("%s with no-ident: rcode %s, want NOTIMP", name, dns.RcodeToString[r.Rcode])
		}
	}
}
