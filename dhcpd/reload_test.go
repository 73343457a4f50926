package dhcpd

import (
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/dhcpserver"
	"github.com/moatdns/moat/internal/testutil"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// reloadSockets are the sockets of TestReloadKeepsWaitingClients, all
// in one new network namespace with lo up and echo requests ignored:
// the ping socket, the routed reply socket (as the master's, bound to
// no interface) and a relay agent's socket on 127.0.0.2:67.
type reloadSockets struct{ icmp, routed, relay int }

func reloadNetns(t *testing.T) reloadSockets {
	t.Helper()
	testutil.RequireRoot(t, "a raw ICMP socket in a new network namespace")
	type result struct {
		s   reloadSockets
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread, in the new namespace, ends with
		// the goroutine; the namespace lives as long as the sockets.
		runtime.LockOSThread()
		s := reloadSockets{-1, -1, -1}
		err := func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return err
			}
			if err := setLoUp(); err != nil { // ping_test.go
				return err
			}
			if err := os.WriteFile("/proc/sys/net/ipv4/icmp_echo_ignore_all", []byte("1"), 0); err != nil {
				return err
			}
			var err error
			if s.icmp, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP); err != nil {
				return err
			}
			if s.routed, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
				return err
			}
			if s.relay, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
				return err
			}
			return unix.Bind(s.relay, &unix.SockaddrInet4{Port: dhcpserver.ServerPort, Addr: [4]byte{127, 0, 0, 2}})
		}()
		done <- result{s, err}
	}()
	r := <-done
	t.Cleanup(func() {
		for _, fd := range []int{r.s.icmp, r.s.routed, r.s.relay} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	})
	if r.err != nil {
		t.Fatalf("sockets in a new network namespace: %v", r.err)
	}
	tv := unix.Timeval{Sec: 10}
	if err := unix.SetsockoptTimeval(r.s.relay, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return r.s
}

// relayed builds a request of type typ from the client tagged tag,
// relayed by 127.0.0.2, with extra options.
func relayed(typ, tag byte, opts ...byte) []byte {
	b := request(typ, tag) // queue_test.go
	copy(b[24:28], []byte{127, 0, 0, 2})
	b = append(b[:len(b)-1], opts...)
	return append(b, 255)
}

// relayReply is the next reply the relay receives, decoded.
func relayReply(t *testing.T, fd int) *dhcpv4.DHCPv4 {
	t.Helper()
	buf := make([]byte, 1500)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		t.Fatalf("relay: no reply: %v", err)
	}
	d, err := dhcpv4.FromBytes(buf[:n])
	if err != nil {
		t.Fatalf("relay: reply does not decode: %v", err)
	}
	return d
}

// TestReloadKeepsWaitingClients: a client whose DISCOVER waits for its
// ping check, and one whose ACK waits for its lease commit, when a new
// configuration arrives (SIGHUP) are answered after the swap: the OFFER
// when the probe ends, built from the new configuration, and the ACK
// when the master confirms the commit.
func TestReloadKeepsWaitingClients(t *testing.T) {
	socks := reloadNetns(t)
	const options = "dhcp-range=127.0.0.50,127.0.0.150,1h\n"
	master, worker := connPair(t)
	sendState(t, master)
	sendConfig(t, master, &ipcpb.DHCPConfig{Options: options, Generation: 1})
	s, err := configure(worker)
	if err != nil {
		t.Fatal(err)
	}
	// A wait far longer than the test: the probe ends when the test says.
	if s.ping, err = newPinger(socks.icmp, time.Hour); err != nil {
		t.Fatal(err)
	}
	s.routed = socks.routed
	l := &link{iface: &dhcpserver.Interface{Name: "lo", Index: 1, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}}, udp: -1, packet: -1}
	s.links = map[int]*link{1: l}
	arrive := func(data []byte) {
		s.handleArrival(worker, &queued{link: l, data: data, src: netip.MustParseAddrPort("127.0.0.2:67"),
			dst: netip.MustParseAddr("127.0.0.1"), at: time.Now()})
	}

	arrive(relayed(dhcpDiscover, 0x31))
	if _, inFlight := s.ping.next(); !inFlight {
		t.Fatal("the DISCOVER started no probe")
	}
	const dhcpRequest = 3
	arrive(relayed(dhcpRequest, 0x32, 50, 4, 127, 0, 0, 60, 54, 4, 127, 0, 0, 1))
	s.flushCommits(worker)
	m, _, err := master.Recv()
	if err != nil || m.GetLeaseCommit() == nil {
		t.Fatalf("master: %v %T, want the REQUEST's LeaseCommit", err, m.GetMsg())
	}
	commitID := m.GetLeaseCommit().GetId()
	var buf [1]byte
	if n, _, err := unix.Recvfrom(socks.relay, buf[:], unix.MSG_DONTWAIT); err != unix.EAGAIN {
		t.Fatalf("a reply (%d bytes, %v) before the probe and the commit ended", n, err)
	}

	// The reload, then the master's answer to the commit.
	sendConfig(t, master, &ipcpb.DHCPConfig{Options: options + "dhcp-option=option:router,127.0.0.254\n", Generation: 2})
	send(t, master, &ipcpb.Envelope{Msg: &ipcpb.Envelope_LeaseCommitted{LeaseCommitted: &ipcpb.LeaseCommitted{Id: commitID, Ok: true}}})
	for done := false; !done; {
		m, err := recvNoFDs(worker, "the test's messages")
		if err != nil {
			t.Fatal(err)
		}
		if m.GetLeaseCommitted() != nil && s.generation != 2 {
			t.Fatal("the commit's answer came before the new configuration was swapped in")
		}
		done = m.GetLeaseCommitted() != nil
		if stop, err := s.fromMaster(m, nil, nil); stop || err != nil {
			t.Fatalf("dhcpd stopped: %v", err)
		}
	}
	if ack := relayReply(t, socks.relay); ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal([]byte{127, 0, 0, 60}) {
		t.Fatalf("after the reload: %s of %s, want the held ACK of 127.0.0.60", ack.MessageType(), ack.YourIPAddr)
	}

	ids := s.ping.expired(time.Now().Add(2 * time.Hour))
	if len(ids) != 1 {
		t.Fatalf("%d probes in flight after the reload, want the DISCOVER's", len(ids))
	}
	s.probeDone(worker, ids[0], false)
	offer := relayReply(t, socks.relay)
	if offer.MessageType() != dhcpv4.MessageTypeOffer || offer.ClientHWAddr[0] != 0x31 {
		t.Fatalf("after the probe: %s to %s, want the OFFER to the client that asked", offer.MessageType(), offer.ClientHWAddr)
	}
	if r := offer.Router(); len(r) != 1 || !r[0].Equal([]byte{127, 0, 0, 254}) {
		t.Errorf("OFFER's routers %v, want the new configuration's 127.0.0.254", r)
	}
	if n := s.count.sendFail.Load(); n != 0 {
		t.Errorf("%d replies failed to send", n)
	}
}
