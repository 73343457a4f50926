package masterd

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/dhcpserver"
	"github.com/moatdns/moat/internal/testutil"
)

// inNewNetns runs fn on a thread in a new network namespace with its
// loopback up; sockets fn opens stay in that namespace. The thread is
// thrown away afterwards.
func inNewNetns(t *testing.T, fn func() error) {
	t.Helper()
	testutil.RequireRoot(t, "a new network namespace")
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		done <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return err
			}
			s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(s)
			ifr, err := unix.NewIfreq("lo")
			if err != nil {
				return err
			}
			if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
				return err
			}
			ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
			if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
				return err
			}
			return fn()
		}()
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func recvTimeout(t *testing.T, fd int, d time.Duration) {
	t.Helper()
	tv := unix.NsecToTimeval(d.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
}

// TestDHCPICMPSocket: the master's ping socket passes echo replies only:
// the echo request it sends itself, which loopback also delivers to it,
// is dropped by the filter.
func TestDHCPICMPSocket(t *testing.T) {
	var sock openSocket
	inNewNetns(t, func() (err error) {
		sock, err = openDHCPICMP()
		return err
	})
	defer sock.file.Close()
	fd := int(sock.file.Fd())
	if err := unix.Sendto(fd, dhcpserver.EchoRequest(4242, 7), 0, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	recvTimeout(t, fd, 5*time.Second)
	buf := make([]byte, 1500)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := dhcpserver.ParseEchoReply(buf[:n]); !ok || r.ID != 4242 || r.Seq != 7 {
		t.Fatalf("first datagram: % x, want the echo reply", buf[:n])
	}
	if n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != unix.EAGAIN {
		t.Fatalf("a second datagram passed (%d bytes, %v): the echo request was not filtered", n, err)
	}
	if sz, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err != nil || sz < 4<<20 {
		t.Errorf("send buffer %d (%v), want at least 4 MiB for the probes in flight", sz, err)
	}
}

// TestDHCPRoutedSocket: the routed socket sends from port 67 and
// receives nothing, not even a datagram to its own port.
func TestDHCPRoutedSocket(t *testing.T) {
	var routed openSocket
	var peer int
	inNewNetns(t, func() (err error) {
		if routed, err = openDHCPRouted(); err != nil {
			return err
		}
		if peer, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.Bind(peer, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 68})
	})
	defer routed.file.Close()
	defer unix.Close(peer)
	fd := int(routed.file.Fd())
	if err := unix.Sendto(fd, []byte("reply"), 0, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 68}); err != nil {
		t.Fatal(err)
	}
	recvTimeout(t, peer, 5*time.Second)
	buf := make([]byte, 64)
	n, from, err := unix.Recvfrom(peer, buf, 0)
	if err != nil || string(buf[:n]) != "reply" || from.(*unix.SockaddrInet4).Port != 67 {
		t.Fatalf("peer got %q from %+v (%v), want \"reply\" from port 67", buf[:n], from, err)
	}
	if err := unix.Sendto(peer, []byte("request"), 0, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 67}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // loopback delivers at once; this is slack, not a timing assertion
	if n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != unix.EAGAIN {
		t.Fatalf("the routed socket received %d bytes (%v)", n, err)
	}
}
