package masterd

import (
	"net"
	"net/netip"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func TestUDPGroupSize(t *testing.T) {
	cpus := min(runtime.NumCPU(), maxUDPGroup)
	tests := []struct {
		addresses, want int
	}{
		{0, 1},
		{1, cpus},
		{2, cpus},          // wildcard: IPv4 and IPv6
		{10, min(cpus, 2)}, // (32-10)/10 descriptors per address
		{16, 1}, {40, 1},   // never below one
		{31, 1},
	}
	for _, tt := range tests {
		if got := udpGroupSize(tt.addresses); got != tt.want {
			t.Errorf("udpGroupSize(%d) = %d, want %d", tt.addresses, got, tt.want)
		}
	}
}

// freeUDPPort finds a loopback UDP port nobody uses right now.
func freeUDPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	return ap
}

func TestOpenUDPGroup(t *testing.T) {
	ap := freeUDPPort(t)
	socks, err := openUDPGroup(ap, true, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSockets(socks)
	if len(socks) != 3 {
		t.Fatalf("%d sockets, want 3", len(socks))
	}
	for i, s := range socks {
		fd := int(s.file.Fd())
		if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT); err != nil || v != 1 {
			t.Errorf("socket %d: SO_REUSEPORT = %d, %v", i, v, err)
		}
		if v, _ := unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO); v != 1 {
			t.Errorf("socket %d: no IP_PKTINFO", i)
		}
		sa, err := unix.Getsockname(fd)
		if err != nil || sa.(*unix.SockaddrInet4).Port != int(ap.Port()) {
			t.Errorf("socket %d: bound to %v (%v), want port %d", i, sa, err, ap.Port())
		}
		if s.desc.GetAddress() != ap.String() || !s.desc.GetPktinfo() {
			t.Errorf("socket %d: desc %v", i, s.desc)
		}
	}
	// Neither a plain socket nor a second group can take the port.
	if pc, err := net.ListenPacket("udp4", ap.String()); err == nil {
		pc.Close()
		t.Error("a plain socket bound the group's port")
	}
	if again, err := openUDPGroup(ap, true, 3); err == nil {
		closeSockets(again)
		t.Error("a second group joined the first")
	}
}

func TestOpenUDPGroupOfOneHasNoReusePort(t *testing.T) {
	socks, err := openUDPGroup(freeUDPPort(t), false, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSockets(socks)
	if len(socks) != 1 {
		t.Fatalf("%d sockets", len(socks))
	}
	if v, _ := unix.GetsockoptInt(int(socks[0].file.Fd()), unix.SOL_SOCKET, unix.SO_REUSEPORT); v != 0 {
		t.Error("a single socket got SO_REUSEPORT")
	}
}
