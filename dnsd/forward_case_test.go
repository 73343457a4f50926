package dnsd

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// flipCase swaps the case of every ASCII letter of name.
func flipCase(name string) string {
	b := []byte(name)
	for i, c := range b {
		if isASCIILetter(c) {
			b[i] = c ^ 0x20
		}
	}
	return string(b)
}

// TestEncode0x20: only letters change, each way at random, and the name
// returned is the one the wire now carries.
func TestEncode0x20(t *testing.T) {
	tests := []struct {
		name    string
		letters int
	}{
		{"a.example.", 8},
		{"WWW.Example.COM.", 13},
		{"x-1_2.\\.dot.example.", 11},
		{"123.456.", 0},
		{".", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newQuery(tc.name, dns.TypeA)
			wire, err := q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			spellings := map[string]bool{}
			upper := map[int]bool{}
			lower := map[int]bool{}
			for range 64 {
				w := append([]byte(nil), wire...)
				sent := encode0x20(w)
				if !strings.EqualFold(sent, tc.name) {
					t.Fatalf("sent %q for %q", sent, tc.name)
				}
				m := new(dns.Msg)
				if err := m.Unpack(w); err != nil || m.Question[0].Name != sent {
					t.Fatalf("wire unpacks to %v (%v), want %q", m.Question, err, sent)
				}
				for i := range w {
					switch {
					case w[i] == wire[i]:
					case isASCIILetter(w[i]) && w[i]^0x20 == wire[i]:
					default:
						t.Fatalf("byte %d changed from %#x to %#x", i, wire[i], w[i])
					}
					if i >= 12 && i < len(w)-4 && isASCIILetter(w[i]) { // the name: after the header, before type and class
						upper[i] = upper[i] || w[i] < 'a'
						lower[i] = lower[i] || w[i] >= 'a'
					}
				}
				spellings[sent] = true
			}
			want := 1
			if tc.letters > 0 {
				want = 2
			}
			if len(spellings) < want {
				t.Errorf("%d spellings in 64 tries, want at least %d", len(spellings), want)
			}
			for i := range upper {
				if !upper[i] || !lower[i] {
					t.Errorf("letter at %d always had the same case (a 1 in 2^63 chance)", i)
				}
			}
			if len(upper) != tc.letters {
				t.Errorf("%d letters seen, want %d", len(upper), tc.letters)
			}
		})
	}
	if encode0x20([]byte{1, 2, 3}) != "" || encode0x20(append(make([]byte, 12), 9, 'a')) != "" {
		t.Error("a wire without a whole name gave a name")
	}
}

// TestCaseRandomisedUpstream: the upstream sees random spellings of the
// question; the client gets its own back, in the question and the
// answer's owner.
func TestCaseRandomisedUpstream(t *testing.T) {
	u := startRecUpstream(t, "127.0.0.1", func(q *dns.Msg) *dns.Msg { return aReply(q, "10.1.2.3") })
	d := startDNSD(t, policyCfg(func(c *ipcpb.DNSConfig) { c.CacheSize = 0 }, u.addr), "", instanceOptions{})
	const name = "Case-Random.Example."
	for range 8 {
		r := ask(t, d, newQuery(name, dns.TypeA), "udp")
		if r.Question[0].Name != name || len(r.Answer) != 1 || r.Answer[0].Header().Name != name || firstA(r) != "10.1.2.3" {
			t.Fatalf("reply %v", r)
		}
	}
	u.mu.Lock()
	names := append([]string(nil), u.names...)
	u.mu.Unlock()
	seen := map[string]bool{}
	for _, n := range names {
		if !strings.EqualFold(n, name) {
			t.Fatalf("upstream asked for %q", n)
		}
		seen[n] = true
	}
	if len(names) != 8 || len(seen) < 2 {
		t.Errorf("upstream saw %d queries in %d spellings: %v", len(names), len(seen), names)
	}
}

