package dnsd

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// freePortOn returns a UDP port nothing listens on at ip.
func freePortOn(t *testing.T, ip string) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// TestSourceBinding: server=ip@source-ip, @source-ip#port and the
// interface forms, over loopback addresses 127.0.0.x.
func TestSourceBinding(t *testing.T) {
	fixed := freePortOn(t, "127.0.0.3")
	tests := []struct {
		name     string
		up       func(addr netip.AddrPort) *ipcpb.Upstream
		wantIP   string
		wantPort int // 0: any random port
	}{
		{"@127.0.0.2", func(a netip.AddrPort) *ipcpb.Upstream {
			return &ipcpb.Upstream{Address: a.String(), SourceAddress: "127.0.0.2"}
		}, "127.0.0.2", 0},
		{"@127.0.0.3#port", func(a netip.AddrPort) *ipcpb.Upstream {
			return &ipcpb.Upstream{Address: a.String(), SourceAddress: "127.0.0.3", SourcePort: uint32(fixed)}
		}, "127.0.0.3", fixed},
		{"@lo", func(a netip.AddrPort) *ipcpb.Upstream {
			return &ipcpb.Upstream{Address: a.String(), Interface: "lo"}
		}, "127.0.0.1", 0},
		{"@lo@127.0.0.4", func(a netip.AddrPort) *ipcpb.Upstream {
			return &ipcpb.Upstream{Address: a.String(), Interface: "lo", SourceAddress: "127.0.0.4"}
		}, "127.0.0.4", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.1", 0))
			cfg := &ipcpb.DNSConfig{CacheSize: 0, Generation: 1, Upstreams: []*ipcpb.Upstream{tt.up(u.addr)}}
			d := startDNSD(t, cfg, "", instanceOptions{})
			for i := range 3 {
				if got := firstA(ask(t, d, newQuery(fmt.Sprintf("n%d.example.", i), dns.TypeA), "udp")); got != "10.0.0.1" {
					t.Fatalf("query %d: %q", i, got)
				}
			}
			for _, src := range u.sources() {
				if src.Addr().String() != tt.wantIP || tt.wantPort != 0 && int(src.Port()) != tt.wantPort {
					t.Errorf("query came from %s, want %s port %d", src, tt.wantIP, tt.wantPort)
				}
			}
		})
	}
}

// TestSourceBindFailure: a source address the host does not have, or an
// interface it does not have: no query can be sent, and the client gets
// REFUSED at once, as from dnsmasq ("failed to bind server socket").
func TestSourceBindFailure(t *testing.T) {
	u := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.1", 0))
	for _, up := range []*ipcpb.Upstream{
		{Address: u.addr.String(), SourceAddress: "192.0.2.99"},
		{Address: u.addr.String(), Interface: "nosuchif0"},
	} {
		d := startDNSD(t, &ipcpb.DNSConfig{Generation: 1, Upstreams: []*ipcpb.Upstream{up}}, "", instanceOptions{})
		r := ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
		if r.Rcode != dns.RcodeRefused {
			t.Errorf("%v: %s, want REFUSED", up, dns.RcodeToString[r.Rcode])
		}
		waitFor(t, "the bind failure in the log", func() bool {
			return strings.Contains(d.log.String(), "failed to bind server socket to")
		})
	}
	if u.count() != 0 {
		t.Errorf("upstream got %d queries", u.count())
	}
}

func TestPortRange(t *testing.T) {
	u := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.1", 0))
	const lo, hi = 40100, 40109
	cfg := policyCfg(func(c *ipcpb.DNSConfig) { c.MinPort, c.MaxPort, c.CacheSize = lo, hi, 0 }, u.addr)
	d := startDNSD(t, cfg, "", instanceOptions{})
	const n = 30
	for i := range n {
		ask(t, d, newQuery(fmt.Sprintf("n%d.example.", i), dns.TypeA), "udp")
	}
	ports := map[uint16]bool{}
	for _, src := range u.sources() {
		if src.Port() < lo || src.Port() > hi {
			t.Errorf("query from port %d, outside %d-%d", src.Port(), lo, hi)
		}
		ports[src.Port()] = true
	}
	// 30 queries over 10 ports: all on one port would mean no randomness
	// (a 1 in 10^29 chance otherwise).
	if len(ports) < 2 {
		t.Errorf("every query from the same port: %v", ports)
	}
}

