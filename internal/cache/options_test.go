package cache

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

const soaMin60 = "example. 300 IN SOA ns.example. host.example. 1 7200 3600 1209600 60"

// TestOptionsTable drives each cache option through Put, time and Get.
func TestOptionsTable(t *testing.T) {
	type step struct {
		after   time.Duration // clock advance before the Get
		hit     bool
		stale   bool
		ttls    []uint32 // every record's TTL, in section order
		lifeTTL uint32   // Answer.TTL
	}
	positive := func(t *testing.T, ttl string) *dns.Msg {
		return reply(dns.RcodeSuccess, []dns.RR{rr(t, "a.example. "+ttl+" IN A 192.0.2.1")}, nil)
	}
	tests := []struct {
		name   string
		opts   Options
		msg    func(t *testing.T) *dns.Msg
		stored bool
		steps  []step
	}{
		{"plain ttl counts down", Options{}, func(t *testing.T) *dns.Msg { return positive(t, "100") }, true,
			[]step{{0, true, false, []uint32{100}, 100}, {99 * time.Second, true, false, []uint32{1}, 1}, {time.Second, false, false, nil, 0}}},
		{"min-cache-ttl raises short ttls", Options{MinCacheTTL: 600}, func(t *testing.T) *dns.Msg { return positive(t, "5") }, true,
			[]step{{2 * time.Second, true, false, []uint32{598}, 598}, {597 * time.Second, true, false, []uint32{1}, 1}}},
		{"min-cache-ttl keeps zero-ttl answers", Options{MinCacheTTL: 60}, func(t *testing.T) *dns.Msg { return positive(t, "0") }, true,
			[]step{{0, true, false, []uint32{60}, 60}}},
		{"max-cache-ttl lowers long ttls", Options{MaxCacheTTL: 10}, func(t *testing.T) *dns.Msg { return positive(t, "1000") }, true,
			[]step{{2 * time.Second, true, false, []uint32{8}, 8}, {8 * time.Second, false, false, nil, 0}}},
		{"max-ttl caps what clients see, not the lifetime", Options{MaxClientTTL: 10}, func(t *testing.T) *dns.Msg { return positive(t, "1000") }, true,
			[]step{{0, true, false, []uint32{10}, 1000}, {995 * time.Second, true, false, []uint32{5}, 5}}},
		{"max-ttl with min-cache-ttl", Options{MaxClientTTL: 100, MinCacheTTL: 600}, func(t *testing.T) *dns.Msg { return positive(t, "5") }, true,
			[]step{{2 * time.Second, true, false, []uint32{100}, 598}}},
		{"nxdomain lives for the soa minimum", Options{}, func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeNameError, nil, []dns.RR{rr(t, soaMin60)})
		}, true, []step{{2 * time.Second, true, false, []uint32{298}, 58}, {58 * time.Second, false, false, nil, 0}}},
		{"nodata lives for the soa minimum", Options{}, func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeSuccess, nil, []dns.RR{rr(t, soaMin60)})
		}, true, []step{{0, true, false, []uint32{300}, 60}}},
		{"soa ttl below its minimum wins", Options{}, func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeNameError, nil, []dns.RR{rr(t, "example. 20 IN SOA ns.example. host.example. 1 7200 3600 1209600 60")})
		}, true, []step{{0, true, false, []uint32{20}, 20}}},
		{"max-cache-ttl applies to negative answers", Options{MaxCacheTTL: 10}, func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeNameError, nil, []dns.RR{rr(t, soaMin60)})
		}, true, []step{{0, true, false, []uint32{10}, 10}}},
		{"nxdomain without soa is not cached", Options{}, func(t *testing.T) *dns.Msg { return reply(dns.RcodeNameError, nil, nil) }, false, nil},
		{"neg-ttl caches nxdomain without soa", Options{NegTTL: 30}, func(t *testing.T) *dns.Msg { return reply(dns.RcodeNameError, nil, nil) }, true,
			[]step{{29 * time.Second, true, false, nil, 1}, {time.Second, false, false, nil, 0}}},
		{"neg-ttl caches nodata without soa", Options{NegTTL: 30}, func(t *testing.T) *dns.Msg { return reply(dns.RcodeSuccess, nil, nil) }, true,
			[]step{{0, true, false, nil, 30}}},
		{"neg-ttl does not override an soa", Options{NegTTL: 30}, func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeNameError, nil, []dns.RR{rr(t, soaMin60)})
		}, true, []step{{0, true, false, []uint32{300}, 60}}},
		{"no-negcache: nxdomain", Options{NoNegCache: true, NegTTL: 30}, func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeNameError, nil, []dns.RR{rr(t, soaMin60)})
		}, false, nil},
		{"no-negcache: nodata", Options{NoNegCache: true}, func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeSuccess, nil, []dns.RR{rr(t, soaMin60)})
		}, false, nil},
		{"no-negcache keeps positive answers", Options{NoNegCache: true}, func(t *testing.T) *dns.Msg { return positive(t, "100") }, true,
			[]step{{0, true, false, []uint32{100}, 100}}},
		{"stale served with ttl 0 within the limit", Options{Stale: true, StaleMax: 5}, func(t *testing.T) *dns.Msg { return positive(t, "10") }, true,
			[]step{{11 * time.Second, true, true, []uint32{0}, 0}, {3 * time.Second, true, true, []uint32{0}, 0}, {2 * time.Second, false, false, nil, 0}}},
		{"stale without limit", Options{Stale: true}, func(t *testing.T) *dns.Msg { return positive(t, "10") }, true,
			[]step{{1000 * time.Hour, true, true, []uint32{0}, 0}}},
		{"stale negative answer", Options{Stale: true, StaleMax: 100}, func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeNameError, nil, []dns.RR{rr(t, soaMin60)})
		}, true, []step{{61 * time.Second, true, true, []uint32{0}, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Size = 10
			c, clk := newOptsCache(opts)
			q := question("a.example.", dns.TypeA)
			if got := c.Put(q, tt.msg(t)); got != tt.stored {
				t.Fatalf("Put = %v, want %v", got, tt.stored)
			}
			for i, st := range tt.steps {
				clk.advance(st.after)
				a, ok := c.Get(q)
				if ok != st.hit {
					t.Fatalf("step %d: hit = %v, want %v", i, ok, st.hit)
				}
				if !ok {
					continue
				}
				if a.Stale != st.stale || a.TTL != st.lifeTTL {
					t.Errorf("step %d: stale %v TTL %d, want %v %d", i, a.Stale, a.TTL, st.stale, st.lifeTTL)
				}
				var ttls []uint32
				for _, sec := range [][]dns.RR{a.Answer, a.Ns, a.Extra} {
					for _, r := range sec {
						ttls = append(ttls, r.Header().Ttl)
					}
				}
				if len(ttls) != len(st.ttls) {
					t.Fatalf("step %d: record TTLs %v, want %v", i, ttls, st.ttls)
				}
				for j := range ttls {
					if ttls[j] != st.ttls[j] {
						t.Errorf("step %d: record TTLs %v, want %v", i, ttls, st.ttls)
						break
					}
				}
			}
		})
	}
}

