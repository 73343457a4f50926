package dnsd

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// craftedUpstream answers from a table of names to records (zone-file
// lines): the records of the type asked for and CNAMEs (every record for
// ANY); a name not in the table gets NXDOMAIN. It records every query.
type craftedUpstream struct {
	*testUpstream
	mu   sync.Mutex
	seen []*dns.Msg
}

func startCrafted(t *testing.T, zone map[string][]string) *craftedUpstream {
	t.Helper()
	c := &craftedUpstream{}
	c.testUpstream = startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		c.mu.Lock()
		c.seen = append(c.seen, r.Copy())
		c.mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(r)
		lines, ok := zone[strings.ToLower(r.Question[0].Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, l := range lines {
			rr, err := dns.NewRR(l)
			if err != nil {
				panic(err)
			}
			if qt := r.Question[0].Qtype; qt == dns.TypeANY || rr.Header().Rrtype == qt || rr.Header().Rrtype == dns.TypeCNAME {
				m.Answer = append(m.Answer, rr)
			}
		}
		m.SetEdns0(4096, false)
		_ = w.WriteMsg(m)
	})
	return c
}

func (c *craftedUpstream) lastQuery() *dns.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) == 0 {
		return nil
	}
	return c.seen[len(c.seen)-1]
}

func ednsQuery(name string, qtype uint16) *dns.Msg {
	q := newQuery(name, qtype)
	q.SetEdns0(1232, false)
	return q
}

func edeCode(m *dns.Msg) int {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return int(e.InfoCode)
			}
		}
	}
	return -1
}

