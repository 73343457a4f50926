package cache

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func newTestCache(capacity int) (*Cache, *fakeClock) {
	return newOptsCache(Options{Size: capacity})
}

func newOptsCache(opts Options) (*Cache, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	return NewWithClock(opts, clk.now), clk
}

func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("NewRR(%q): %v", s, err)
	}
	return r
}

func question(name string, qtype uint16) dns.Question {
	return dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
}

func reply(rcode int, answer, ns []dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.Response = true
	m.Rcode = rcode
	m.Answer = answer
	m.Ns = ns
	return m
}

func TestPutDecides(t *testing.T) {
	soa := "example. 300 IN SOA ns.example. host.example. 1 7200 3600 1209600 60"
	tests := []struct {
		name    string
		msg     func(t *testing.T) *dns.Msg
		wantOK  bool
		wantTTL uint32
	}{
		{"positive min ttl", func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeSuccess, []dns.RR{rr(t, "a.example. 300 IN CNAME b.example."), rr(t, "b.example. 120 IN A 1.2.3.4")}, nil)
		}, true, 120},
		{"nxdomain soa minimum", func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeNameError, nil, []dns.RR{rr(t, soa)})
		}, true, 60},
		{"nodata soa ttl smaller than minimum", func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeSuccess, nil, []dns.RR{rr(t, "example. 30 IN SOA ns.example. host.example. 1 7200 3600 1209600 600")})
		}, true, 30},
		{"nxdomain without soa", func(t *testing.T) *dns.Msg { return reply(dns.RcodeNameError, nil, nil) }, false, 0},
		{"nodata without soa", func(t *testing.T) *dns.Msg { return reply(dns.RcodeSuccess, nil, nil) }, false, 0},
		{"servfail", func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeServerFailure, nil, []dns.RR{rr(t, soa)})
		}, false, 0},
		{"refused", func(t *testing.T) *dns.Msg { return reply(dns.RcodeRefused, nil, nil) }, false, 0},
		{"truncated", func(t *testing.T) *dns.Msg {
			m := reply(dns.RcodeSuccess, []dns.RR{rr(t, "a.example. 300 IN A 1.2.3.4")}, nil)
			m.Truncated = true
			return m
		}, false, 0},
		{"zero ttl", func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeSuccess, []dns.RR{rr(t, "a.example. 0 IN A 1.2.3.4")}, nil)
		}, false, 0},
		{"top bit ttl means zero", func(t *testing.T) *dns.Msg {
			r := rr(t, "a.example. 300 IN A 1.2.3.4")
			r.Header().Ttl = 1 << 31
			return reply(dns.RcodeSuccess, []dns.RR{r}, nil)
		}, false, 0},
		{"huge ttl capped", func(t *testing.T) *dns.Msg {
			return reply(dns.RcodeSuccess, []dns.RR{rr(t, "a.example. 2000000000 IN A 1.2.3.4")}, nil)
		}, true, MaxTTL},
		{"opt ttl ignored", func(t *testing.T) *dns.Msg {
			m := reply(dns.RcodeSuccess, []dns.RR{rr(t, "a.example. 300 IN A 1.2.3.4")}, nil)
			m.SetEdns0(1232, true) // the OPT "TTL" carries flags, here DO
			return m
		}, true, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(10)
			q := question("a.example.", dns.TypeA)
			if got := c.Put(q, tt.msg(t)); got != tt.wantOK {
				t.Fatalf("Put = %v, want %v", got, tt.wantOK)
			}
			a, ok := c.Get(q)
			if ok != tt.wantOK {
				t.Fatalf("Get ok = %v, want %v", ok, tt.wantOK)
			}
			if ok && a.TTL != tt.wantTTL {
				t.Errorf("TTL = %d, want %d", a.TTL, tt.wantTTL)
			}
			for _, r := range a.Extra {
				if r.Header().Rrtype == dns.TypeOPT {
					t.Error("OPT stored")
				}
			}
		})
	}
}

