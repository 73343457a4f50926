package dnsd

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// benchLoop sends the packed query over a connected UDP socket and reads
// each reply: one client, one query in flight, loopback.
func benchLoop(b *testing.B, d *dnsdInstance, q *dns.Msg) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(d.udpAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	wire, err := q.Pack()
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 2048)
	// One round trip first, so the cache is warm and nothing is measured
	// before the server has answered once.
	if _, err := conn.Write(wire); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Read(buf); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := conn.Write(wire); err != nil {
			b.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		if n < 12 || buf[0] != wire[0] || buf[1] != wire[1] {
			b.Fatal("bad reply")
		}
	}
}

func BenchmarkHostsQueryUDP(b *testing.B) {
	d := startDNSD(b, upstreamCfg(), "192.168.1.10 foo.lan foo\n", instanceOptions{})
	benchLoop(b, d, newQuery("foo.lan.", dns.TypeA))
}

func BenchmarkCachedQueryUDP(b *testing.B) {
	up := startUpstream(b, answerA("1.2.3.4", 3600))
	d := startDNSD(b, upstreamCfg(up.addr), "", instanceOptions{})
	benchLoop(b, d, newQuery("www.example.com.", dns.TypeA))
	if up.queries() != 1 {
		b.Errorf("upstream saw %d queries, want 1 (the rest from the cache)", up.queries())
	}
}
