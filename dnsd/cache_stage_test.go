package dnsd

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// testClock replaces the caches' clock for one test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func useTestClock(t *testing.T) *testClock {
	t.Helper()
	c := &testClock{t: time.Unix(1_700_000_000, 0)}
	old := cacheClock
	cacheClock = c.now
	t.Cleanup(func() { cacheClock = old })
	return c
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// cacheUpstream answers by name: "ttlN.*" an A record with TTL N (300
// otherwise), "nx.*" NXDOMAIN with an SOA whose minimum is 60, "nxnosoa.*"
// NXDOMAIN without one, "nodata.*" NOERROR without records but an SOA. A
// changing address lets a test see a refreshed answer.
func cacheUpstream(t *testing.T) (*testUpstream, *sync.Mutex, *string) {
	var mu sync.Mutex
	addr := "192.0.2.1"
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		q := r.Question[0]
		name := strings.ToLower(q.Name)
		m := new(dns.Msg)
		m.SetReply(r)
		soa := &dns.SOA{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300},
			Ns: "ns.example.", Mbox: "host.example.", Serial: 1, Refresh: 1, Retry: 1, Expire: 1, Minttl: 60}
		switch {
		case strings.HasPrefix(name, "nxnosoa."):
			m.Rcode = dns.RcodeNameError
		case strings.HasPrefix(name, "nx."):
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{soa}
		case strings.HasPrefix(name, "nodata."):
			m.Ns = []dns.RR{soa}
		default:
			ttl := uint32(300)
			for _, p := range []struct {
				prefix string
				ttl    uint32
			}{{"ttl1.", 1}, {"ttl5.", 5}, {"ttl10.", 10}, {"ttl1000.", 1000}} {
				if strings.HasPrefix(name, p.prefix) {
					ttl = p.ttl
				}
			}
			mu.Lock()
			a := addr
			mu.Unlock()
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(a)}}
			m.Ns = []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 3000}, Ns: "ns.example."}}
		}
		_ = w.WriteMsg(m)
	})
	return up, &mu, &addr
}

func firstTTL(m *dns.Msg) uint32 {
	for _, sec := range [][]dns.RR{m.Answer, m.Ns} {
		if len(sec) > 0 {
			return sec[0].Header().Ttl
		}
	}
	return 1 << 31
}

