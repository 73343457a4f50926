package dhcpd

import (
	"encoding/hex"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/dhcpserver"
	"github.com/moatdns/moat/internal/testutil"
)

// TestPingPanicRecovered: a reply whose parsing panics costs that reply
// only: on a real ICMP socket (a namespace's loopback), the first reply
// panics in the parser, the panic is counted (ping_panic in the server's
// drops) and logged with the packet, and the ping goroutine goes on to
// deliver the reply to the next probe.
func TestPingPanicRecovered(t *testing.T) {
	p, err := newPinger(pingNetns(t, true, false), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var drops dropCounts
	p.drops = &drops
	var faults atomic.Int32
	var firstPacket atomic.Value // the bytes that panicked, for the log check
	pingFault = func(raw []byte) {
		if faults.Add(1) == 1 {
			firstPacket.Store(append([]byte(nil), raw...))
			panic("injected ICMP fault")
		}
	}
	var log testutil.SyncBuffer
	panicLog = &log
	t.Cleanup(func() { pingFault, panicLog = nil, os.Stderr })

	replies := make(chan dhcpserver.EchoReply, 16)
	go p.read(replies)
	loopback := netip.MustParseAddr("127.0.0.1")
	if err := p.send(1, loopback, time.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.panics.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the reply to the first probe never reached the parser")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case r := <-replies:
		t.Fatalf("the reply that panicked was delivered: %+v", r)
	default:
	}
	// The goroutine survived: the next probe's reply arrives.
	if err := p.send(2, loopback, time.Now()); err != nil {
		t.Fatal(err)
	}
	if id, inUse := nextEvent(t, p, replies, 10*time.Second); id != 2 || !inUse {
		t.Fatalf("probe %d inUse=%v, want 2 in use", id, inUse)
	}
	if got := drops.byReason()["ping_panic"]; got != 1 {
		t.Errorf("ping_panic counted %d times, want 1", got)
	}
	out := log.String()
	bad, _ := firstPacket.Load().([]byte)
	for _, want := range []string{"recovered from a panic parsing an ICMP reply: injected ICMP fault", hex.EncodeToString(bad)} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestParseReplyRecovers: parseReply itself turns a panic into "not a
// reply" and counts it; without a fault it parses as before; without
// drop counters (nil) it still counts on the pinger.
func TestParseReplyRecovers(t *testing.T) {
	var log testutil.SyncBuffer
	panicLog = &log
	pingFault = func(raw []byte) {
		if len(raw) > 0 && raw[0] == 0xff {
			panic("injected")
		}
	}
	t.Cleanup(func() { pingFault, panicLog = nil, os.Stderr })

	reply := echoReplyPacket(0x1234, 9)
	for _, tc := range []struct {
		name   string
		drops  *dropCounts
		pkt    []byte
		ok     bool
		panics uint64
	}{
		{"a good reply", &dropCounts{}, reply, true, 0},
		{"another identifier", &dropCounts{}, echoReplyPacket(0x4321, 9), false, 0},
		{"panics", &dropCounts{}, append([]byte{0xff}, reply[1:]...), false, 1},
		{"panics without drop counters", nil, []byte{0xff}, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pinger{id: 0x1234, drops: tc.drops}
			r, ok := p.parseReply(tc.pkt)
			if ok != tc.ok || (ok && (r.ID != 0x1234 || r.Seq != 9)) {
				t.Fatalf("%+v ok=%v, want ok=%v", r, ok, tc.ok)
			}
			if p.panics.Load() != tc.panics {
				t.Errorf("panics %d, want %d", p.panics.Load(), tc.panics)
			}
			if tc.drops != nil && tc.drops.byReason()["ping_panic"] != tc.panics {
				t.Errorf("ping_panic %d, want %d", tc.drops.byReason()["ping_panic"], tc.panics)
			}
		})
	}
}

// echoReplyPacket is an IPv4 datagram from 127.0.0.1 carrying an ICMP
// echo reply, as a raw socket reads it.
func echoReplyPacket(id, seq uint16) []byte {
	icmp := dhcpserver.EchoRequest(id, seq)
	icmp[0] = 0 // echo reply
	icmp[2], icmp[3] = 0, 0
	var sum uint32
	for i := 0; i+1 < len(icmp); i += 2 {
		sum += uint32(icmp[i])<<8 | uint32(icmp[i+1])
	}
	if len(icmp)%2 == 1 {
		sum += uint32(icmp[len(icmp)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	icmp[2], icmp[3] = byte(^sum>>8), byte(^sum)
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1}
	total := len(ip) + len(icmp)
	ip[2], ip[3] = byte(total>>8), byte(total)
	return append(ip, icmp...)
}
