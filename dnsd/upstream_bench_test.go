package dnsd

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// BenchmarkForwardedQueryUDP is the miss path: every query a new name
// (cache-size 0), forwarded to a loopback upstream over a fresh socket
// with a random port, answered, rebuilt for the client.
func BenchmarkForwardedQueryUDP(b *testing.B) {
	benchForwardNewNames(b, func(c *ipcpb.DNSConfig) {})
}

// benchForwardNewNames runs dnsd (configured by edit, without a cache)
// against a loopback upstream and asks it b.N new names, one at a time:
// every query a miss.
func benchForwardNewNames(b *testing.B, edit func(c *ipcpb.DNSConfig)) {
	up := startUpstream(b, answerA("10.0.0.1", 60))
	d := startDNSD(b, policyCfg(func(c *ipcpb.DNSConfig) { c.CacheSize = 0; edit(c) }, up.addr), "", instanceOptions{})
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

// BenchmarkForwardedQueryUDPLoad is the miss path under load: 32 queries
// in flight from each of the benchmark's goroutines, every one a new
// name, so that the socket's loop reads them in batches and the miss
// reader answers them in batches.
func BenchmarkForwardedQueryUDPLoad(b *testing.B) {
	up := startUpstream(b, answerA("10.0.0.1", 60))
	d := startDNSD(b, policyCfg(func(c *ipcpb.DNSConfig) { c.CacheSize = 0 }, up.addr), "", instanceOptions{})
	const window = 32
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("udp", d.udpAddr.String())
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		buf := make([]byte, 1500)
		inFlight := 0
		send := func() bool {
			q := newQuery(fmt.Sprintf("l%d.example.", next.Add(1)), dns.TypeA)
			out, _ := q.Pack()
			if _, err := conn.Write(out); err != nil {
				b.Error(err)
				return false
			}
			inFlight++
			return true
		}
		for pb.Next() {
			for inFlight < window {
				if !send() {
					return
				}
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Read(buf); err != nil {
				b.Error(err)
				return
			}
			inFlight--
		}
		for ; inFlight > 0; inFlight-- { // the last answers, before the socket closes
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Read(buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	st := statFor(b, d.server, up.addr)
	b.ReportMetric(float64(st.Failed), "failed")
	b.ReportMetric(float64(st.Retried), "retried")
}
