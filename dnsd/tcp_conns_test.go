package dnsd

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestTCPTableAdmit: the table's choices, without sockets.
func TestTCPTableAdmit(t *testing.T) {
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	d, e := netip.MustParseAddr("192.0.2.4"), netip.MustParseAddr("192.0.2.5")
	tests := []struct {
		name        string
		max         int
		held        []netip.Addr // admitted first, oldest first
		busy        []bool       // per held connection
		next        netip.Addr
		ok, evicted bool
		victim      int // index into held, when evicted
	}{
		{"room", 8, []netip.Addr{a}, []bool{false}, b, true, false, -1},
		{"client over its share", 8, []netip.Addr{a, a}, []bool{false, false}, a, false, false, -1},
		{"full: the longest idle goes", 4, []netip.Addr{a, b, c, d}, []bool{false, false, false, false}, e, true, true, 0},
		{"full: a busy one stays", 4, []netip.Addr{a, b, c, d}, []bool{true, false, false, false}, e, true, true, 1},
		{"full of busy ones: refused", 4, []netip.Addr{a, b, c, d}, []bool{true, true, true, true}, e, false, false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := newTCPTable(tt.max)
			var held []*tcpConn
			for i, addr := range tt.held {
				tc := &tcpConn{client: addr}
				if ok, _ := tab.admit(tc); !ok {
					t.Fatalf("held connection %d not admitted", i)
				}
				tc.idleAt.Store(int64(i)) // oldest first
				tc.busy.Store(tt.busy[i])
				held = append(held, tc)
			}
			// The victim is closed through its *net.TCPConn; give each a
			// real one so that Close works.
			for _, tc := range held {
				tc.c = loopbackTCPConn(t)
			}
			ok, evicted := tab.admit(&tcpConn{client: tt.next, c: loopbackTCPConn(t)})
			if ok != tt.ok || evicted != tt.evicted {
				t.Fatalf("admit: ok %v evicted %v, want %v %v", ok, evicted, tt.ok, tt.evicted)
			}
			for i, tc := range held {
				_, still := tab.conns[tc]
				if gone := i == tt.victim; still == gone {
					t.Errorf("held connection %d: in the table %v, want %v", i, still, !gone)
				}
			}
		})
	}
}

// loopbackTCPConn is a connected *net.TCPConn, closed at the end.
func loopbackTCPConn(t *testing.T) *net.TCPConn {
	t.Helper()
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.DialTCP("tcp", nil, l.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialFrom opens a TCP connection to d from the loopback address src.
func dialFrom(t *testing.T, d *dnsdInstance, src string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP(src)}, net.TCPAddrFromAddrPort(d.tcpAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip asks one question on c and reports whether it was answered.
func roundTrip(c net.Conn) bool {
	conn := &dns.Conn{Conn: c}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if conn.WriteMsg(newQuery("bar.lan.", dns.TypeA)) != nil {
		return false
	}
	r, err := conn.ReadMsg()
	return err == nil && len(r.Answer) == 1
}

// TestTCPHeldOpenConnections: 64 connections held open by four clients
// (16 each, their share) do not stop a fifth client's TCP query, which
// takes the slot of the longest idle; a client over its share is refused.
// dnsmasq 2.90 fails this: its TCP children stay busy with the held
// connections.
func TestTCPHeldOpenConnections(t *testing.T) {
	d := startDNSD(t, upstreamCfg(), "10.0.0.1 bar.lan\n", instanceOptions{})
	var held []*net.TCPConn
	for client := 1; client <= 4; client++ {
		for range maxTCPConns / 4 {
			c := dialFrom(t, d, "127.0.0."+string(rune('0'+client)))
			// A round trip proves the server took this connection.
			if !roundTrip(c) {
				t.Fatalf("held connection %d not served", len(held))
			}
			held = append(held, c)
		}
	}
	over := dialFrom(t, d, "127.0.0.1")
	if !closedByServer(t, over, 5*time.Second) {
		t.Error("a client over its share of connections was served")
	}
	waitFor(t, "rejected count", func() bool { return d.server.stats.tcpRejected.Load() == 1 })
	if !roundTrip(dialFrom(t, d, "127.0.0.5")) {
		t.Fatal("a new client was not served while 64 connections were held open")
	}
	if got := d.server.stats.tcpEvicted.Load(); got != 1 {
		t.Errorf("evicted %d connections, want 1", got)
	}
	if !closedByServer(t, held[0], 5*time.Second) {
		t.Error("the longest idle connection was not the one closed")
	}
	if !roundTrip(held[len(held)-1]) {
		t.Error("a recently active connection was closed")
	}
}
