package dhcpd

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReadLinkBatches: the reader takes datagrams off a real UDP socket
// (loopback) in batches, with their source and, from IP_PKTINFO, their
// destination address, and stops when the socket is closed.
func TestReadLinkBatches(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	f, rc, err := pollable(fd, "test")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{udp: fd, rc: rc, free: make(chan *rxBatch, 2)}
	l.free <- newRxBatch(l)
	l.free <- newRxBatch(l)
	out := make(chan *rxBatch, 2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&server{}).readLink(l, "test", out)
	}()
	defer func() {
		f.Close() // the reader's poller wait ends with an error
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("reader still running after the socket was closed")
		}
	}()

	client, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	const count = rxBatchSize + 5 // more than one batch
	for i := 0; i < count; i++ {
		if _, err := client.Write([]byte(fmt.Sprintf("datagram %02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	from := netip.MustParseAddrPort(client.LocalAddr().String())
	seen := 0
	deadline := time.After(5 * time.Second)
	for seen < count {
		select {
		case b := <-out:
			for i := 0; i < b.n; i++ {
				want := fmt.Sprintf("datagram %02d", seen)
				if got := string(b.data[i][:b.lens[i]]); got != want {
					t.Fatalf("datagram %d: %q, want %q", seen, got, want)
				}
				if b.src[i] != from || b.dst[i] != netip.MustParseAddr("127.0.0.1") {
					t.Fatalf("datagram %d: from %v to %v, want from %v to 127.0.0.1", seen, b.src[i], b.dst[i], from)
				}
				seen++
			}
			l.free <- b
		case <-deadline:
			t.Fatalf("read %d of %d datagrams", seen, count)
		}
	}
}

// TestRecvSkipsCounted: on real sockets, a datagram longer than the read
// buffer (the kernel truncates it: MSG_TRUNC) and a datagram from an
// IPv6 address are skipped and counted under oversize and not_ipv4; a
// good datagram in the same batch is kept, and nothing counts as
// malformed.
func TestRecvSkipsCounted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		family int
		bind   unix.Sockaddr
		sizes  []int
		reason string
	}{
		{"oversize", unix.AF_INET, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}, []int{300, maxDatagram + 1, 300}, "oversize"},
		{"not ipv4", unix.AF_INET6, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}, []int{300}, "not_ipv4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd, err := unix.Socket(tc.family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20); err != nil {
				t.Fatal(err)
			}
			if err := unix.Bind(fd, tc.bind); err != nil {
				t.Fatal(err)
			}
			to, err := unix.Getsockname(fd)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tc.sizes {
				if err := unix.Sendto(fd, make([]byte, n), 0, to); err != nil { // to itself: loopback delivers at once
					t.Fatal(err)
				}
			}
			s := &server{}
			b := s.linkBatch(&link{})
			if err := b.recv(uintptr(fd)); err != nil {
				t.Fatal(err)
			}
			if b.n != len(tc.sizes) {
				t.Fatalf("read %d datagrams, want %d", b.n, len(tc.sizes))
			}
			skipped := 0
			for i := 0; i < b.n; i++ {
				good := tc.family == unix.AF_INET && tc.sizes[i] <= maxDatagram
				if good && b.lens[i] != tc.sizes[i] || !good && b.lens[i] != -1 {
					t.Errorf("datagram %d (%d bytes): length %d", i, tc.sizes[i], b.lens[i])
				}
				if !good {
					skipped++
				}
			}
			drops := s.dropsByReason()
			var total uint64
			for _, n := range drops {
				total += n
			}
			if drops[tc.reason] != uint64(skipped) || total != uint64(skipped) {
				t.Errorf("drops %v, want %s=%d only", drops, tc.reason, skipped)
			}
			if n := s.count.malformed.Load(); n != 0 {
				t.Errorf("%d malformed: a skipped datagram was never looked at", n)
			}
		})
	}
}