// TestCaseMismatch: a reply in another spelling than sent is dropped and
// counted, even repeated with the right ID; the reply in the spelling
// sent is taken, and the server keeps 0x20.
func TestCaseMismatch(t *testing.T) {
	tests := []struct {
		name   string
		copies int // forged replies in another case, before the real one
	}{
		{"one", 1},
		{"same query many times", 2 * caseStreakLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawUpstream(t, func(q *dns.Msg) []*dns.Msg {
				var out []*dns.Msg
				for range tc.copies {
					forged := aReply(q, "6.6.6.6")
					forged.Question[0].Name = flipCase(q.Question[0].Name)
					out = append(out, forged)
				}
				return append(out, aReply(q, "7.7.7.7"))
			})
			d := startDNSD(t, upstreamCfg(addr), "", instanceOptions{})
			for i, name := range []string{"mixed-case.example.", "another-name.example."} {
				r := ask(t, d, newQuery(name, dns.TypeA), "udp")
				if firstA(r) != "7.7.7.7" {
					t.Fatalf("%s: answer %v, want the reply in the case sent", name, r.Answer)
				}
				want := uint64((i + 1) * tc.copies)
				if got := d.server.up.cases.mismatches.Load(); got != want {
					t.Errorf("case mismatches %d, want %d", got, want)
				}
				if got := d.server.stats.upstreamMismatch.Load(); got != want {
					t.Errorf("mismatches %d, want %d", got, want)
				}
			}
			if got := d.server.up.cases.caseless.Load(); got != 0 {
				t.Errorf("%d servers taken as caseless after forgeries", got)
			}
		})
	}
}

// TestCaselessServer: a server that answers every query in lower case is
// found out after caseStreakLimit queries and then answers normally;
// found once, logged once.
func TestCaselessServer(t *testing.T) {
	var mu sync.Mutex
	queries := 0
	addr := rawUpstream(t, func(q *dns.Msg) []*dns.Msg {
		mu.Lock()
		queries++
		mu.Unlock()
		lower := q.Copy()
		lower.Question[0].Name = strings.ToLower(q.Question[0].Name)
		return []*dns.Msg{aReply(lower, "10.4.4.4")}
	})
	d := startDNSD(t, policyCfg(func(c *ipcpb.DNSConfig) { c.CacheSize = 0 }, addr), "", instanceOptions{
		tune: func(s *Server) { s.udpTry = 100 * time.Millisecond },
	})
	const name = "Lower-Case-Only.Example."
	for range 4 {
		r := ask(t, d, newQuery(name, dns.TypeA), "udp")
		if firstA(r) != "10.4.4.4" || r.Question[0].Name != name {
			t.Fatalf("reply %v", r)
		}
	}
	if got := d.server.up.cases.caseless.Load(); got != 1 {
		t.Errorf("caseless servers %d, want 1", got)
	}
	if got := strings.Count(d.log.String(), "does not preserve the case"); got != 1 {
		t.Errorf("logged %d times, want once:\n%s", got, d.log.String())
	}
	mu.Lock()
	defer mu.Unlock()
	// The first query took caseStreakLimit tries; each later one took one.
	if queries != caseStreakLimit+3 {
		t.Errorf("upstream saw %d queries, want %d", queries, caseStreakLimit+3)
	}
}

// TestSentName: the name as sent is what miekg/dns unpacks, escapes and
// all.
func TestSentName(t *testing.T) {
	for _, name := range []string{".", "a.example.", "A-b_c.Example.", `x\.y.example.`, `sp\ ace.example.`, `\000\255.example.`, `q\"t\@\;\(\).example.`, "0'000.", "a*b.example.", "\\195\\132.example."} {
		wire := make([]byte, 256)
		n, err := dns.PackDomainName(name, wire, 0, nil, false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, _, err := dns.UnpackDomainName(wire[:n], 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := sentName(wire[:n]); got != want {
			t.Errorf("sentName(%q) = %q, want %q", name, got, want)
		}
	}
}

// BenchmarkEncode0x20 is the cost 0x20 adds to every upstream query.
func BenchmarkEncode0x20(b *testing.B) {
	wire, err := newQuery("www.example.com.", dns.TypeA).Pack()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		encode0x20(wire)
	}
}

// FuzzEncode0x20: for any name a client can send, the query's name keeps
// its bytes but for the case of letters, and the name returned is what
// the reply's question unpacks to.
func FuzzEncode0x20(f *testing.F) {
	for _, seed := range []string{"a.example.", ".", `x\.y\000.Example.`, "ÄÖ.example."} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		q := newQuery(dns.Fqdn(name), dns.TypeA)
		wire, err := q.Pack()
		if err != nil {
			return
		}
		sent := encodeCopy(wire)
		m := new(dns.Msg)
		if err := m.Unpack(sent.wire); err != nil {
			t.Fatalf("encoded query does not unpack: %v", err)
		}
		asked, _, err := dns.UnpackDomainName(wire, 12)
		if err != nil {
			t.Fatal(err)
		}
		if m.Question[0].Name != sent.name || !strings.EqualFold(sent.name, asked) {
			t.Fatalf("sent %q, wire says %q, asked %q", sent.name, m.Question[0].Name, asked)
		}
		for i := range wire {
			if wire[i] != sent.wire[i] && (!isASCIILetter(wire[i]) || wire[i]^0x20 != sent.wire[i]) {
				t.Fatalf("byte %d: %#x became %#x", i, wire[i], sent.wire[i])
			}
		}
	})
}

