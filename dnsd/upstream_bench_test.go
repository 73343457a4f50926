package dnsd

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// BenchmarkForwardedQueryUDP is the miss path: every query a new name
// (cache-size 0), forwarded to a loopback upstream over a fresh socket
// with a random port, answered, rebuilt for the client.
func BenchmarkForwardedQueryUDP(b *testing.B) {
	up := startUpstream(b, answerA("10.0.0.1", 60))
	d := startDNSD(b, policyCfg(func(c *ipcpb.DNSConfig) { c.CacheSize = 0 }, up.addr), "", instanceOptions{})
	conn, err := net.Dial("udp", d.udpAddr.String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 1500)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		q := newQuery(fmt.Sprintf("n%d.example.", i), dns.TypeA)
		out, _ := q.Pack()
		if _, err := conn.Write(out); err != nil {
			b.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
