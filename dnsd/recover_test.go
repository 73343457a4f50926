package dnsd

import (
	"bytes"
	"encoding/hex"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestPanicRecovered: a handler that panics on one query costs that query
// only, over UDP and over TCP; the panic is counted and logged with the
// packet in hex, and the next query is answered.
func TestPanicRecovered(t *testing.T) {
	marker := []byte("\x05boom1")
	queryFault = func(raw []byte) {
		if bytes.Contains(raw, marker) {
			panic("injected fault")
		}
	}
	t.Cleanup(func() { queryFault = nil })
	d := startDNSD(t, upstreamCfg(), "10.0.0.1 bar.lan\n", instanceOptions{})
	bad, _ := newQuery("boom1.lan.", dns.TypeA).Pack()
	for i, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			addr := d.udpAddr.String()
			if network == "tcp" {
				addr = d.tcpAddr.String()
			}
			c, err := net.Dial(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			msg := bad
			if network == "tcp" {
				msg = append([]byte{byte(len(bad) >> 8), byte(len(bad))}, bad...)
			}
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the panic counted", func() bool { return d.server.stats.panics.Load() == uint64(i+1) })
			r := ask(t, d, newQuery("bar.lan.", dns.TypeA), network)
			if len(r.Answer) != 1 {
				t.Fatalf("answer after the panic: %v", r)
			}
		})
	}
	waitFor(t, "the panic logged", func() bool {
		log := d.log.String()
		return strings.Contains(log, "recovered from a panic in a UDP query: injected fault") &&
			strings.Contains(log, "recovered from a panic in a TCP query: injected fault") &&
			strings.Contains(log, hex.EncodeToString(bad))
	})
}