type encoded struct {
	wire []byte
	name string
}

func encodeCopy(wire []byte) encoded {
	w := append([]byte(nil), wire...)
	return encoded{w, encode0x20(w)}
}

// TestNo0x20Encode: with no-0x20-encode the upstream sees the client's
// spelling, and a server that answers in lower case is taken at once
// (no mismatch counted, no server found caseless), as dnsmasq 2.90
// would.
func TestNo0x20Encode(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	addr := rawUpstream(t, func(q *dns.Msg) []*dns.Msg {
		mu.Lock()
		asked = append(asked, q.Question[0].Name)
		mu.Unlock()
		lower := q.Copy()
		lower.Question[0].Name = strings.ToLower(q.Question[0].Name)
		return []*dns.Msg{aReply(lower, "10.5.5.5")}
	})
	d := startDNSD(t, policyCfg(func(c *ipcpb.DNSConfig) { c.CacheSize = 0; c.NoCaseRandomization = true }, addr), "", instanceOptions{})
	const name = "Keep-My-Case.Example."
	for range 4 {
		r := ask(t, d, newQuery(name, dns.TypeA), "udp")
		if firstA(r) != "10.5.5.5" {
			t.Fatalf("reply %v", r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 4 {
		t.Errorf("upstream saw %d queries, want 4 (one each, no retries): %v", len(asked), asked)
	}
	for _, n := range asked {
		if n != name {
			t.Errorf("upstream asked for %q, want the client's %q", n, name)
		}
	}
	if m, c := d.server.up.cases.mismatches.Load(), d.server.up.cases.caseless.Load(); m != 0 || c != 0 {
		t.Errorf("mismatches %d, caseless servers %d; want none with 0x20 off", m, c)
	}
}

// TestCaseRecheck: a server found not to preserve case is trusted so for
// caseRecheck, then counted again from the next reply in another
// spelling; a forger's repeated ID still counts once.
func TestCaseRecheck(t *testing.T) {
	var c caseTable
	st := &upstreamState{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	find := func(at time.Time, firstID uint16) {
		t.Helper()
		for i := range uint16(caseStreakLimit) {
			accept, first, _ := c.other(st, firstID+i, at)
			last := i == caseStreakLimit-1
			if accept != last || first != last {
				t.Fatalf("reply %d of the count: accept %v first %v", i+1, accept, first)
			}
		}
	}
	find(t0, 100)
	if accept, first, recheck := c.other(st, 200, t0.Add(caseRecheck-time.Second)); !accept || first || recheck {
		t.Fatalf("within caseRecheck: accept %v first %v recheck %v, want accepted", accept, first, recheck)
	}
	accept, first, recheck := c.other(st, 300, t0.Add(caseRecheck))
	if accept || first || !recheck {
		t.Fatalf("after caseRecheck: accept %v first %v recheck %v, want a new count", accept, first, recheck)
	}
	if accept, _, recheck := c.other(st, 300, t0.Add(caseRecheck)); accept || recheck {
		t.Fatal("the same ID counted twice in the new count")
	}
	c.exact(st) // a reply in the spelling sent: the count starts again
	t1 := t0.Add(caseRecheck + time.Minute)
	find(t1, 400)
	if got := c.caseless.Load(); got != 2 {
		t.Errorf("found caseless %d times, want 2", got)
	}
	if got := c.rechecks.Load(); got != 1 {
		t.Errorf("rechecks %d, want 1", got)
	}
}
