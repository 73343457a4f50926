package dnsd

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// shortTries makes silent servers cost little test time.
func shortTries(s *Server) {
	s.udpTry = 300 * time.Millisecond
	s.budget = 2 * time.Second
}

func TestStrictOrder(t *testing.T) {
	a := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.1", 0))
	b := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.2", 0))
	cfg := policyCfg(func(c *ipcpb.DNSConfig) { c.StrictOrder = true }, a.addr, b.addr)
	d := startDNSD(t, cfg, "", instanceOptions{tune: shortTries})
	for i := range 5 {
		r := ask(t, d, newQuery(fmt.Sprintf("n%d.example.", i), dns.TypeA), "udp")
		if got := firstA(r); got != "10.0.0.1" {
			t.Fatalf("query %d answered %q, want the first server's 10.0.0.1", i, got)
		}
	}
	if a.count() != 5 || b.count() != 0 {
		t.Errorf("first server got %d queries, second %d; want 5 and 0", a.count(), b.count())
	}
	// The first server stops answering: the next one is used after the try.
	a.setHandler(nil)
	if got := firstA(ask(t, d, newQuery("silent.example.", dns.TypeA), "udp")); got != "10.0.0.2" {
		t.Errorf("with the first server silent: %q, want 10.0.0.2", got)
	}
	// A REFUSED moves on at once, in order.
	a.setHandler(replyRcode(dns.RcodeRefused))
	if got := firstA(ask(t, d, newQuery("refused.example.", dns.TypeA), "udp")); got != "10.0.0.2" {
		t.Errorf("with the first server refusing: %q, want 10.0.0.2", got)
	}
}

func TestAllServers(t *testing.T) {
	a := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.1", 0))
	b := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.2", 0))
	c := startRecUpstream(t, "127.0.0.1", replyRcode(dns.RcodeServerFailure))
	cfg := policyCfg(func(c *ipcpb.DNSConfig) { c.AllServers = true }, a.addr, b.addr, c.addr)
	d := startDNSD(t, cfg, "", instanceOptions{tune: shortTries})
	const n = 6
	for i := range n {
		r := ask(t, d, newQuery(fmt.Sprintf("n%d.example.", i), dns.TypeA), "udp")
		if r.Rcode != dns.RcodeSuccess || firstA(r) == "" {
			t.Fatalf("query %d: %v (a SERVFAIL from one server must not win)", i, r)
		}
	}
	waitFor(t, "every server to get every query", func() bool { return a.count() == n && b.count() == n && c.count() == n })
}

// TestFastestServerPreferred: the default policy sends the first query to
// every server and then keeps to the one that answered first.
func TestFastestServerPreferred(t *testing.T) {
	slow := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.1", 300*time.Millisecond))
	fast := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.2", 0))
	d := startDNSD(t, upstreamCfg(slow.addr, fast.addr), "", instanceOptions{})
	if got := firstA(ask(t, d, newQuery("first.example.", dns.TypeA), "udp")); got != "10.0.0.2" {
		t.Fatalf("first query answered by %q, want the fast server", got)
	}
	waitFor(t, "the first query at both servers", func() bool { return slow.count() == 1 && fast.count() == 1 })
	const n = 10
	for i := range n {
		if got := firstA(ask(t, d, newQuery(fmt.Sprintf("n%d.example.", i), dns.TypeA), "udp")); got != "10.0.0.2" {
			t.Errorf("query %d answered by %q", i, got)
		}
	}
	if slow.count() != 1 || fast.count() != n+1 {
		t.Errorf("slow server got %d queries, fast %d; want 1 and %d", slow.count(), fast.count(), n+1)
	}
	st := statFor(t, d.server, fast.addr)
	if st.Sent != n+1 || st.Answered != n+1 || st.Failed != 0 {
		t.Errorf("fast server stats %+v", st)
	}
}

// TestFailoverWhenServerStops: the server in use stops answering; the
// retry goes to every server, and the one that answers takes over.
func TestFailoverWhenServerStops(t *testing.T) {
	a := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.1", 0))
	b := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.2", 100*time.Millisecond))
	d := startDNSD(t, upstreamCfg(a.addr, b.addr), "", instanceOptions{tune: shortTries})
	if got := firstA(ask(t, d, newQuery("first.example.", dns.TypeA), "udp")); got != "10.0.0.1" {
		t.Fatalf("first query answered by %q, want a", got)
	}
	a.setHandler(nil)
	if got := firstA(ask(t, d, newQuery("second.example.", dns.TypeA), "udp")); got != "10.0.0.2" {
		t.Fatalf("after a stopped: %q, want b", got)
	}
	bBefore, aBefore := b.count(), a.count()
	for i := range 5 {
		if got := firstA(ask(t, d, newQuery(fmt.Sprintf("n%d.example.", i), dns.TypeA), "udp")); got != "10.0.0.2" {
			t.Fatalf("query %d: %q", i, got)
		}
	}
	if a.count() != aBefore || b.count() != bBefore+5 {
		t.Errorf("after failover a got %d more, b %d more; want 0 and 5", a.count()-aBefore, b.count()-bBefore)
	}
	if st := statFor(t, d.server, a.addr); st.Failed == 0 {
		t.Errorf("silent server's stats show no failure: %+v", st)
	}
}

