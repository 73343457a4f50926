package dnsd

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// routeOf names the route of key: "local", "none", or the servers'
// labels joined by ",".
func routeOf(c *runConfig, key string) string {
	r := c.route(key)
	if r.local {
		return "local"
	}
	if len(r.servers) == 0 {
		return "none"
	}
	var labels []string
	for _, u := range r.servers {
		labels = append(labels, u.label)
	}
	return strings.Join(labels, ",")
}

// TestRouteMatching follows dnsmasq 2.90's lookup_domain: the longest
// matching suffix wins; a plain domain matches on label boundaries and
// beats a wildcard for the same suffix; a wildcard (/*dom/) also matches
// inside a label; /*.dom/ matches subdomains only; // is for single-label
// names; /dom/# sends a subtree back to the default servers.
func TestRouteMatching(t *testing.T) {
	ups := []*ipcpb.Upstream{
		{Address: "192.0.2.1:53"}, // default
		{Address: "192.0.2.2:53", Domains: []string{"google.com"}},
		{Address: "192.0.2.3:53", Domains: []string{"*google.com"}},
		{Address: "192.0.2.4:53", Domains: []string{"*.foo.com"}},
		{Address: "192.0.2.5:53", Domains: []string{"www.google.com"}},
		{Address: "192.0.2.6:53", Domains: []string{""}},
		{Address: "192.0.2.7:53", Domains: []string{"corp.example"}},
		{Address: "192.0.2.8:53", Domains: []string{"#"}},
		{Address: "192.0.2.9:53", Domains: []string{"8.b.d.0.1.0.0.2.ip6.arpa", "1.168.192.in-addr.arpa"}},
	}
	table := []*ipcpb.Upstream{
		{Local: true, Domains: []string{"lan", "*.ads.example"}},
		{UseStandard: true, Domains: []string{"pub.corp.example"}},
		{Address: "192.0.2.10:5353", Domains: []string{"lan"}, Interface: "lo"}, // local wins
		{Address: "192.0.2.11:53", Domains: []string{"*bar.example"}},
		{UseStandard: true, Domains: []string{"*open.bar.example"}},
	}
	c, err := newRunConfig(&ipcpb.DNSConfig{Upstreams: ups})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.buildUpstreams(c.upstream.source, table, nil); err != nil {
		t.Fatal(err)
	}
	def := "192.0.2.1,192.0.2.8"
	for key, want := range map[string]string{
		"google.com":               "192.0.2.2",
		"mail.google.com":          "192.0.2.2", // plain beats wildcard at a label boundary
		"supergoogle.com":          "192.0.2.3", // only the wildcard matches inside a label
		"a.supergoogle.com":        "192.0.2.3",
		"www.google.com":           "192.0.2.5",
		"x.www.google.com":         "192.0.2.5",
		"foo.com":                  def, // /*.foo.com/ is subdomains only
		"a.foo.com":                "192.0.2.4",
		"a.b.foo.com":              "192.0.2.4",
		"xfoo.com":                 def,
		"printer":                  "192.0.2.6",
		"example":                  "192.0.2.6",
		"host.corp.example":        "192.0.2.7",
		"pub.corp.example":         def,
		"www.pub.corp.example":     def,
		"lan":                      "local",
		"nas.lan":                  "local",
		"x.ads.example":            "local",
		"ads.example":              def,
		"bar.example":              "192.0.2.11",
		"foobar.example":           "192.0.2.11",
		"open.bar.example":         def,
		"reopen.bar.example":       def,
		"x.1.168.192.in-addr.arpa": "192.0.2.9",
		"www.example":              def,
	} {
		if got := routeOf(c, key); got != want {
			t.Errorf("route(%q) = %s, want %s", key, got, want)
		}
	}
	if got := c.route("nas.lan"); got.local != true {
		t.Errorf("nas.lan not local")
	}
	if len(c.upstream.servers) != 11 {
		t.Errorf("%d distinct servers, want 11", len(c.upstream.servers))
	}
}