// TestCacheOptions drives each cache option through a real dnsd on
// loopback: two queries some seconds apart, checking what the upstream
// saw and the TTLs the client got.
func TestCacheOptions(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(c *ipcpb.DNSConfig)
		qname      string
		wait       time.Duration
		upstream   int64  // queries the upstream sees for both
		firstTTL   uint32 // TTL of the first record of each reply
		secondTTL  uint32
		secondCode int
	}{
		{"defaults count down", nil, "ttl1000.example.", 3 * time.Second, 1, 1000, 997, dns.RcodeSuccess},
		{"min-cache-ttl", func(c *ipcpb.DNSConfig) { c.MinCacheTtl = 600 }, "ttl5.example.", 2 * time.Second, 1, 5, 598, dns.RcodeSuccess},
		{"max-cache-ttl", func(c *ipcpb.DNSConfig) { c.MaxCacheTtl = 10 }, "ttl1000.example.", 2 * time.Second, 1, 1000, 8, dns.RcodeSuccess},
		{"max-cache-ttl expires early", func(c *ipcpb.DNSConfig) { c.MaxCacheTtl = 10 }, "ttl1000.example.", 11 * time.Second, 2, 1000, 1000, dns.RcodeSuccess},
		{"max-ttl caps forwarded and cached answers", func(c *ipcpb.DNSConfig) { c.MaxTtl = 10 }, "ttl1000.example.", 500 * time.Second, 1, 10, 10, dns.RcodeSuccess},
		{"max-ttl above the ttl", func(c *ipcpb.DNSConfig) { c.MaxTtl = 100 }, "ttl10.example.", 2 * time.Second, 1, 10, 8, dns.RcodeSuccess},
		{"nxdomain cached for the soa minimum", nil, "nx.example.", 59 * time.Second, 1, 300, 241, dns.RcodeNameError},
		{"nxdomain expires at the soa minimum", nil, "nx.example.", 60 * time.Second, 2, 300, 300, dns.RcodeNameError},
		{"nodata cached", nil, "nodata.example.", time.Second, 1, 300, 299, dns.RcodeSuccess},
		{"nxdomain without soa not cached", nil, "nxnosoa.example.", 0, 2, 1 << 31, 1 << 31, dns.RcodeNameError},
		{"neg-ttl caches nxdomain without soa", func(c *ipcpb.DNSConfig) { c.NegTtl = 30 }, "nxnosoa.example.", 29 * time.Second, 1, 1 << 31, 1 << 31, dns.RcodeNameError},
		{"neg-ttl expires", func(c *ipcpb.DNSConfig) { c.NegTtl = 30 }, "nxnosoa.example.", 30 * time.Second, 2, 1 << 31, 1 << 31, dns.RcodeNameError},
		{"no-negcache", func(c *ipcpb.DNSConfig) { c.NoNegcache = true }, "nx.example.", 0, 2, 300, 300, dns.RcodeNameError},
		{"no-negcache keeps positive answers", func(c *ipcpb.DNSConfig) { c.NoNegcache = true }, "ttl1000.example.", 0, 1, 1000, 1000, dns.RcodeSuccess},
		{"cache-size 0", func(c *ipcpb.DNSConfig) { c.CacheSize = 0 }, "ttl1000.example.", 0, 2, 1000, 1000, dns.RcodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := useTestClock(t)
			up, _, _ := cacheUpstream(t)
			cfg := upstreamCfg(up.addr)
			if tt.edit != nil {
				tt.edit(cfg)
			}
			d := startDNSD(t, cfg, "", instanceOptions{})
			first := ask(t, d, newQuery(tt.qname, dns.TypeA), "udp")
			clk.advance(tt.wait)
			second := ask(t, d, newQuery(tt.qname, dns.TypeA), "udp")
			if got := up.queries(); got != tt.upstream {
				t.Errorf("upstream saw %d queries, want %d", got, tt.upstream)
			}
			if got := firstTTL(first); got != tt.firstTTL {
				t.Errorf("first reply TTL %d, want %d: %v", got, tt.firstTTL, first)
			}
			if got := firstTTL(second); got != tt.secondTTL {
				t.Errorf("second reply TTL %d, want %d: %v", got, tt.secondTTL, second)
			}
			if second.Rcode != tt.secondCode {
				t.Errorf("second rcode %s", dns.RcodeToString[second.Rcode])
			}
		})
	}
}

// TestMaxTTLLeavesAuthorityOfForwardedReplies: dnsmasq caps only the
// answer section of a forwarded reply; cached replies are capped whole.
func TestMaxTTLLeavesAuthorityOfForwardedReplies(t *testing.T) {
	up, _, _ := cacheUpstream(t)
	cfg := upstreamCfg(up.addr)
	cfg.MaxTtl = 10
	d := startDNSD(t, cfg, "", instanceOptions{})
	first := ask(t, d, newQuery("ttl1000.example.", dns.TypeA), "udp")
	if len(first.Ns) != 1 || first.Ns[0].Header().Ttl != 3000 || first.Answer[0].Header().Ttl != 10 {
		t.Errorf("forwarded reply: %v", first)
	}
	second := ask(t, d, newQuery("ttl1000.example.", dns.TypeA), "udp")
	if len(second.Ns) != 1 || second.Ns[0].Header().Ttl != 10 || second.Answer[0].Header().Ttl != 10 {
		t.Errorf("cached reply: %v", second)
	}
}

