package dnsd

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/workerproc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// wildcardUDP makes a socket the way the master does without
// bind-interfaces: bound to the wildcard address with packet info enabled.
func wildcardUDP(t *testing.T, v6 bool) (workerproc.Socket, uint16) {
	t.Helper()
	family, level, opt, sa := unix.AF_INET, unix.IPPROTO_IP, unix.IP_PKTINFO, unix.Sockaddr(&unix.SockaddrInet4{})
	if v6 {
		family, level, opt, sa = unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, &unix.SockaddrInet6{}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "wildcard")
	t.Cleanup(func() { f.Close() })
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.SetsockoptInt(fd, level, opt, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	var port int
	addr := "0.0.0.0"
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		port = a.Port
	case *unix.SockaddrInet6:
		port, addr = a.Port, "::"
	}
	ap := netip.AddrPortFrom(netip.MustParseAddr(addr), uint16(port))
	return workerproc.Socket{Desc: &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DNS_UDP, Address: ap.String(), Pktinfo: true}, File: f}, uint16(port)
}

// askFrom sends a query to dst from an unconnected socket and returns the
// reply and the address it came from; ok is false when nothing came back
// within wait.
func askFrom(t *testing.T, dst netip.AddrPort, name string, wait time.Duration) (*dns.Msg, netip.AddrPort, bool) {
	t.Helper()
	network, local := "udp4", "127.0.0.1:0"
	if dst.Addr().Is6() {
		network, local = "udp6", "[::1]:0"
	}
	laddr, _ := net.ResolveUDPAddr(network, local)
	c, err := net.ListenUDP(network, laddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wire, _ := newQuery(name, dns.TypeA).Pack()
	if _, err := c.WriteToUDPAddrPort(wire, dst); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	return r, from, true
}

func TestPktinfoReplyFromAskedAddress(t *testing.T) {
	sock, port := wildcardUDP(t, false)
	cfg := upstreamCfg()
	cfg.AllowedAddresses = []string{"127.0.0.1", "127.0.0.2"}
	d := startDNSD(t, cfg, "10.0.0.1 bar.lan\n", instanceOptions{sockets: []workerproc.Socket{sock}})

	for _, asked := range []string{"127.0.0.2", "127.0.0.1"} {
		dst := netip.AddrPortFrom(netip.MustParseAddr(asked), port)
		r, from, ok := askFrom(t, dst, "bar.lan.", 5*time.Second)
		if !ok {
			t.Fatalf("no reply to a query for %s", dst)
		}
		if from != dst {
			t.Errorf("reply to a query for %s came from %s", dst, from)
		}
		if len(r.Answer) != 1 {
			t.Errorf("answer %v", r.Answer)
		}
	}
	// 127.0.0.3 is not allowed: dropped without a reply.
	if _, _, ok := askFrom(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.3"), port), "bar.lan.", 300*time.Millisecond); ok {
		t.Error("a query for a disallowed address was answered")
	}
	waitFor(t, "disallowed count", func() bool { return d.server.stats.disallowed.Load() == 1 })
}

func TestPktinfoInterfaces(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatalf("loopback interface: %v", err)
	}
	tests := []struct {
		name     string
		allowed  []uint32
		excluded []uint32
		answered bool
	}{
		{"every interface", nil, nil, true},
		{"allowed interface", []uint32{uint32(lo.Index)}, nil, true},
		{"other interface only", []uint32{uint32(lo.Index) + 1000}, nil, false},
		{"excluded interface", nil, []uint32{uint32(lo.Index)}, false},
		{"excluded wins over allowed", []uint32{uint32(lo.Index)}, []uint32{uint32(lo.Index)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock, port := wildcardUDP(t, false)
			cfg := upstreamCfg()
			cfg.AllowedIfindexes, cfg.ExcludedIfindexes = tt.allowed, tt.excluded
			startDNSD(t, cfg, "10.0.0.1 bar.lan\n", instanceOptions{sockets: []workerproc.Socket{sock}})
			wait := 5 * time.Second
			if !tt.answered {
				wait = 300 * time.Millisecond
			}
			dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.5"), port)
			_, from, ok := askFrom(t, dst, "bar.lan.", wait)
			if ok != tt.answered {
				t.Fatalf("answered = %v, want %v", ok, tt.answered)
			}
			if ok && from != dst {
				t.Errorf("reply from %s, want %s", from, dst)
			}
		})
	}
}

func TestPktinfoIPv6(t *testing.T) {
	sock, port := wildcardUDP(t, true)
	startDNSD(t, upstreamCfg(), "10.0.0.1 bar.lan\n", instanceOptions{sockets: []workerproc.Socket{sock}})
	dst := netip.AddrPortFrom(netip.IPv6Loopback(), port)
	r, from, ok := askFrom(t, dst, "bar.lan.", 5*time.Second)
	if !ok {
		t.Fatal("no reply over IPv6")
	}
	if from != dst || len(r.Answer) != 1 {
		t.Errorf("reply from %s with %v", from, r.Answer)
	}
}

func TestParsePktinfoRejectsGarbage(t *testing.T) {
	for _, oob := range [][]byte{nil, {1, 2, 3}, make([]byte, 64)} {
		if _, _, ok := parsePktinfo(oob); ok {
			t.Errorf("parsePktinfo(%v) ok", oob)
		}
	}
	for _, a := range []string{"127.0.0.2", "fe80::1", "::1"} {
		addr := netip.MustParseAddr(a)
		buf := make([]byte, oobSize)
		oob := marshalPktinfo(buf, addr, 7)
		got, ix, ok := parsePktinfo(oob)
		if !ok || got != addr || (addr.Is6() && ix != 7) {
			t.Errorf("round trip %s: %v %d %v", a, got, ix, ok)
		}
	}
}