func TestUpstreamEntriesRejected(t *testing.T) {
	for _, u := range []*ipcpb.Upstream{
		{Address: "192.0.2.1"},
		{Address: "[fe80::1%eth0]:53"},
		{Address: "192.0.2.1:53", SourceAddress: "::1"},
		{Address: "192.0.2.1:53", SourceAddress: "bogus"},
		{Address: "192.0.2.1:53", Interface: "a/b"},
		{Address: "192.0.2.1:53", Domains: []string{"*."}},
		{Address: "192.0.2.1:53", Domains: []string{"bad..name"}},
		{Local: true},
	} {
		c, err := newRunConfig(&ipcpb.DNSConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.buildUpstreams(c.upstream.source, []*ipcpb.Upstream{u}, nil); err == nil {
			t.Errorf("%v accepted", u)
		}
	}
}

// TestUpstreamTableInstall: servers arrive in TABLE_UPSTREAMS after the
// DNSConfig, a new table replaces the old one, and a server in both keeps
// its counters.
func TestUpstreamTableInstall(t *testing.T) {
	a := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.1", 0))
	b := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.2", 0))
	corp := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.3", 0))
	d := startDNSD(t, &ipcpb.DNSConfig{Generation: 1, CacheSize: 0}, "", instanceOptions{})
	if r := ask(t, d, newQuery("x.example.", dns.TypeA), "udp"); r.Rcode != dns.RcodeRefused {
		t.Fatalf("no servers yet: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	d.sendUpstreamTable(t, 1, []*ipcpb.Upstream{
		{Address: a.addr.String(), Source: "/etc/resolv.conf"},
		{Address: corp.addr.String(), Domains: []string{"corp"}, Source: "/etc/servers:1"},
	})
	waitFor(t, "the table", func() bool { return len(d.server.upstreamStats()) == 2 })
	if got := firstA(ask(t, d, newQuery("y.example.", dns.TypeA), "udp")); got != "10.0.0.1" {
		t.Errorf("default: %q", got)
	}
	if got := firstA(ask(t, d, newQuery("h.corp.", dns.TypeA), "udp")); got != "10.0.0.3" {
		t.Errorf("corp: %q", got)
	}
	// resolv.conf changed: b replaces a; corp stays with its counters.
	d.sendUpstreamTable(t, 2, []*ipcpb.Upstream{
		{Address: b.addr.String(), Source: "/etc/resolv.conf"},
		{Address: corp.addr.String(), Domains: []string{"corp"}, Source: "/etc/servers:1"},
	})
	waitFor(t, "the new table", func() bool {
		st := d.server.upstreamStats()
		return len(st) == 2 && st[0].Addr == b.addr
	})
	if got := firstA(ask(t, d, newQuery("z.example.", dns.TypeA), "udp")); got != "10.0.0.2" {
		t.Errorf("after the change: %q", got)
	}
	if st := statFor(t, d.server, corp.addr); st.Sent != 1 || st.Answered != 1 {
		t.Errorf("corp lost its counters: %+v", st)
	}
	// A new DNSConfig keeps the table.
	d.sendConfig(t, &ipcpb.DNSConfig{Generation: 3, CacheSize: 0, StrictOrder: true})
	waitFor(t, "the new config", func() bool { return d.server.st.Load().cfg.upstream.policy.strictOrder })
	if got := firstA(ask(t, d, newQuery("w.example.", dns.TypeA), "udp")); got != "10.0.0.2" {
		t.Errorf("after a new DNSConfig: %q", got)
	}
}

func TestUpstreamStatsAPI(t *testing.T) {
	ok := startRecUpstream(t, "127.0.0.1", func(q *dns.Msg) *dns.Msg {
		if strings.HasPrefix(q.Question[0].Name, "nx.") {
			m := new(dns.Msg)
			m.SetRcode(q, dns.RcodeNameError)
			return m
		}
		return aReply(q, "10.0.0.1")
	})
	cfg := policyCfg(func(c *ipcpb.DNSConfig) { c.StrictOrder, c.CacheSize = true, 0 }, ok.addr)
	cfg.Upstreams = append(cfg.Upstreams, &ipcpb.Upstream{Address: ok.addr.String(), Domains: []string{"corp"}})
	d := startDNSD(t, cfg, "", instanceOptions{})
	ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
	ask(t, d, newQuery("nx.example.", dns.TypeA), "udp")
	ask(t, d, newQuery("h.corp.", dns.TypeA), "udp")
	stats := d.server.upstreamStats()
	if len(stats) != 1 {
		t.Fatalf("%d entries for one server listed twice: %+v", len(stats), stats)
	}
	st := stats[0]
	if st.Addr != ok.addr || st.Label != serverLabel(ok.addr) || st.Sent != 3 || st.Answered != 3 ||
		st.NXDomain != 1 || st.Failed != 0 || st.Retried != 0 || st.Looped {
		t.Errorf("stats %+v", st)
	}
}

// FuzzRoute checks route against a plain reading of dnsmasq's rule: of
// every rule that matches the name (a plain domain on a label boundary, a
// wildcard suffix anywhere), the longest suffix wins, a plain rule before
// a wildcard of the same suffix.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"google.com", "supergoogle.com", "a.b.foo.com", "x", "com", "ogle.com", ".com"} {
		f.Add(s)
	}
	rules := map[string]string{ // configured domain -> server
		"google.com": "192.0.2.1:53", "*google.com": "192.0.2.2:53", "*.foo.com": "192.0.2.3:53",
		"b.foo.com": "192.0.2.4:53", "*o.com": "192.0.2.5:53", "com": "192.0.2.6:53",
	}
	var ups []*ipcpb.Upstream
	for d, a := range rules {
		ups = append(ups, &ipcpb.Upstream{Address: a, Domains: []string{d}})
	}
	ups = append(ups, &ipcpb.Upstream{Address: "192.0.2.9:53"})
	c, err := newRunConfig(&ipcpb.DNSConfig{Upstreams: ups})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if len(key) > 300 {
			return
		}
		got := c.route(key)
		best, bestLen, bestWild := "192.0.2.9:53", -1, true
		for d, a := range rules {
			wild := strings.HasPrefix(d, "*")
			suffix := strings.TrimPrefix(d, "*")
			var ok bool
			if wild {
				ok = strings.HasSuffix(key, suffix)
			} else {
				ok = key == d || strings.HasSuffix(key, "."+d)
			}
			if !ok || key == "" {
				continue
			}
			if len(suffix) > bestLen || len(suffix) == bestLen && bestWild && !wild {
				best, bestLen, bestWild = a, len(suffix), wild
			}
		}
		if len(got.servers) != 1 || got.servers[0].addr.String() != best {
			t.Fatalf("route(%q) = %v, want %s", key, got.servers, best)
		}
	})
}
