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

// TestDedup50: 50 clients ask the same question at once; one query goes
// upstream and every client gets the answer with its own ID and its own
// spelling of the name.
func TestDedup50(t *testing.T) {
	u, release := holdingUpstream(t)
	d := startDNSD(t, policyCfg(func(c *ipcpb.DNSConfig) { c.CacheSize = 0 }, u.addr), "", instanceOptions{})
	const n = 50
	type result struct {
		id   uint16
		name string
		r    *dns.Msg
		err  error
	}
	results := make(chan result, n)
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("udp", d.udpAddr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	var sent sync.WaitGroup
	for i, c := range conns {
		sent.Add(1)
		go func() {
			name := "dedup.example."
			if i%2 == 1 {
				name = "DeDup.Example."
			}
			q := newQuery(name, dns.TypeA)
			q.Id = uint16(1000 + i)
			b, _ := q.Pack()
			_, err := c.Write(b)
			sent.Done()
			if err != nil {
				results <- result{err: err}
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(8 * time.Second))
			buf := make([]byte, 4096)
			k, err := c.Read(buf)
			if err != nil {
				results <- result{id: q.Id, err: err}
				return
			}
			r := new(dns.Msg)
			err = r.Unpack(buf[:k])
			results <- result{id: q.Id, name: name, r: r, err: err}
		}()
	}
	sent.Wait()
	// Every query has reached dnsd and waits on the one upstream query.
	waitFor(t, "50 queries joined", func() bool { return d.server.up.joined.Load() == n-1 })
	release()
	for range n {
		res := <-results
		if res.err != nil {
			t.Fatalf("client %d: %v", res.id, res.err)
		}
		if res.r.Id != res.id || res.r.Question[0].Name != res.name || firstA(res.r) != "10.9.9.9" {
			t.Errorf("client %d got id %d question %s answer %v", res.id, res.r.Id, res.r.Question[0].Name, res.r.Answer)
		}
	}
	if u.count() != 1 {
		t.Errorf("upstream got %d queries for 50 identical questions, want 1", u.count())
	}
}

// TestDedupKey: questions that differ in type, class, CD or DO bit, or
// transport are not the same question.
func TestDedupKey(t *testing.T) {
	u, release := holdingUpstream(t)
	d := startDNSD(t, policyCfg(func(c *ipcpb.DNSConfig) { c.CacheSize = 0 }, u.addr), "", instanceOptions{})
	queries := []*dns.Msg{newQuery("k.example.", dns.TypeA), newQuery("k.example.", dns.TypeAAAA),
		newQuery("k.example.", dns.TypeA), newQuery("k.example.", dns.TypeA)}
	queries[2].CheckingDisabled = true
	queries[3].SetEdns0(1232, true)
	var wg sync.WaitGroup
	for _, q := range queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ask(t, d, q, "udp")
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		ask(t, d, newQuery("k.example.", dns.TypeA), "tcp")
	}()
	waitFor(t, "four distinct UDP questions upstream", func() bool { return u.count() == 4 })
	release()
	wg.Wait()
	if got := d.server.up.joined.Load(); got != 0 {
		t.Errorf("%d queries joined another; all five differ", got)
	}
}

// TestLoopDetect: a server that sends our queries back to us (a
// forwarding loop) is found by its probe and gets no more queries.
func TestLoopDetect(t *testing.T) {
	good := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.1", 0))
	// loopy forwards every query it gets to dnsd, as a misconfigured
	// upstream pointing back at us would.
	var dnsdAddr string
	var mu sync.Mutex
	loopy := startRecUpstream(t, "127.0.0.1", func(q *dns.Msg) *dns.Msg {
		mu.Lock()
		addr := dnsdAddr
		mu.Unlock()
		if addr == "" {
			return nil
		}
		c := &dns.Client{Timeout: 2 * time.Second}
		r, _, err := c.Exchange(q, addr)
		if err != nil {
			return nil
		}
		return r
	})
	cfg := policyCfg(func(c *ipcpb.DNSConfig) { c.DnsLoopDetect = true }, loopy.addr, good.addr)
	sockets := loopbackSockets(t)
	mu.Lock()
	dnsdAddr = sockets[0].Desc.GetAddress()
	mu.Unlock()
	d := startDNSD(t, cfg, "", instanceOptions{sockets: sockets})
	waitFor(t, "loop detection", func() bool { return statFor(t, d.server, loopy.addr).Looped })
	waitFor(t, "the log line", func() bool {
		return strings.Contains(d.log.String(), "NOT using nameserver "+loopy.addr.Addr().String()+"#")
	})
	if statFor(t, d.server, good.addr).Looped {
		t.Error("the good server is marked looped too")
	}
	before := loopy.count()
	for _, name := range []string{"a.example.", "b.example.", "c.example."} {
		if got := firstA(ask(t, d, newQuery(name, dns.TypeA), "udp")); got != "10.0.0.1" {
			t.Errorf("%s: %q", name, got)
		}
	}
	if loopy.count() != before {
		t.Errorf("the looping server got %d queries after it was disabled", loopy.count()-before)
	}
	// A new server list probes again, the looping server included.
	d.sendUpstreamTable(t, 2, []*ipcpb.Upstream{{Address: "127.0.0.1:9", Source: "/etc/resolv.conf"}})
	waitFor(t, "a second probe round", func() bool {
		return strings.Count(d.log.String(), "NOT using nameserver "+loopy.addr.Addr().String()+"#") == 2 && loopy.count() > before
	})
}

func TestLoopProbeFormat(t *testing.T) {
	b, err := loopProbeQuery(0x0a1b2c3d)
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatal(err)
	}
	if q := m.Question[0]; q.Name != "0a1b2c3d.test." || q.Qtype != dns.TypeTXT || q.Qclass != dns.ClassINET || !m.RecursionDesired {
		t.Errorf("probe %v", m)
	}
}