func TestStaleRefreshClaimedOnce(t *testing.T) {
	c, clk := newOptsCache(Options{Size: 10, Stale: true})
	q := question("a.example.", dns.TypeA)
	c.Put(q, reply(dns.RcodeSuccess, []dns.RR{rr(t, "a.example. 10 IN A 192.0.2.1")}, nil))
	fresh, _ := c.Get(q)
	if c.ClaimRefresh(fresh) {
		t.Error("a fresh entry was claimed for refresh")
	}
	clk.advance(20 * time.Second)
	a, ok := c.Get(q)
	if !ok || !a.Stale {
		t.Fatalf("stale hit = %v %v", ok, a.Stale)
	}
	if !c.ClaimRefresh(a) {
		t.Error("first claim refused")
	}
	b, _ := c.Get(q)
	if c.ClaimRefresh(b) {
		t.Error("second claim granted while the first refresh runs")
	}
	// A refresh that brought nothing is tried again a little later.
	clk.advance(refreshRetry * time.Second)
	again, _ := c.Get(q)
	if !c.ClaimRefresh(again) {
		t.Error("no new claim after the retry interval")
	}
	// The refreshed answer replaces the entry: fresh again, claimable
	// once it is stale again.
	c.Put(q, reply(dns.RcodeSuccess, []dns.RR{rr(t, "a.example. 10 IN A 192.0.2.2")}, nil))
	f, _ := c.Get(q)
	if f.Stale || f.Answer[0].(*dns.A).A.String() != "192.0.2.2" {
		t.Errorf("after refresh: %+v", f)
	}
	if st := c.Stats(); st.StaleHits != 3 {
		t.Errorf("stale hits = %d, want 3", st.StaleHits)
	}
}

// TestEvictionIsConstantWork: a full cache evicts exactly one entry per
// insert of a new key, whatever its size (dnsmasq scans its cache here).
func TestEvictionIsConstantWork(t *testing.T) {
	for _, size := range []int{1, 10, 5000} {
		c, _ := newTestCache(size)
		m := reply(dns.RcodeSuccess, []dns.RR{rr(t, "x. 300 IN A 192.0.2.1")}, nil)
		for i := range size + 100 {
			c.Put(question(nameN(i), dns.TypeA), m)
		}
		st := c.Stats()
		if st.Len > size || st.Evictions != uint64(st.Inserts)-uint64(st.Len) {
			t.Errorf("size %d: %+v", size, st)
		}
	}
}

func nameN(i int) string {
	b := []byte("n000000.example.")
	for j := 6; j >= 1; j-- {
		b[j] = byte('0' + i%10)
		i /= 10
	}
	return string(b)
}