func TestDefaultPortsAreRandom(t *testing.T) {
	u := startRecUpstream(t, "127.0.0.1", replyA("10.0.0.1", 0))
	d := startDNSD(t, policyCfg(func(c *ipcpb.DNSConfig) { c.CacheSize = 0 }, u.addr), "", instanceOptions{})
	for i := range 20 {
		ask(t, d, newQuery(fmt.Sprintf("n%d.example.", i), dns.TypeA), "udp")
	}
	ports := map[uint16]bool{}
	for _, src := range u.sources() {
		if src.Port() < 1024 {
			t.Errorf("source port %d below 1024", src.Port())
		}
		ports[src.Port()] = true
	}
	if len(ports) < 15 {
		t.Errorf("20 queries from %d ports: not a fresh random port each", len(ports))
	}
}

// TestQueryPort: query-port=N sends every query from N; query-port=0 from
// one port the kernel chose. Concurrent queries share the port and each
// gets its own answer.
func TestQueryPort(t *testing.T) {
	for _, port := range []int{freePortOn(t, "127.0.0.1"), 0} {
		t.Run(fmt.Sprint(port), func(t *testing.T) {
			u := startRecUpstream(t, "127.0.0.1", func(q *dns.Msg) *dns.Msg {
				return aReply(q, "10.0.0."+strings.TrimPrefix(strings.Split(q.Question[0].Name, ".")[0], "n"))
			})
			cfg := policyCfg(func(c *ipcpb.DNSConfig) { c.QueryPort, c.CacheSize = proto.Uint32(uint32(port)), 0 }, u.addr)
			d := startDNSD(t, cfg, "", instanceOptions{})
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := ask(t, d, newQuery(fmt.Sprintf("n%d.example.", i), dns.TypeA), "udp")
					if got, want := firstA(r), fmt.Sprintf("10.0.0.%d", i); got != want {
						t.Errorf("query %d answered %q, want %s", i, got, want)
					}
				}()
			}
			wg.Wait()
			ports := map[uint16]bool{}
			for _, src := range u.sources() {
				ports[src.Port()] = true
			}
			if len(ports) != 1 || port != 0 && !ports[uint16(port)] {
				t.Errorf("queries came from ports %v, want only %d", ports, port)
			}
		})
	}
}

// TestTCPForwardingBinds: a TCP client's query goes upstream over TCP,
// from the server's source address.
func TestTCPForwardingBinds(t *testing.T) {
	var mu sync.Mutex
	var from []string
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		mu.Lock()
		from = append(from, w.RemoteAddr().String())
		mu.Unlock()
		answerA("10.0.0.5", 60)(w, r)
	})
	cfg := &ipcpb.DNSConfig{Generation: 1, Upstreams: []*ipcpb.Upstream{{Address: up.addr.String(), SourceAddress: "127.0.0.5"}}}
	d := startDNSD(t, cfg, "", instanceOptions{})
	if got := firstA(ask(t, d, newQuery("tcp.example.", dns.TypeA), "tcp")); got != "10.0.0.5" {
		t.Fatalf("answer %q", got)
	}
	if up.tcp.Load() != 1 || up.udp.Load() != 0 {
		t.Errorf("upstream got %d TCP and %d UDP queries, want one over TCP", up.tcp.Load(), up.udp.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(from) != 1 || !strings.HasPrefix(from[0], "127.0.0.5:") {
		t.Errorf("TCP query from %v, want 127.0.0.5", from)
	}
}