// TestQueryFilters: domain-needed, bogus-priv and filterwin2k answer
// without asking upstream, as dnsmasq 2.90 does (rcode, AA and the log
// line checked against dnsmasq); what they do not cover is forwarded.
func TestQueryFilters(t *testing.T) {
	up := startCrafted(t, map[string][]string{
		"plain.":                    {"plain. 60 IN A 192.0.2.1"},
		"5.1.168.192.in-addr.arpa.": {"5.1.168.192.in-addr.arpa. 60 IN PTR priv.example."},
		"4.3.2.1.in-addr.arpa.":     {"4.3.2.1.in-addr.arpa. 60 IN PTR pub.example."},
		"_ldap._tcp.example.com.":   {"_ldap._tcp.example.com. 60 IN SRV 0 0 389 dc.example.com."},
		"example.com.":              {"example.com. 60 IN A 192.0.2.2"},
		"5.1.168.10.in-addr.arpa.":  {"5.1.168.10.in-addr.arpa. 60 IN TXT hi"},
		"1.0.0.127.in-addr.arpa.":   {"1.0.0.127.in-addr.arpa. 60 IN PTR localhost."},
		"x.10.in-addr.arpa.":        {"x.10.in-addr.arpa. 60 IN PTR odd."},
		"b.d.0.1.0.0.2.ip6.arpa.":   {"b.d.0.1.0.0.2.ip6.arpa. 60 IN PTR doc."},
		"1.0.64.100.in-addr.arpa.":  {"1.0.64.100.in-addr.arpa. 60 IN PTR cgnat."},
		"1.0.16.172.in-addr.arpa.":  {"1.0.16.172.in-addr.arpa. 60 IN PTR x."},
		"1.0.32.172.in-addr.arpa.":  {"1.0.32.172.in-addr.arpa. 60 IN PTR x."},
		"_win._udp.example.com.":    {"_win._udp.example.com. 60 IN TXT w"},
		"168.192.in-addr.arpa.":     {"168.192.in-addr.arpa. 60 IN PTR zone."},
		"1.0.168.192.in-addr.arpa.": {"1.0.168.192.in-addr.arpa. 60 IN PTR exempt."},
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa.": {"x. 60 IN PTR ll."},
	})
	cfg := upstreamCfg(up.addr)
	cfg.DomainNeeded, cfg.BogusPriv, cfg.Filterwin2K, cfg.LogQueries = true, true, true, true
	d := startDNSD(t, cfg, "192.168.1.9 known.lan\n", instanceOptions{})
	// A server= with an address for a reverse zone takes bogus-priv's
	// names under it; server=/dom/# does not.
	d.sendUpstreamTable(t, 2, []*ipcpb.Upstream{
		{Address: up.addr.String(), Source: "server"},
		{Address: up.addr.String(), Domains: []string{"0.168.192.in-addr.arpa"}, Source: "server"},
		{Domains: []string{"16.172.in-addr.arpa"}, UseStandard: true, Source: "server"},
	})
	waitFor(t, "the upstream table", func() bool {
		// upstream's NXDOMAIN has no AA; bogus-priv's has
		return !ask(t, d, newQuery("2.0.168.192.in-addr.arpa.", dns.TypePTR), "udp").Authoritative
	})
	tests := []struct {
		name      string
		qtype     uint16
		rcode     int
		aa        bool
		forwarded bool
		log       string // a line the log must have
	}{
		{"plain.", dns.TypeA, dns.RcodeNameError, false, false, "config plain is NXDOMAIN"},
		{"plain.", dns.TypeAAAA, dns.RcodeNameError, false, false, "config plain is NXDOMAIN"},
		{"plain.", dns.TypeANY, dns.RcodeNameError, false, false, "config plain is NXDOMAIN"},
		{"plain.", dns.TypeMX, dns.RcodeSuccess, false, true, ""},
		{".", dns.TypeNS, dns.RcodeNameError, false, true, ""},
		{"example.com.", dns.TypeA, dns.RcodeSuccess, false, true, ""},
		{"5.1.168.192.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, true, false, "config 192.168.1.5 is NXDOMAIN"},
		{"5.1.168.10.in-addr.arpa.", dns.TypeANY, dns.RcodeNameError, true, false, "config 10.168.1.5 is NXDOMAIN"},
		{"5.1.168.10.in-addr.arpa.", dns.TypeTXT, dns.RcodeSuccess, false, true, ""},
		{"1.0.0.127.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, true, false, "config 127.0.0.1 is NXDOMAIN"},
		{"168.192.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, true, false, "config 192.168.0.0 is NXDOMAIN"},
		{"1.0.16.172.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, true, false, ""},
		{"1.0.32.172.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, false, true, ""},
		{"1.0.64.100.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, false, true, ""},
		{"x.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, false, true, ""},
		{"8.b.d.0.1.0.0.2.ip6.arpa.", dns.TypePTR, dns.RcodeNameError, true, false, "config 2001:db8:: is NXDOMAIN"},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa.", dns.TypePTR, dns.RcodeNameError, true, false, "config fe80::1 is NXDOMAIN"},
		{"4.3.2.1.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, false, true, ""},
		{"1.0.168.192.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, false, true, ""},
		{"9.1.168.192.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, true, false, ""}, // the hosts data knows it
		{"example.com.", dns.TypeSOA, dns.RcodeSuccess, true, false, "config example.com is NODATA"},
		{"_ldap._tcp.example.com.", dns.TypeSRV, dns.RcodeSuccess, true, false, "config _ldap._tcp.example.com is NODATA"},
		{"_win._udp.example.com.", dns.TypeANY, dns.RcodeSuccess, true, false, ""},
		{"_win._udp.example.com.", dns.TypeTXT, dns.RcodeSuccess, false, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
			before := up.queriesFor(tt.name, tt.qtype)
			r := ask(t, d, newQuery(tt.name, tt.qtype), "udp")
			if r.Rcode != tt.rcode || r.Authoritative != tt.aa {
				t.Errorf("rcode %s aa %v, want %s aa %v", dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[tt.rcode], tt.aa)
			}
			if forwarded := up.queriesFor(tt.name, tt.qtype) > before; forwarded != tt.forwarded {
				t.Errorf("forwarded %v, want %v", forwarded, tt.forwarded)
			}
			if tt.log != "" {
				waitFor(t, "log line "+tt.log, func() bool { return strings.Contains(d.log.String(), tt.log+"\n") })
			}
		})
	}
}

// TestReplyFilters: bogus-nxdomain, stop-dns-rebind (with its
// exemptions) and filter-rr / filter-A / filter-AAAA applied to crafted
// upstream answers.
func TestReplyFilters(t *testing.T) {
	zone := map[string][]string{
		"bogus.example.":   {"bogus.example. 60 IN A 64.94.110.11"},
		"bogus6.example.":  {"bogus6.example. 60 IN AAAA 2001:db8:bad::1"},
		"wild.example.":    {"wild.example. 60 IN A 198.18.7.7"},
		"good.example.":    {"good.example. 60 IN A 192.0.2.200"}, // test-net: private for rebind
		"pub.example.":     {"pub.example. 60 IN A 8.8.8.8", "pub.example. 60 IN AAAA 2606:4700::1"},
		"priv.example.":    {"priv.example. 60 IN A 192.168.1.5"},
		"lo.example.":      {"lo.example. 60 IN A 127.0.0.2"},
		"zero.example.":    {"zero.example. 60 IN A 0.0.0.0"},
		"ula.example.":     {"ula.example. 60 IN AAAA fd00::1"},
		"mapped.example.":  {"mapped.example. 60 IN AAAA ::ffff:10.1.1.1"},
		"cgnat.example.":   {"cgnat.example. 60 IN A 100.64.1.1"},
		"chain.example.":   {"chain.example. 60 IN CNAME t.other.", "t.other. 60 IN A 10.9.9.9"},
		"ok.lan.":          {"ok.lan. 60 IN A 192.168.7.7"},
		"sub.ok.lan.":      {"sub.ok.lan. 60 IN A 192.168.7.8"},
		"mx.example.":      {"mx.example. 60 IN MX 10 mail.example."},
		"txt.example.":     {"txt.example. 60 IN TXT hello"},
		"mixed.example.":   {"mixed.example. 60 IN A 8.8.4.4", "mixed.example. 60 IN AAAA 2606:4700::2", "mixed.example. 60 IN MX 5 m.example.", "mixed.example. 60 IN TXT t", "mixed.example. 60 IN CNAME c.example."},
		"anypriv.example.": {"anypriv.example. 60 IN A 10.0.0.1"},
	}
	up := startCrafted(t, zone)
	type check struct {
		name    string
		qtype   uint16
		rcode   int
		answers int
		ede     int
		log     string
	}
	tests := []struct {
		name   string
		config func(c *ipcpb.DNSConfig)
		checks []check
	}{
		{"bogus-nxdomain", func(c *ipcpb.DNSConfig) {
			c.BogusNxdomain = []string{"64.94.110.11/32", "2001:db8:bad::/48", "198.18.0.0/15"}
		}, []check{
			{"bogus.example.", dns.TypeA, dns.RcodeNameError, 0, -1, "config bogus.example is NXDOMAIN"},
			{"bogus6.example.", dns.TypeAAAA, dns.RcodeNameError, 0, -1, ""},
			{"wild.example.", dns.TypeA, dns.RcodeNameError, 0, -1, ""},
			{"pub.example.", dns.TypeA, dns.RcodeSuccess, 1, -1, "reply pub.example is 8.8.8.8"},
		}},
		{"stop-dns-rebind", func(c *ipcpb.DNSConfig) {
			c.StopDnsRebind = true
			c.RebindDomainOk = []string{"ok.lan"}
		}, []check{
			{"priv.example.", dns.TypeA, dns.RcodeSuccess, 0, edeBlocked, "possible DNS-rebind attack detected: priv.example"},
			{"good.example.", dns.TypeA, dns.RcodeSuccess, 0, edeBlocked, ""},
			{"lo.example.", dns.TypeA, dns.RcodeSuccess, 0, edeBlocked, ""},
			{"zero.example.", dns.TypeA, dns.RcodeSuccess, 0, edeBlocked, ""},
			{"ula.example.", dns.TypeAAAA, dns.RcodeSuccess, 0, edeBlocked, ""},
			{"mapped.example.", dns.TypeAAAA, dns.RcodeSuccess, 0, edeBlocked, ""},
			{"chain.example.", dns.TypeA, dns.RcodeSuccess, 0, edeBlocked, "possible DNS-rebind attack detected: t.other"},
			{"cgnat.example.", dns.TypeA, dns.RcodeSuccess, 1, -1, ""},
			{"pub.example.", dns.TypeA, dns.RcodeSuccess, 1, -1, ""},
			{"ok.lan.", dns.TypeA, dns.RcodeSuccess, 1, -1, ""},
			{"sub.ok.lan.", dns.TypeA, dns.RcodeSuccess, 1, -1, ""},
			{"anypriv.example.", dns.TypeANY, dns.RcodeSuccess, 1, -1, ""}, // dnsmasq checks A and AAAA queries only
		}},
		{"rebind-localhost-ok", func(c *ipcpb.DNSConfig) {
			c.StopDnsRebind, c.RebindLocalhostOk = true, true
		}, []check{
			{"lo.example.", dns.TypeA, dns.RcodeSuccess, 1, -1, ""},
			{"zero.example.", dns.TypeA, dns.RcodeSuccess, 1, -1, ""},
			{"priv.example.", dns.TypeA, dns.RcodeSuccess, 0, edeBlocked, ""},
		}},
		{"filter-AAAA", func(c *ipcpb.DNSConfig) { c.FilterRr = []uint32{uint32(dns.TypeAAAA)} }, []check{
			{"pub.example.", dns.TypeAAAA, dns.RcodeSuccess, 0, edeFiltered, "config pub.example is NODATA-IPv6"},
			{"pub.example.", dns.TypeA, dns.RcodeSuccess, 1, -1, ""},
			{"mixed.example.", dns.TypeANY, dns.RcodeSuccess, 4, edeFiltered, ""},
		}},
		{"filter-A and filter-rr MX", func(c *ipcpb.DNSConfig) { c.FilterRr = []uint32{uint32(dns.TypeA), uint32(dns.TypeMX)} }, []check{
			{"pub.example.", dns.TypeA, dns.RcodeSuccess, 0, edeFiltered, "config pub.example is NODATA-IPv4"},
			{"mx.example.", dns.TypeMX, dns.RcodeSuccess, 0, edeFiltered, "config mx.example is NODATA"},
			{"txt.example.", dns.TypeTXT, dns.RcodeSuccess, 1, -1, ""},
		}},
		{"filter-rr ANY", func(c *ipcpb.DNSConfig) { c.FilterRr = []uint32{uint32(dns.TypeANY)} }, []check{
			{"mixed.example.", dns.TypeANY, dns.RcodeSuccess, 4, edeFiltered, ""}, // the TXT goes; A, AAAA, MX, CNAME stay
			{"txt.example.", dns.TypeANY, dns.RcodeSuccess, 0, edeFiltered, ""},
			{"txt.example.", dns.TypeTXT, dns.RcodeSuccess, 1, -1, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := upstreamCfg(up.addr)
			cfg.CacheSize = 0 // every query reaches the filters
			cfg.LogQueries = true
			tt.config(cfg)
			d := startDNSD(t, cfg, "", instanceOptions{})
			for _, c := range tt.checks {
				r := ask(t, d, ednsQuery(c.name, c.qtype), "udp")
				if r.Rcode != c.rcode || len(r.Answer) != c.answers || edeCode(r) != c.ede {
					t.Errorf("%s %s: rcode %s, %d answers, EDE %d; want %s, %d, EDE %d\n%v", c.name, dns.TypeToString[c.qtype],
						dns.RcodeToString[r.Rcode], len(r.Answer), edeCode(r), dns.RcodeToString[c.rcode], c.answers, c.ede, r)
				}
				if c.log != "" {
					waitFor(t, "log line "+c.log, func() bool { return strings.Contains(d.log.String(), c.log+"\n") })
				}
			}
		})
	}
}

// TestRebindAnswerNotCached: a blocked answer is not cached (dnsmasq
// asks again too); an allowed one is.
func TestRebindAnswerNotCached(t *testing.T) {
	up := startCrafted(t, map[string][]string{
		"priv.example.": {"priv.example. 60 IN A 192.168.1.5"},
		"pub.example.":  {"pub.example. 60 IN A 8.8.8.8"},
	})
	cfg := upstreamCfg(up.addr)
	cfg.StopDnsRebind = true
	d := startDNSD(t, cfg, "", instanceOptions{})
	for range 2 {
		ask(t, d, newQuery("priv.example.", dns.TypeA), "udp")
		ask(t, d, newQuery("pub.example.", dns.TypeA), "udp")
	}
	if got := up.queries(); got != 3 {
		t.Errorf("upstream saw %d queries, want 3 (priv twice, pub once)", got)
	}
}

// TestIgnoreAddress: a reply holding an ignored address is dropped and the
// real reply that follows is used.
func TestIgnoreAddress(t *testing.T) {
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		for _, ip := range []string{"203.0.113.66", "198.51.100.7"} {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)}}
			_ = w.WriteMsg(m)
		}
	})
	cfg := upstreamCfg(up.addr)
	cfg.IgnoreAddress = []string{"203.0.113.0/24"}
	d := startDNSD(t, cfg, "", instanceOptions{})
	r := ask(t, d, newQuery("forged.example.", dns.TypeA), "udp")
	if got := answerStrings(r); len(got) != 1 || !strings.HasSuffix(got[0], "198.51.100.7") {
		t.Errorf("answer %v, want the second reply's 198.51.100.7", got)
	}
	if d.server.filt.ignoredReplies.Load() != 1 {
		t.Errorf("ignored %d replies, want 1", d.server.filt.ignoredReplies.Load())
	}
}

// TestClientAllowed: local-service=net answers loopback and the local
// networks (from the configuration, then from NetState); =host only
// loopback. The first refusal is logged once.
func TestClientAllowed(t *testing.T) {
	newState := func(mode ipcpb.LocalService, nets ...string) *state {
		dc := upstreamCfg()
		dc.LocalService, dc.LocalNetworks = mode, nets
		cfg, err := newRunConfig(dc)
		if err != nil {
			t.Fatal(err)
		}
		return &state{cfg: cfg}
	}
	logBuf := &syncBuffer{}
	s := newServer(logBuf)
	st := newState(ipcpb.LocalService_LOCAL_SERVICE_NET, "192.168.1.0/24", "fe80::/64")
	ap := func(a string) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(a), 5353) }
	for _, tt := range []struct {
		client string
		want   bool
	}{
		{"127.0.0.1", true}, {"127.9.9.9", true}, {"::1", true}, {"::ffff:127.0.0.1", true},
		{"192.168.1.77", true}, {"::ffff:192.168.1.77", true}, {"fe80::1234", true}, {"fe80::1234%eth0", true},
		{"192.168.2.1", false}, {"8.8.8.8", false}, {"2001:db8::1", false},
	} {
		if got := s.clientAllowed(st, ap(tt.client)); got != tt.want {
			t.Errorf("local-service=net, client %s: allowed %v, want %v", tt.client, got, tt.want)
		}
	}
	// A NetState replaces the configuration's networks.
	if err := s.filt.setNetState(&ipcpb.NetState{LocalNetworks: []string{"10.0.0.0/8"}}); err != nil {
		t.Fatal(err)
	}
	if !s.clientAllowed(st, ap("10.1.2.3")) || s.clientAllowed(st, ap("192.168.1.77")) {
		t.Error("NetState networks not in force")
	}
	host := newState(ipcpb.LocalService_LOCAL_SERVICE_HOST, "192.168.1.0/24")
	if !s.clientAllowed(host, ap("127.0.0.1")) || s.clientAllowed(host, ap("10.1.2.3")) {
		t.Error("local-service=host must answer loopback clients only")
	}
	s.stop()
	log := logBuf.String()
	if n := strings.Count(log, "ignoring query from non-local network"); n != 1 ||
		!strings.Contains(log, "ignoring query from non-local network 192.168.2.1 (logged only once)\n") {
		t.Errorf("want one warning naming the first client, got:\n%s", log)
	}
	if got := s.filt.nonLocal.Load(); got != 5 {
		t.Errorf("%d queries counted as dropped, want 5", got)
	}

	// Over the wire: a loopback client of local-service=host is answered.
	cfg := upstreamCfg()
	cfg.LocalService = ipcpb.LocalService_LOCAL_SERVICE_HOST
	d := startDNSD(t, cfg, "", instanceOptions{})
	if r := ask(t, d, newQuery("x.", dns.TypeA), "udp"); r.Rcode != dns.RcodeRefused {
		t.Errorf("loopback client under local-service=host: rcode %s, want REFUSED (no servers)", dns.RcodeToString[r.Rcode])
	}
}

func TestParseArpa(t *testing.T) {
	tests := []struct {
		name string
		want string // "" = not a reverse name
	}{
		{"4.3.2.1.in-addr.arpa", "1.2.3.4"},
		{"10.in-addr.arpa", "10.0.0.0"},
		{"168.192.in-addr.arpa", "192.168.0.0"},
		{"1.2.3.4.10.in-addr.arpa", "10.4.3.2"}, // dnsmasq keeps the last four
		{"256.1.1.1.in-addr.arpa", "1.1.1.0"},   // atoi's byte
		{"99999999999999999999999.1.1.1.in-addr.arpa", "1.1.1.255"},
		{"x.10.in-addr.arpa", ""},
		{"in-addr.arpa", ""},
		{".1.in-addr.arpa", ""},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa", "fe80::1"},
		{"8.b.d.0.1.0.0.2.ip6.arpa", "2001:db8::"},
		{"8.B.D.0.1.0.0.2.ip6.int", "2001:db8::"},
		{"bd.0.1.0.0.2.ip6.arpa", ""},
		{"g.ip6.arpa", ""},
		{"example.com", ""},
		{strings.Repeat("1.", 40) + "in-addr.arpa", ""}, // over 75 bytes
	}
	for _, tt := range tests {
		a, ok := parseArpa(tt.name)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("parseArpa(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPrivateAddr(t *testing.T) {
	for _, tt := range []struct {
		addr           string
		strict, relaxd bool // banLocal true / false
	}{
		{"10.1.2.3", true, true}, {"172.31.255.255", true, true}, {"172.32.0.1", false, false},
		{"192.168.0.1", true, true}, {"169.254.1.1", true, true}, {"192.0.2.1", true, true},
		{"198.51.100.1", true, true}, {"203.0.113.9", true, true}, {"255.255.255.255", true, true},
		{"127.0.0.1", true, false}, {"0.0.0.0", true, false}, {"0.1.2.3", true, false},
		{"100.64.0.1", false, false}, {"8.8.8.8", false, false},
		{"::", true, false}, {"::1", true, false}, {"fe80::1", true, true}, {"fec0::1", true, true},
		{"fd12::1", true, true}, {"fc00::1", false, false}, {"2001:db8::1", true, true},
		{"2001:db9::1", false, false}, {"::ffff:192.168.1.1", true, true}, {"::ffff:127.0.0.1", true, false},
		{"2606:4700::1", false, false},
	} {
		a := netip.MustParseAddr(tt.addr)
		if got := privateAddr(a, true); got != tt.strict {
			t.Errorf("privateAddr(%s, ban local) = %v, want %v", a, got, tt.strict)
		}
		if got := privateAddr(a, false); got != tt.relaxd {
			t.Errorf("privateAddr(%s, localhost ok) = %v, want %v", a, got, tt.relaxd)
		}
	}
}

func FuzzParseArpa(f *testing.F) {
	for _, s := range []string{"4.3.2.1.in-addr.arpa", "b.d.0.1.0.0.2.ip6.arpa", "1..in-addr.arpa", "x.ip6.int"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		a, ok := parseArpa(name)
		if !ok {
			return
		}
		// A full-length reverse name of the result parses back to it.
		rev, err := dns.ReverseAddr(a.String())
		if err != nil {
			t.Fatalf("%q gave %s, which has no reverse name: %v", name, a, err)
		}
		back, ok := parseArpa(strings.TrimSuffix(rev, "."))
		if !ok || back != a {
			t.Fatalf("%q gave %s; its reverse name %s gives %s", name, a, rev, back)
		}
	})
}
