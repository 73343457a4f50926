package dhcpd

import (
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/dhcpserver"
	"github.com/moatdns/moat/internal/testutil"
)

// pingNetns makes a raw ICMP socket in a new network namespace, as the
// master does in its own: lo up when loUp, echo requests ignored (the
// namespace's icmp_echo_ignore_all) when silent. The namespace lives as
// long as the socket; the thread that made it is thrown away.
func pingNetns(t *testing.T, loUp, silent bool) int {
	t.Helper()
	testutil.RequireRoot(t, "a raw ICMP socket in a new network namespace")
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread, in the new namespace, ends with
		// the goroutine.
		runtime.LockOSThread()
		fd, err := func() (int, error) {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return -1, err
			}
			if loUp {
				if err := setLoUp(); err != nil {
					return -1, err
				}
			}
			if silent {
				// /proc/sys/net is the opening thread's namespace.
				if err := os.WriteFile("/proc/sys/net/ipv4/icmp_echo_ignore_all", []byte("1"), 0); err != nil {
					return -1, err
				}
			}
			return unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		}()
		done <- result{fd, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("ping socket in a new namespace: %v", r.err)
	}
	t.Cleanup(func() { unix.Close(r.fd) })
	return r.fd
}

// setLoUp brings the namespace's loopback interface up.
func setLoUp() error {
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
	return unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr)
}

// nextEvent waits for a reply or the pinger's earliest deadline, as the
// server's loop does, and returns the probe decided and whether its
// address answered. It fails after limit.
func nextEvent(t *testing.T, p *pinger, replies <-chan dhcpserver.EchoReply, limit time.Duration) (uint64, bool) {
	t.Helper()
	stop := time.After(limit)
	for {
		var timer <-chan time.Time
		if at, ok := p.next(); ok {
			timer = time.After(time.Until(at))
		}
		select {
		case r := <-replies:
			if id, ok := p.replied(r); ok {
				return id, true
			}
		case <-timer:
			if ids := p.expired(time.Now()); len(ids) > 0 {
				return ids[0], false
			}
		case <-stop:
			t.Fatalf("no reply and no timeout after %v", limit)
		}
	}
}

func TestPinger(t *testing.T) {
	loopback := netip.MustParseAddr("127.0.0.1")
	t.Run("answered", func(t *testing.T) {
		p, err := newPinger(pingNetns(t, true, false), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		replies := make(chan dhcpserver.EchoReply, 16)
		go p.read(replies)
		if err := p.send(41, loopback, time.Now()); err != nil {
			t.Fatal(err)
		}
		if id, inUse := nextEvent(t, p, replies, 10*time.Second); id != 41 || !inUse {
			t.Fatalf("probe %d inUse=%v, want 41 in use", id, inUse)
		}
		if _, ok := p.next(); ok {
			t.Error("a probe is still in flight")
		}
	})
	t.Run("silent: free after the wait", func(t *testing.T) {
		p, err := newPinger(pingNetns(t, true, true), 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		replies := make(chan dhcpserver.EchoReply, 16)
		go p.read(replies)
		start := time.Now()
		if err := p.send(7, loopback, start); err != nil {
			t.Fatal(err)
		}
		if id, inUse := nextEvent(t, p, replies, 10*time.Second); id != 7 || inUse {
			t.Fatalf("probe %d inUse=%v, want 7 free", id, inUse)
		}
		if time.Since(start) < 200*time.Millisecond {
			t.Error("decided before the wait was over")
		}
	})
	t.Run("no route: send fails", func(t *testing.T) {
		p, err := newPinger(pingNetns(t, false, false), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.send(1, loopback, time.Now()); err == nil {
			t.Fatal("send without a route succeeded")
		}
		if _, ok := p.next(); ok {
			t.Error("a failed send left a probe in flight")
		}
	})
	t.Run("each probe answered on its own", func(t *testing.T) {
		// Two probes of one address: the reply to each decides only its
		// own (a reply to a forgotten probe decides nothing).
		p, err := newPinger(pingNetns(t, true, false), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		replies := make(chan dhcpserver.EchoReply, 16)
		go p.read(replies)
		for _, id := range []uint64{1, 2, 3} {
			if err := p.send(id, loopback, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		p.pending[p.seq].done = true // probe 3 forgotten
		delete(p.pending, p.seq)
		got := map[uint64]bool{}
		for range 2 {
			id, inUse := nextEvent(t, p, replies, 10*time.Second)
			if !inUse || got[id] {
				t.Fatalf("probe %d inUse=%v (decided before: %v)", id, inUse, got)
			}
			got[id] = true
		}
		if !got[1] || !got[2] {
			t.Fatalf("decided %v, want 1 and 2", got)
		}
	})
}

// TestPingFilter: on a real socket the filter lets through only echo
// replies with the pinger's identifier: not our own echo requests (which
// loopback delivers to the raw socket too) and not replies to another
// identifier.
func TestPingFilter(t *testing.T) {
	fd := pingNetns(t, true, false)
	p, err := newPinger(fd, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	to := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Sendto(fd, dhcpserver.EchoRequest(p.id+1, 500), 0, to); err != nil {
		t.Fatal(err)
	}
	if err := unix.Sendto(fd, dhcpserver.EchoRequest(p.id, 501), 0, to); err != nil {
		t.Fatal(err)
	}
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := dhcpserver.ParseEchoReply(buf[:n])
	if !ok || r.ID != p.id || r.Seq != 501 {
		t.Fatalf("first datagram through the filter: %+v ok=%v, want our reply seq 501 (id %d)", r, ok, p.id)
	}
	// Nothing else is queued: the request and the foreign reply were
	// dropped by the kernel.
	if n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != unix.EAGAIN {
		t.Fatalf("another datagram passed the filter: %d bytes, err %v", n, err)
	}
}
