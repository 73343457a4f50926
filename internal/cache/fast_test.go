package cache

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func packQuery(t testing.TB, name string, qtype uint16, edit func(m *dns.Msg)) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 0x1234
	if edit != nil {
		edit(m)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseQuery(t *testing.T) {
	long := strings.Repeat("a23456789.", 25) + "abc." // 255 bytes in wire form
	tests := []struct {
		name  string
		raw   func(t *testing.T) []byte
		ok    bool
		edns  bool
		size  uint16
		key   string
		flags [2]byte
	}{
		{"plain", func(t *testing.T) []byte { return packQuery(t, "WwW.Example.", dns.TypeA, nil) }, true, false, 0,
			"\x03www\x07example\x00\x00\x01\x00\x01", [2]byte{0x01, 0}},
		{"root name", func(t *testing.T) []byte { return packQuery(t, ".", dns.TypeNS, nil) }, true, false, 0, "\x00\x00\x02\x00\x01", [2]byte{0x01, 0}},
		{"rd clear, cd set", func(t *testing.T) []byte {
			return packQuery(t, "a.", dns.TypeA, func(m *dns.Msg) { m.RecursionDesired = false; m.CheckingDisabled = true })
		}, true, false, 0, "\x01a\x00\x00\x01\x00\x01", [2]byte{0, 0x10}},
		{"plain edns", func(t *testing.T) []byte {
			return packQuery(t, "a.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(4096, false) })
		}, true, true, 4096, "\x01a\x00\x00\x01\x00\x01", [2]byte{0x01, 0}},
		{"longest name", func(t *testing.T) []byte { return packQuery(t, long, dns.TypeA, nil) }, true, false, 0, "", [2]byte{0x01, 0}},
		{"DO bit", func(t *testing.T) []byte {
			return packQuery(t, "a.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(4096, true) })
		}, false, false, 0, "", [2]byte{}},
		{"edns option", func(t *testing.T) []byte {
			return packQuery(t, "a.", dns.TypeA, func(m *dns.Msg) {
				m.SetEdns0(4096, false)
				m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
			})
		}, false, false, 0, "", [2]byte{}},
		{"edns version 1", func(t *testing.T) []byte {
			return packQuery(t, "a.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(4096, false); m.IsEdns0().SetVersion(1) })
		}, false, false, 0, "", [2]byte{}},
		{"response", func(t *testing.T) []byte {
			return packQuery(t, "a.", dns.TypeA, func(m *dns.Msg) { m.Response = true })
		}, false, false, 0, "", [2]byte{}},
		{"opcode notify", func(t *testing.T) []byte {
			return packQuery(t, "a.", dns.TypeSOA, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify })
		}, false, false, 0, "", [2]byte{}},
		{"additional record not opt", func(t *testing.T) []byte {
			return packQuery(t, "a.", dns.TypeA, func(m *dns.Msg) { m.Extra = []dns.RR{rr(t, "a. 1 IN A 192.0.2.1")} })
		}, false, false, 0, "", [2]byte{}},
		{"two questions", func(t *testing.T) []byte {
			return packQuery(t, "a.", dns.TypeA, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) })
		}, false, false, 0, "", [2]byte{}},
		{"trailing byte", func(t *testing.T) []byte { return append(packQuery(t, "a.", dns.TypeA, nil), 0) }, false, false, 0, "", [2]byte{}},
		{"short question", func(t *testing.T) []byte { b := packQuery(t, "a.", dns.TypeA, nil); return b[:len(b)-1] }, false, false, 0, "", [2]byte{}},
		{"compression pointer", func(t *testing.T) []byte {
			b := packQuery(t, "a.", dns.TypeA, nil)
			return append(b[:12], 0xc0, 0x0c, 0, 1, 0, 1)
		}, false, false, 0, "", [2]byte{}},
		{"name over 255 bytes", func(t *testing.T) []byte {
			b := packQuery(t, "a.", dns.TypeA, nil)[:12]
			for range 26 {
				b = append(b, 9, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i')
			}
			return append(b, 0, 0, 1, 0, 1)
		}, false, false, 0, "", [2]byte{}},
		{"header only", func(t *testing.T) []byte { return packQuery(t, "a.", dns.TypeA, nil)[:12] }, false, false, 0, "", [2]byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q Query
			raw := tt.raw(t)
			if got := ParseQuery(raw, &q); got != tt.ok {
				t.Fatalf("ParseQuery = %v, want %v", got, tt.ok)
			}
			if !tt.ok {
				return
			}
			if q.ID != 0x1234 || q.EDNS != tt.edns || q.UDPSize != tt.size || q.Flags != tt.flags {
				t.Errorf("id %#x edns %v size %d flags %v", q.ID, q.EDNS, q.UDPSize, q.Flags)
			}
			if tt.key != "" && string(q.Key) != tt.key {
				t.Errorf("key %q, want %q", q.Key, tt.key)
			}
			if !bytes.Equal(q.Name, raw[12:12+len(q.Key)-4]) {
				t.Errorf("name %q is not the query's", q.Name)
			}
		})
	}
}

// slowPack is what dnsd's full pipeline packs for a hit: the Get records
// in a reply with the client's ID, RD/CD and question, RA set, OPT when
// the client sent one; uncompressed when it fits.
func slowPack(t *testing.T, c *Cache, raw []byte, ednsSize uint16) []byte {
	t.Helper()
	qm := new(dns.Msg)
	if err := qm.Unpack(raw); err != nil {
		t.Fatal(err)
	}
	a, ok := c.Get(qm.Question[0])
	if !ok {
		t.Fatal("Get missed")
	}
	m := new(dns.Msg)
	m.Id, m.Response, m.RecursionDesired, m.CheckingDisabled, m.RecursionAvailable = qm.Id, true, qm.RecursionDesired, qm.CheckingDisabled, true
	m.Rcode = a.Rcode
	m.Question = qm.Question
	m.Answer, m.Ns, m.Extra = a.Answer, a.Ns, a.Extra
	if qm.IsEdns0() != nil {
		m.SetEdns0(ednsSize, false)
	}
	out, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fastQuery(t *testing.T, raw []byte) *Query {
	t.Helper()
	q := new(Query)
	if !ParseQuery(raw, q) {
		t.Fatal("ParseQuery refused the query")
	}
	q.MaxSize, q.EDNSSize = 512, 1232
	if q.EDNS {
		q.MaxSize = int(min(max(q.UDPSize, 512), 1232))
	}
	return q
}

func TestFastPathNeedsConfirm(t *testing.T) {
	c, clk := newTestCache(10)
	c.Put(question("www.example.", dns.TypeA), reply(dns.RcodeSuccess, []dns.RR{
		rr(t, "www.example. 300 IN CNAME b.example."), rr(t, "b.example. 100 IN A 192.0.2.1"),
	}, []dns.RR{rr(t, "example. 300 IN NS ns.example.")}))
	raw := packQuery(t, "WWW.example.", dns.TypeA, nil)
	q := fastQuery(t, raw)
	const stamp = 7
	if _, ok := c.AppendFast(nil, q, stamp, c.Now()); ok {
		t.Fatal("served before Confirm")
	}
	a, _ := c.Get(question("WWW.example.", dns.TypeA))
	if c.Confirm(a, q, []byte("something else"), stamp) {
		t.Fatal("confirmed against different bytes")
	}
	if !c.Confirm(a, q, slowPack(t, c, raw, 1232), stamp) {
		t.Fatal("not confirmed against the slow path's bytes")
	}
	clk.advance(30 * time.Second)
	for _, tc := range []struct {
		name string
		edit func(m *dns.Msg)
		ok   bool
	}{
		{"same shape, new id and case", func(m *dns.Msg) { m.Id = 99; m.Question[0].Name = "www.EXAMPLE." }, true},
		{"rd clear cd set", func(m *dns.Msg) { m.RecursionDesired = false; m.CheckingDisabled = true }, true},
		{"edns shape not confirmed", func(m *dns.Msg) { m.SetEdns0(1232, false) }, false},
	} {
		raw := packQuery(t, "www.example.", dns.TypeA, tc.edit)
		q := fastQuery(t, raw)
		out, ok := c.AppendFast(make([]byte, 0, 512), q, stamp, c.Now())
		if ok != tc.ok {
			t.Fatalf("%s: served = %v", tc.name, ok)
		}
		if ok && !bytes.Equal(out, slowPack(t, c, raw, 1232)) {
			t.Errorf("%s: fast and slow replies differ:\n%x\n%x", tc.name, out, slowPack(t, c, raw, 1232))
		}
	}
	if _, ok := c.AppendFast(nil, q, stamp+1, c.Now()); ok {
		t.Error("served under another stamp")
	}
	// A new answer for the name needs its own confirmation.
	c.Put(question("www.example.", dns.TypeA), reply(dns.RcodeSuccess, []dns.RR{rr(t, "www.example. 300 IN A 192.0.2.9")}, nil))
	if _, ok := c.AppendFast(nil, q, stamp, c.Now()); ok {
		t.Error("replaced entry served unconfirmed")
	}
}

func TestFastPathExpiryAndSize(t *testing.T) {
	c, clk := newTestCache(10)
	var answer []dns.RR
	for i := range 25 { // about 1000 bytes uncompressed
		answer = append(answer, rr(t, "big.example. 100 IN TXT \"record "+nameN(i)+"\""))
	}
	c.Put(question("big.example.", dns.TypeTXT), reply(dns.RcodeSuccess, answer, nil))
	raw := packQuery(t, "big.example.", dns.TypeTXT, func(m *dns.Msg) { m.SetEdns0(4096, false) })
	q := fastQuery(t, raw)
	a, _ := c.Get(question("big.example.", dns.TypeTXT))
	if !c.Confirm(a, q, slowPack(t, c, raw, 1232), 1) {
		t.Fatal("not confirmed")
	}
	if _, ok := c.AppendFast(nil, q, 1, c.Now()); !ok {
		t.Fatal("EDNS 4096 client not served")
	}
	small := packQuery(t, "big.example.", dns.TypeTXT, func(m *dns.Msg) { m.SetEdns0(600, false) })
	if _, ok := c.AppendFast(nil, fastQuery(t, small), 1, c.Now()); ok {
		t.Error("a reply larger than the client's size was served (the pipeline truncates it)")
	}
	clk.advance(100 * time.Second)
	if _, ok := c.AppendFast(nil, q, 1, c.Now()); ok {
		t.Error("expired entry served")
	}
}

func TestFastPathDoesNotAllocate(t *testing.T) {
	c, _ := newTestCache(100)
	c.Put(question("www.example.", dns.TypeA), reply(dns.RcodeSuccess, []dns.RR{rr(t, "www.example. 300 IN A 192.0.2.1")}, nil))
	raw := packQuery(t, "www.example.", dns.TypeA, nil)
	q := fastQuery(t, raw)
	a, _ := c.Get(question("www.example.", dns.TypeA))
	if !c.Confirm(a, q, slowPack(t, c, raw, 1232), 1) {
		t.Fatal("not confirmed")
	}
	buf := make([]byte, 0, 512)
	var pq Query
	allocs := testing.AllocsPerRun(1000, func() {
		if !ParseQuery(raw, &pq) {
			t.Fatal("parse")
		}
		pq.MaxSize, pq.EDNSSize = 512, 1232
		out, ok := c.AppendFast(buf, &pq, 1, c.Now())
		if !ok || binary.BigEndian.Uint16(out) != 0x1234 {
			t.Fatal("miss")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per fast answer, want 0", allocs)
	}
}

func BenchmarkFastPath(b *testing.B) {
	c := New(Options{Size: 10000})
	c.Put(question("www.example.com.", dns.TypeA), reply(dns.RcodeSuccess, []dns.RR{rr(b, "www.example.com. 300 IN A 192.0.2.1")}, nil))
	raw := packQuery(b, "www.example.com.", dns.TypeA, nil)
	var q Query
	ParseQuery(raw, &q)
	q.MaxSize, q.EDNSSize = 512, 1232
	a, _ := c.Get(question("www.example.com.", dns.TypeA))
	want, _ := a.e.render(nil, &q, a.now, 0)
	if !c.Confirm(a, &q, want, 1) {
		b.Fatal("not confirmed")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 512)
		var pq Query
		for pb.Next() {
			ParseQuery(raw, &pq)
			pq.MaxSize, pq.EDNSSize = 512, 1232
			if _, ok := c.AppendFast(buf, &pq, 1, c.Now()); !ok {
				b.Error("miss")
				return
			}
		}
	})
}

// BenchmarkPutFull measures inserts into a full cache: one eviction each,
// the same work at every size.
func BenchmarkPutFull(b *testing.B) {
	for _, size := range []int{1000, 100000} {
		b.Run(nameN(size), func(b *testing.B) {
			c := New(Options{Size: size})
			m := reply(dns.RcodeSuccess, []dns.RR{rr(b, "x. 300 IN A 192.0.2.1")}, nil)
			qs := make([]dns.Question, 2*size)
			for i := range qs {
				qs[i] = question(nameN(i), dns.TypeA)
			}
			for i := range size {
				c.Put(qs[i], m)
			}
			b.ReportAllocs()
			i := size
			for b.Loop() {
				c.Put(qs[i%len(qs)], m)
				i++
			}
		})
	}
}
