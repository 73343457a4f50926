package dnsd

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// The miss reader (upstream_fast.go): the common miss is sent from the
// socket's loop and read by one goroutine that answers the client itself.

// ipForName gives each test name its own answer, so that a reply sent to
// the wrong client shows.
func ipForName(name string) string {
	var h uint32
	for _, c := range []byte(strings.ToLower(name)) { // the upstream sees a random case (0x20)
		h = h*31 + uint32(c)
	}
	return fmt.Sprintf("10.%d.%d.%d", byte(h>>16), byte(h>>8), byte(h))
}

// fastReader is the server's miss reader, nil before the first miss.
func fastReader(s *Server) *missReader {
	s.up.mu.Lock()
	defer s.up.mu.Unlock()
	return s.up.fast
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestFastMissManyClients: concurrent misses from several client sockets
// each get their own answer with their own ID, every upstream query
// leaves from a fresh random port, and no upstream socket is left open.
func TestFastMissManyClients(t *testing.T) {
	u := startRecUpstream(t, "127.0.0.1", func(q *dns.Msg) *dns.Msg {
		return aReply(q, ipForName(q.Question[0].Name))
	})
	d := startDNSD(t, policyCfg(func(c *ipcpb.DNSConfig) { c.CacheSize = 0 }, u.addr), "", instanceOptions{})
	ask(t, d, newQuery("warm.example.", dns.TypeA), "udp") // starts the reader
	if fastReader(d.server) == nil {
		t.Fatal("the miss reader did not start")
	}
	base := openFDs(t)

	const clients, perClient = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients*perClient)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("udp", d.udpAddr.String())
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			want := map[uint16]string{}
			for i := range perClient {
				name := fmt.Sprintf("c%d-q%d.example.", c, i)
				q := newQuery(name, dns.TypeA)
				q.Id = uint16(1000*c + i + 1)
				want[q.Id] = name
				b, _ := q.Pack()
				if _, err := conn.Write(b); err != nil {
					errs <- err
					return
				}
			}
			buf := make([]byte, 4096)
			for range perClient {
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := conn.Read(buf)
				if err != nil {
					errs <- fmt.Errorf("client %d: %d answers missing: %w", c, len(want), err)
					return
				}
				r := new(dns.Msg)
				if err := r.Unpack(buf[:n]); err != nil {
					errs <- err
					continue
				}
				name, ok := want[r.Id]
				switch {
				case !ok:
					errs <- fmt.Errorf("client %d: reply with unknown or repeated id %d", c, r.Id)
				case len(r.Question) != 1 || r.Question[0].Name != name:
					errs <- fmt.Errorf("client %d: id %d answers %v, want %s", c, r.Id, r.Question, name)
				case firstA(r) != ipForName(name):
					errs <- fmt.Errorf("client %d: %s is %s, want %s", c, name, firstA(r), ipForName(name))
				}
				delete(want, r.Id)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	ports := map[uint16]bool{}
	for _, src := range u.sources() {
		ports[src.Port()] = true
	}
	if n := u.count(); n != clients*perClient+1 {
		t.Errorf("upstream saw %d queries, want %d", n, clients*perClient+1)
	}
	// 101 crypto-random ports of 64,512: a handful of repeats at most.
	if len(ports) < clients*perClient-5 {
		t.Errorf("%d upstream queries from %d ports: not a fresh random port each", u.count(), len(ports))
	}
	waitFor(t, "upstream sockets closed", func() bool { return openFDs(t) <= base })
}

// TestFastMissGoesOn: when the first try of a miss gets nothing usable
// (no answer in time, port unreachable, SERVFAIL, REFUSED), the flight
// goes on to the next server as runFlight does; the failed server counts
// a failure.
func TestFastMissGoesOn(t *testing.T) {
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silentAddr := silent.LocalAddr().(*net.UDPAddr).AddrPort()
	good := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.2", 0))
	tests := []struct {
		name  string
		first func(t *testing.T) netip.AddrPort
	}{
		{"silent", func(*testing.T) netip.AddrPort { return silentAddr }},
		{"port unreachable", func(t *testing.T) netip.AddrPort { return deadUDPAddr(t) }},
		{"SERVFAIL", func(t *testing.T) netip.AddrPort {
			return startRecUpstream(t, "127.0.0.1", replyRcode(dns.RcodeServerFailure)).addr
		}},
		{"REFUSED", func(t *testing.T) netip.AddrPort {
			return startRecUpstream(t, "127.0.0.1", replyRcode(dns.RcodeRefused)).addr
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := tt.first(t)
			cfg := policyCfg(func(c *ipcpb.DNSConfig) { c.StrictOrder = true; c.CacheSize = 0 }, first, good.addr)
			d := startDNSD(t, cfg, "", instanceOptions{tune: func(s *Server) { s.udpTry = 200 * time.Millisecond }})
			for i := range 3 {
				r := ask(t, d, newQuery(fmt.Sprintf("n%d.example.", i), dns.TypeA), "udp")
				if r.Rcode != dns.RcodeSuccess || firstA(r) != "10.0.0.2" {
					t.Fatalf("query %d: %v", i, r)
				}
			}
			if st := statFor(t, d.server, first); st.Failed < 3 {
				t.Errorf("first server: %d failures counted, want at least 3", st.Failed)
			}
		})
	}
}

// TestFastMissStopWithTriesInFlight: dnsd stops promptly with misses
// waiting on a server that never answers, and closes their sockets.
func TestFastMissStopWithTriesInFlight(t *testing.T) {
	u := startRecUpstream(t, "127.0.0.1", nil) // never answers
	d := startDNSD(t, upstreamCfg(u.addr), "", instanceOptions{tune: func(s *Server) { s.udpTry = time.Hour; s.budget = time.Hour }})
	conn, err := net.Dial("udp", d.udpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 10 {
		b, _ := newQuery(fmt.Sprintf("w%d.example.", i), dns.TypeA).Pack()
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "10 upstream queries", func() bool { return u.count() == 10 })
	m := fastReader(d.server)
	if m == nil {
		t.Fatal("the miss reader did not start")
	}
	m.mu.Lock()
	waiting := len(m.heap)
	m.mu.Unlock()
	if waiting != 10 {
		t.Errorf("%d tries waiting, want 10", waiting)
	}
	d.master.Close()
	select {
	case err := <-d.done:
		d.done <- err // for the cleanup's wait
	case <-time.After(10 * time.Second):
		t.Fatal("dnsd did not stop with misses in flight")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed || len(m.heap) != 0 {
		t.Errorf("after stop: closed %v, %d tries left", m.closed, len(m.heap))
	}
	for fd, tr := range m.tries {
		if tr != nil {
			t.Errorf("try on descriptor %d left", fd)
		}
	}
}
