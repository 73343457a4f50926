package dnsd

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/sockfilter"
)

// withEBPFFilter loads the socket filters as the master does and hands
// their descriptors to this process's dnsd state, as takeSocketFilters
// does; the state is reset when the test ends.
func withEBPFFilter(tb testing.TB) *sockfilter.Objects {
	tb.Helper()
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		tb.Skip("loading eBPF needs root (or CAP_BPF); CI runs this as root")
	}
	o, err := sockfilter.Load()
	if err != nil {
		tb.Fatalf("load socket filters: %v", err)
	}
	filterProgFD, filterMapFD, filterSetFD = o.Upstream.FD(), o.Expect.FD(), o.ExpectSet.FD()
	tb.Cleanup(func() {
		filterProgFD, filterMapFD, filterSetFD = -1, -1, -1
		setUpstreamFilterMode("")
		o.Close()
	})
	return o
}

// junkFirstUpstream answers every query with junk first (a short
// datagram, the query itself, a reply with the wrong ID, and for
// wrongCase a reply with the right ID) and then the genuine answer.
func junkFirstUpstream(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			forged := answerFor(q, "6.6.6.6")
			forged.Id ^= 0x5a5a
			genuine := answerFor(q, "10.0.0.1")
			fb, _ := forged.Pack()
			gb, _ := genuine.Pack()
			for _, b := range [][]byte{{1, 2, 3}, buf[:n], fb, gb} {
				_, _ = pc.WriteToUDP(b, from)
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func answerFor(q *dns.Msg, ip string) *dns.Msg {
	r := new(dns.Msg)
	r.SetReply(q)
	r.Answer = append(r.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)})
	return r
}

// TestUpstreamFilterDropsJunk: with the eBPF filter, the junk an
// upstream (or a spoofer) sends to a query port never reaches dnsd, and
// the genuine answer does.
func TestUpstreamFilterDropsJunk(t *testing.T) {
	tests := []struct {
		name   string
		mode   string
		ebpf   bool
		source string // the server's source address: no ID check
		active sockfilter.Active
	}{
		{"ebpf", "auto", true, "", sockfilter.ActiveEBPF},
		{"ebpf with source address", "ebpf", true, "127.0.0.1", sockfilter.ActiveEBPF},
		{"classic", "classic", false, "", sockfilter.ActiveClassic},
		{"off", "off", false, "", sockfilter.ActiveNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o *sockfilter.Objects
			if tt.ebpf {
				o = withEBPFFilter(t)
			} else {
				t.Cleanup(func() { setUpstreamFilterMode("") })
			}
			up := junkFirstUpstream(t)
			const queries = 5
			d := startDNSD(t, policyCfg(func(c *ipcpb.DNSConfig) {
				c.CacheSize = 0
				c.SocketFilter = tt.mode
				c.Upstreams[0].SourceAddress = tt.source
			}, up), "", instanceOptions{})
			if got := upstreamFilterActive(); got != tt.active {
				t.Fatalf("active filter %v, want %v", got, tt.active)
			}
			for i := range queries {
				r := ask(t, d, newQuery(string(rune('a'+i))+".example.", dns.TypeA), "udp")
				if got := firstA(r); got != "10.0.0.1" {
					t.Fatalf("answer %q, want the genuine 10.0.0.1", got)
				}
			}
			// What dnsd read and refused: the junk the filter let through.
			bad := d.server.stats.upstreamBad.Load() + d.server.stats.upstreamMismatch.Load()
			switch {
			case tt.active == sockfilter.ActiveEBPF && tt.source == "":
				// Every junk datagram dropped in the kernel: dnsd read
				// only the genuine answers.
				if bad != 0 {
					t.Errorf("dnsd saw %d unusable upstream datagrams, want 0", bad)
				}
				st, err := o.Stats()
				if err != nil {
					t.Fatal(err)
				}
				want := sockfilter.Stats{sockfilter.UpstreamPassed: queries, sockfilter.UpstreamShort: queries,
					sockfilter.UpstreamNotReply: queries, sockfilter.UpstreamWrongID: queries}
				if st != want {
					t.Errorf("counters %v, want %v", &st, &want)
				}
			case tt.active == sockfilter.ActiveEBPF && tt.source != "":
				// Length and QR in the kernel; the wrong ID reaches dnsd.
				st, err := o.Stats()
				if err != nil {
					t.Fatal(err)
				}
				want := sockfilter.Stats{sockfilter.UpstreamPassed: 2 * queries, sockfilter.UpstreamShort: queries,
					sockfilter.UpstreamNotReply: queries}
				if st != want || bad != queries {
					t.Errorf("counters %v, want %v; dnsd saw %d unusable datagrams, want %d", &st, &want, bad, queries)
				}
			case tt.active == sockfilter.ActiveClassic:
				// The wrong ID passes classic BPF; dnsd's own check drops it.
				if bad != queries {
					t.Errorf("dnsd saw %d unusable upstream datagrams, want %d (the wrong-ID replies)", bad, queries)
				}
			case tt.active == sockfilter.ActiveNone:
				if bad != 3*queries {
					t.Errorf("dnsd saw %d unusable upstream datagrams, want %d (all the junk)", bad, 3*queries)
				}
			}
		})
	}
}

