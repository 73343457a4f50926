package dnsd

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func TestClientShare(t *testing.T) {
	tests := []struct{ forwardMax, share int }{
		{1, 0}, {2, 0}, {29, 0}, {30, 20}, {150, 100}, {1000, 666},
	}
	for _, tt := range tests {
		if got := clientShare(tt.forwardMax); got != tt.share {
			t.Errorf("clientShare(%d) = %d, want %d", tt.forwardMax, got, tt.share)
		}
	}
}

// askFromAddr sends q from the loopback address src and returns the reply.
func askFromAddr(t *testing.T, d *dnsdInstance, src string, q *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: "udp", Timeout: 8 * time.Second,
		Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}}
	r, _, err := c.Exchange(q, d.udpAddr.String())
	if err != nil {
		t.Fatalf("from %s: %v", src, err)
	}
	return r
}

// TestClientShareOfForwardMax: one client with its share of queries
// waiting upstream (40 of dns-forward-max=60) is refused more, while
// another client is still forwarded; once the answers come, the first
// client is forwarded again.
func TestClientShareOfForwardMax(t *testing.T) {
	u, release := holdingUpstream(t)
	cfg := policyCfg(func(c *ipcpb.DNSConfig) { c.DnsForwardMax = proto.Uint32(60) }, u.addr)
	d := startDNSD(t, cfg, "", instanceOptions{})
	share := clientShare(60)
	results := make(chan *dns.Msg, share+1)
	for i := range share {
		q := newQuery(fmt.Sprintf("held%d.example.", i), dns.TypeA)
		go func() { results <- askFromAddr(t, d, "127.0.0.1", q) }()
	}
	waitFor(t, "the client's share upstream", func() bool { return u.count() == share })
	if r := askFromAddr(t, d, "127.0.0.1", newQuery("over.example.", dns.TypeA)); r.Rcode != dns.RcodeRefused {
		t.Errorf("over the client's share: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	if got := d.server.stats.clientLimited.Load(); got != 1 {
		t.Errorf("clientLimited %d, want 1", got)
	}
	go func() { results <- askFromAddr(t, d, "127.0.0.2", newQuery("other.example.", dns.TypeA)) }()
	waitFor(t, "another client forwarded", func() bool { return u.count() == share+1 })
	release()
	for range share + 1 {
		if r := <-results; firstA(r) != "10.9.9.9" {
			t.Errorf("held query: %v", r)
		}
	}
	if r := askFromAddr(t, d, "127.0.0.1", newQuery("after.example.", dns.TypeA)); firstA(r) != "10.9.9.9" {
		t.Errorf("after the answers: %v", r)
	}
}
