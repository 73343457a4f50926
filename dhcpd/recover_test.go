package dhcpd

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/dhcpserver"
)

// TestPanicRecovered: a handler that panics on one datagram costs that
// datagram only: the panic is counted and logged with the packet in hex,
// and the next request is served (its OFFER reaches the send path,
// which, with no socket in this test, counts a failed send).
func TestPanicRecovered(t *testing.T) {
	marker := []byte{0xde, 0xad, 0xbe, 0xef}
	packetFault = func(raw []byte) {
		if bytes.Contains(raw, marker) {
			panic("injected fault")
		}
	}
	var log bytes.Buffer
	panicLog = &log
	t.Cleanup(func() { packetFault, panicLog = nil, os.Stderr })

	_, dc := masterConfig(t, 1)
	master, worker := connPair(t)
	sendState(t, master)
	sendConfig(t, master, dc) // streamed (config_test.go)
	s, err := configure(worker)
	if err != nil {
		t.Fatal(err)
	}
	l := &link{iface: &dhcpserver.Interface{Name: "eth0", Index: 2, Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.1.1/24")}}, udp: -1, packet: -1}
	arrive := func(data []byte) {
		s.handleArrival(worker, &queued{link: l, data: data, src: netip.MustParseAddrPort("0.0.0.0:68"),
			dst: netip.MustParseAddr("255.255.255.255"), at: time.Now()})
	}
	bad := request(dhcpDiscover, 0x11)
	copy(bad[44:], marker) // in sname
	good := request(dhcpDiscover, 0x22)
	for round := uint64(1); round <= 2; round++ {
		arrive(bad) // must not panic out of handleArrival
		if got := s.dropsByReason()["panic"]; got != round {
			t.Fatalf("round %d: %d panics counted, want %d", round, got, round)
		}
		before := s.count.sendFail.Load()
		arrive(good)
		if s.count.sendFail.Load() != before+1 {
			t.Fatalf("round %d: the request after the panic was not answered (no OFFER reached the send path)", round)
		}
	}
	out := log.String()
	for _, want := range []string{"recovered from a panic handling a DHCP packet: injected fault", hex.EncodeToString(bad[:64])} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if n := s.count.malformed.Load(); n != 0 {
		t.Errorf("%d malformed counted: a panic is not a malformed packet", n)
	}
}