// BenchmarkForwardedQueryUDPFiltered is BenchmarkForwardedQueryUDP with
// the eBPF upstream filter (a setsockopt and a map update more per miss)
// and with the classic one (a setsockopt).
func BenchmarkForwardedQueryUDPFiltered(b *testing.B) {
	for _, mode := range []string{"ebpf", "classic"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "ebpf" {
				withEBPFFilter(b)
			} else {
				b.Cleanup(func() { setUpstreamFilterMode("") })
			}
			benchForwardNewNames(b, func(c *ipcpb.DNSConfig) { c.SocketFilter = mode })
		})
	}
}

// TestSharedSocketFilter: on a shared (fixed-port) socket the filter
// passes replies with an outstanding ID only.
func TestSharedSocketFilter(t *testing.T) {
	o := withEBPFFilter(t)
	setUpstreamFilterMode("auto")
	shared, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	rc, err := shared.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var sf sharedFilter
	if err := rc.Control(func(fd uintptr) { sf = filterSharedSocket(int(fd), &upstream{}) }); err != nil {
		t.Fatal(err)
	}
	if !sf.on {
		t.Fatal("no ID check on the shared socket")
	}
	if !sf.expect(5) || !sf.expect(0x3039) {
		t.Fatal("expect failed")
	}
	spoofer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer spoofer.Close()
	send := func(id uint16) {
		r := new(dns.Msg)
		r.SetQuestion("x.example.", dns.TypeA)
		r.Response, r.Id = true, id
		b, _ := r.Pack()
		if _, err := spoofer.WriteToUDP(b, shared.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
	}
	send(6)
	send(5)
	sf.done(5)
	send(5)      // no longer outstanding
	send(0x3039) // the marker
	var got []uint16
	buf := make([]byte, 512)
	for range 4 {
		_ = shared.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := shared.Read(buf)
		if err != nil {
			t.Fatalf("read after %v: %v", got, err)
		}
		id := uint16(buf[0])<<8 | uint16(buf[1])
		got = append(got, id)
		if id == 0x3039 || n < 12 {
			break
		}
	}
	if len(got) != 2 || got[0] != 5 || got[1] != 0x3039 {
		t.Fatalf("received ids %x, want [5 3039]", got)
	}
	st, err := o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st[sockfilter.UpstreamWrongID] != 2 || st[sockfilter.UpstreamPassed] != 2 {
		t.Errorf("counters %v, want 2 passed and 2 wrong IDs", &st)
	}
}

// TestUpstreamFilterGeneralPath: the sockets of the general path (here
// all-servers, which asks two servers at once) carry the eBPF filter too:
// dnsd reads none of the junk either server sends first.
func TestUpstreamFilterGeneralPath(t *testing.T) {
	o := withEBPFFilter(t)
	up1, up2 := junkFirstUpstream(t), junkFirstUpstream(t)
	const queries = 5
	d := startDNSD(t, policyCfg(func(c *ipcpb.DNSConfig) {
		c.CacheSize = 0
		c.SocketFilter = "ebpf"
		c.AllServers = true
	}, up1, up2), "", instanceOptions{})
	for i := range queries {
		r := ask(t, d, newQuery(fmt.Sprintf("general%d.example.", i), dns.TypeA), "udp")
		if got := firstA(r); got != "10.0.0.1" {
			t.Fatalf("answer %q, want the genuine 10.0.0.1", got)
		}
	}
	if bad := d.server.stats.upstreamBad.Load() + d.server.stats.upstreamMismatch.Load(); bad != 0 {
		t.Errorf("dnsd saw %d unusable upstream datagrams, want 0 (the filter drops them)", bad)
	}
	st, err := o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st[sockfilter.UpstreamWrongID] < queries {
		t.Errorf("the filter dropped %d wrong-ID replies, want at least %d", st[sockfilter.UpstreamWrongID], queries)
	}
}