// holdingUpstream answers nothing until release is closed.
func holdingUpstream(t *testing.T) (*recUpstream, func()) {
	release := make(chan struct{})
	var once sync.Once
	u := startRecUpstream(t, "127.0.0.1", func(q *dns.Msg) *dns.Msg {
		<-release
		return aReply(q, "10.9.9.9")
	})
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	return u, free
}

func TestForwardMax(t *testing.T) {
	u, release := holdingUpstream(t)
	cfg := policyCfg(func(c *ipcpb.DNSConfig) { c.DnsForwardMax = proto.Uint32(2) }, u.addr)
	d := startDNSD(t, cfg, "", instanceOptions{})
	type result struct {
		name string
		r    *dns.Msg
	}
	results := make(chan result, 2)
	for i := range 2 {
		name := fmt.Sprintf("held%d.example.", i)
		go func() { results <- result{name, ask(t, d, newQuery(name, dns.TypeA), "udp")} }()
	}
	waitFor(t, "two queries upstream", func() bool { return u.count() == 2 })
	// A third distinct question is over the limit: REFUSED at once.
	if r := ask(t, d, newQuery("third.example.", dns.TypeA), "udp"); r.Rcode != dns.RcodeRefused {
		t.Errorf("over dns-forward-max: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	waitFor(t, "the log line for the limit", func() bool {
		return strings.Contains(d.log.String(), "Maximum number of concurrent DNS queries reached (max: 2)")
	})
	release()
	for range 2 {
		res := <-results
		if firstA(res.r) != "10.9.9.9" {
			t.Errorf("%s: %v", res.name, res.r)
		}
	}
	// The limit frees up again.
	if r := ask(t, d, newQuery("after.example.", dns.TypeA), "udp"); r.Rcode != dns.RcodeSuccess {
		t.Errorf("after the held queries: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestForwardMaxZeroRefusesAll(t *testing.T) {
	u := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.1", 0))
	cfg := policyCfg(func(c *ipcpb.DNSConfig) { c.DnsForwardMax = proto.Uint32(0) }, u.addr)
	d := startDNSD(t, cfg, "", instanceOptions{})
	if r := ask(t, d, newQuery("a.example.", dns.TypeA), "udp"); r.Rcode != dns.RcodeRefused || u.count() != 0 {
		t.Errorf("dns-forward-max=0: %s and %d upstream queries, want REFUSED and none", dns.RcodeToString[r.Rcode], u.count())
	}
}

// TestFastRetry: with fast-dns-retry a lost query is sent again by dnsd
// itself, long before the ordinary try timeout.
func TestFastRetry(t *testing.T) {
	var mu sync.Mutex
	seen := 0
	u := startRecUpstream(t, "127.0.0.1", func(q *dns.Msg) *dns.Msg {
		mu.Lock()
		defer mu.Unlock()
		seen++
		if seen == 1 {
			return nil // the first query is lost
		}
		return aReply(q, "10.0.0.7")
	})
	cfg := policyCfg(func(c *ipcpb.DNSConfig) { c.FastDnsRetryMs, c.FastDnsRetryTotalMs = 50, 2000 }, u.addr)
	d := startDNSD(t, cfg, "", instanceOptions{tune: func(s *Server) {
		s.udpTry = time.Hour // only the fast retry can resend
		s.budget = 5 * time.Second
	}})
	if got := firstA(ask(t, d, newQuery("lost.example.", dns.TypeA), "udp")); got != "10.0.0.7" {
		t.Fatalf("answer %q", got)
	}
	if u.count() < 2 {
		t.Errorf("upstream saw %d queries, want the retry too", u.count())
	}
	if st := statFor(t, d.server, u.addr); st.Retried == 0 || st.Sent < 2 {
		t.Errorf("stats %+v: no retry counted", st)
	}
}

// TestClientRetryJoinsFlight: the same client repeating the same query
// (same ID) is not a new question; it makes dnsd try again at once, and
// the client gets one answer.
func TestClientRetryJoinsFlight(t *testing.T) {
	var mu sync.Mutex
	seen := 0
	u := startRecUpstream(t, "127.0.0.1", func(q *dns.Msg) *dns.Msg {
		mu.Lock()
		defer mu.Unlock()
		seen++
		if seen == 1 {
			return nil
		}
		return aReply(q, "10.0.0.8")
	})
	d := startDNSD(t, upstreamCfg(u.addr), "", instanceOptions{tune: func(s *Server) { s.udpTry = time.Hour; s.budget = 10 * time.Second }})
	conn, err := net.Dial("udp", d.udpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := newQuery("retry.example.", dns.TypeA)
	q.Id = 777
	b, _ := q.Pack()
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first upstream query", func() bool { return u.count() == 1 })
	if _, err := conn.Write(b); err != nil { // the client's retry
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer after the client's retry: %v", err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil || r.Id != 777 || firstA(r) != "10.0.0.8" {
		t.Fatalf("answer %v, %v", r, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := conn.Read(buf); err == nil {
		t.Error("two answers to one query")
	}
	if got := d.server.up.retries.Load(); got != 1 {
		t.Errorf("client retries counted %d, want 1", got)
	}
}