// TestUseStaleCache: an expired entry is answered at once with TTL 0 and
// refreshed upstream; the next query gets the refreshed answer.
func TestUseStaleCache(t *testing.T) {
	clk := useTestClock(t)
	up, mu, addr := cacheUpstream(t)
	cfg := upstreamCfg(up.addr)
	cfg.UseStaleCache, cfg.StaleCacheMax = true, 100
	cfg.LogQueries = true
	d := startDNSD(t, cfg, "", instanceOptions{})
	ask(t, d, newQuery("ttl10.example.", dns.TypeA), "udp")
	mu.Lock()
	*addr = "192.0.2.2"
	mu.Unlock()
	clk.advance(15 * time.Second)
	stale := ask(t, d, newQuery("ttl10.example.", dns.TypeA), "udp")
	if len(stale.Answer) != 1 || stale.Answer[0].Header().Ttl != 0 || stale.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Fatalf("stale answer: %v", stale)
	}
	waitFor(t, "the refresh upstream", func() bool { return up.queries() == 2 })
	waitFor(t, "the refreshed entry", func() bool {
		a, ok := d.server.st.Load().cache.Get(newQuery("ttl10.example.", dns.TypeA).Question[0])
		return ok && !a.Stale
	})
	fresh := ask(t, d, newQuery("ttl10.example.", dns.TypeA), "udp")
	if fresh.Answer[0].Header().Ttl != 10 || fresh.Answer[0].(*dns.A).A.String() != "192.0.2.2" {
		t.Errorf("after the refresh: %v", fresh)
	}
	waitFor(t, "cached-stale log line", func() bool {
		return strings.Contains(d.log.String(), "cached-stale ttl10.example is 192.0.2.1")
	})
	// Past the limit the entry is gone: a plain miss.
	clk.advance(200 * time.Second)
	ask(t, d, newQuery("ttl10.example.", dns.TypeA), "udp")
	if got := up.queries(); got != 3 {
		t.Errorf("upstream saw %d queries, want 3", got)
	}
}

// TestStaleWithoutOptionIsAMiss: without use-stale-cache an expired entry
// is forwarded again.
func TestStaleWithoutOptionIsAMiss(t *testing.T) {
	clk := useTestClock(t)
	up, _, _ := cacheUpstream(t)
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{})
	ask(t, d, newQuery("ttl10.example.", dns.TypeA), "udp")
	clk.advance(11 * time.Second)
	r := ask(t, d, newQuery("ttl10.example.", dns.TypeA), "udp")
	if up.queries() != 2 || r.Answer[0].Header().Ttl != 10 {
		t.Errorf("upstream %d queries, answer %v", up.queries(), r)
	}
}

// TestTCPAnswersCached: dnsmasq does not cache answers it got over TCP;
// moat does, and serves them over UDP too.
func TestTCPAnswersCached(t *testing.T) {
	up, _, _ := cacheUpstream(t)
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{})
	ask(t, d, newQuery("ttl1000.example.", dns.TypeA), "tcp")
	ask(t, d, newQuery("ttl1000.example.", dns.TypeA), "tcp")
	ask(t, d, newQuery("ttl1000.example.", dns.TypeA), "udp")
	if up.tcp.Load() != 1 || up.udp.Load() != 0 {
		t.Errorf("upstream saw %d TCP and %d UDP queries, want 1 and 0", up.tcp.Load(), up.udp.Load())
	}
}

// TestCacheEpoch: a new configuration keeps the cache unless its cache
// epoch or cache options differ.
func TestCacheEpoch(t *testing.T) {
	up, _, _ := cacheUpstream(t)
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{})
	ask(t, d, newQuery("ttl1000.example.", dns.TypeA), "udp")
	steps := []struct {
		name string
		edit func(c *ipcpb.DNSConfig)
		kept bool
	}{
		{"same epoch and options", func(c *ipcpb.DNSConfig) {}, true},
		{"other non-cache option", func(c *ipcpb.DNSConfig) { c.LocalTtl = 5 }, true},
		{"new epoch (SIGHUP)", func(c *ipcpb.DNSConfig) { c.CacheEpoch = 7 }, false},
		{"changed cache option", func(c *ipcpb.DNSConfig) { c.CacheEpoch = 7; c.MaxTtl = 5 }, false},
	}
	for _, st := range steps {
		ask(t, d, newQuery("ttl1000.example.", dns.TypeA), "udp") // cached now
		before := up.queries()
		cfg := upstreamCfg(up.addr)
		st.edit(cfg)
		old := d.server.st.Load()
		d.sendConfig(t, cfg)
		waitFor(t, "new state", func() bool { return d.server.st.Load() != old })
		ask(t, d, newQuery("ttl1000.example.", dns.TypeA), "udp")
		if kept := up.queries() == before; kept != st.kept {
			t.Errorf("%s: cache kept = %v, want %v", st.name, kept, st.kept)
		}
	}
}
