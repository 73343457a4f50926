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