func TestGetAgesAndExpires(t *testing.T) {
	c, clk := newTestCache(10)
	q := question("Mixed.Example.", dns.TypeA)
	m := reply(dns.RcodeSuccess, []dns.RR{rr(t, "mixed.example. 300 IN CNAME b.example."), rr(t, "b.example. 100 IN A 1.2.3.4")}, nil)
	if !c.Put(q, m) {
		t.Fatal("not stored")
	}
	m.Answer[1].Header().Ttl = 9 // the caller's message is not the stored one
	clk.advance(40 * time.Second)
	a, ok := c.Get(question("mIXED.example.", dns.TypeA))
	if !ok {
		t.Fatal("miss after 40s")
	}
	if got := []uint32{a.Answer[0].Header().Ttl, a.Answer[1].Header().Ttl}; got[0] != 260 || got[1] != 60 {
		t.Errorf("TTLs = %v, want [260 60]", got)
	}
	if a.TTL != 60 {
		t.Errorf("remaining = %d, want 60", a.TTL)
	}
	a.Answer[1].Header().Ttl = 1 // nor is the returned one
	b, _ := c.Get(q)
	if b.Answer[1].Header().Ttl != 60 {
		t.Errorf("returned copy shares storage")
	}
	clk.advance(60 * time.Second)
	if _, ok := c.Get(q); ok {
		t.Error("hit after expiry")
	}
	if c.Len() != 0 {
		t.Errorf("expired entry kept, Len = %d", c.Len())
	}
	st := c.Stats()
	if st.Hits != 2 || st.Misses != 1 || st.Expired != 1 || st.Inserts != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestKeyIsNameTypeClass(t *testing.T) {
	c, _ := newTestCache(10)
	c.Put(question("a.example.", dns.TypeA), reply(dns.RcodeSuccess, []dns.RR{rr(t, "a.example. 300 IN A 1.2.3.4")}, nil))
	for _, q := range []dns.Question{
		question("a.example.", dns.TypeAAAA),
		question("b.example.", dns.TypeA),
		question("a.example", dns.TypeA), // not fully qualified: a different name
		{Name: "a.example.", Qtype: dns.TypeA, Qclass: dns.ClassCHAOS},
	} {
		if _, ok := c.Get(q); ok {
			t.Errorf("hit for %v", q)
		}
	}
	if _, ok := c.Get(question("A.EXAMPLE.", dns.TypeA)); !ok {
		t.Error("case-insensitive lookup missed")
	}
}

func TestLRUEviction(t *testing.T) {
	c, _ := newTestCache(3)
	put := func(name string) {
		c.Put(question(name, dns.TypeA), reply(dns.RcodeSuccess, []dns.RR{rr(t, name+" 300 IN A 1.2.3.4")}, nil))
	}
	put("a.")
	put("b.")
	put("c.")
	c.Get(question("a.", dns.TypeA)) // a is now the most recent; b the least
	put("d.")
	if _, ok := c.Get(question("b.", dns.TypeA)); ok {
		t.Error("b should have been evicted")
	}
	for _, n := range []string{"a.", "c.", "d."} {
		if _, ok := c.Get(question(n, dns.TypeA)); !ok {
			t.Errorf("%s evicted", n)
		}
	}
	put("d.") // replacing an entry does not evict another
	if c.Len() != 3 || c.Stats().Evictions != 1 {
		t.Errorf("Len = %d, evictions = %d", c.Len(), c.Stats().Evictions)
	}
	c.Flush()
	if c.Len() != 0 {
		t.Error("Flush left entries")
	}
	put("e.")
	if _, ok := c.Get(question("e.", dns.TypeA)); !ok {
		t.Error("miss after Flush and Put")
	}
}

func TestDisabled(t *testing.T) {
	c, _ := newTestCache(0)
	q := question("a.", dns.TypeA)
	if c.Put(q, reply(dns.RcodeSuccess, []dns.RR{rr(t, "a. 300 IN A 1.2.3.4")}, nil)) {
		t.Error("cache-size=0 stored an answer")
	}
	if _, ok := c.Get(q); ok {
		t.Error("cache-size=0 hit")
	}
}

func TestShardedCapacity(t *testing.T) {
	const capacity = 10000
	c, _ := newTestCache(capacity)
	if len(c.shards) < 2 {
		t.Fatalf("%d shards for %d entries", len(c.shards), capacity)
	}
	for i := range 3 * capacity {
		name := fmt.Sprintf("n%d.", i)
		c.Put(question(name, dns.TypeA), reply(dns.RcodeSuccess, []dns.RR{rr(t, name+" 300 IN A 1.2.3.4")}, nil))
	}
	if n := c.Len(); n > capacity || n < capacity*9/10 {
		t.Errorf("Len = %d, want about %d and never more", n, capacity)
	}
}

func TestConcurrent(t *testing.T) {
	c, clk := newTestCache(64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				name := fmt.Sprintf("n%d.", (i*7+g)%100)
				q := question(name, dns.TypeA)
				if i%3 == 0 {
					c.Put(q, reply(dns.RcodeSuccess, []dns.RR{rr(t, name+" 300 IN A 1.2.3.4")}, nil))
				} else if a, ok := c.Get(q); ok && (len(a.Answer) != 1 || a.Answer[0].Header().Name != name) {
					t.Errorf("wrong answer for %s: %v", name, a.Answer)
					return
				}
				if g == 0 && i%500 == 0 {
					clk.advance(time.Second)
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() > 64 {
		t.Errorf("Len = %d over capacity", c.Len())
	}
}

func BenchmarkGet(b *testing.B) {
	c := New(Options{Size: 10000})
	q := question("www.example.com.", dns.TypeA)
	c.Put(q, reply(dns.RcodeSuccess, []dns.RR{rr(b, "www.example.com. 300 IN A 1.2.3.4")}, nil))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := c.Get(q); !ok {
				b.Error("miss")
				return
			}
		}
	})
}

func BenchmarkPut(b *testing.B) {
	c := New(Options{Size: 1000})
	m := reply(dns.RcodeSuccess, []dns.RR{rr(b, "www.example.com. 300 IN A 1.2.3.4")}, nil)
	names := make([]dns.Question, 4096)
	for i := range names {
		names[i] = question(fmt.Sprintf("n%d.example.", i), dns.TypeA)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Put(names[i%len(names)], m)
		i++
	}
}
