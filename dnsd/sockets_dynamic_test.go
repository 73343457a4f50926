package dnsd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/workerproc"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

const dynHosts = "192.0.2.10 myhost.test\n"

// dynamicPair is a UDP and a TCP socket on one fresh 127.0.0.1 port, as
// the master opens for an address that appeared. The test's own copies
// are closed once sent, so that dnsd holds the only ones.
type dynamicPair struct {
	addr  netip.AddrPort
	files []*os.File
	descs []*ipcpb.Socket
}

func newDynamicPair(t *testing.T) *dynamicPair {
	t.Helper()
	socks := loopbackSockets(t)
	p := &dynamicPair{}
	for _, s := range socks {
		p.files = append(p.files, s.File)
		p.descs = append(p.descs, s.Desc)
	}
	p.addr = netip.MustParseAddrPort(socks[0].Desc.GetAddress())
	return p
}

// send sends the pair in a SocketsChanged (with removed), then closes
// the test's copies.
func (p *dynamicPair) send(t *testing.T, master *ipc.Conn, removed ...string) {
	t.Helper()
	fds := make([]int, len(p.files))
	for i, f := range p.files {
		fds[i] = int(f.Fd())
	}
	m := &ipcpb.Envelope{Msg: &ipcpb.Envelope_SocketsChanged{SocketsChanged: &ipcpb.SocketsChanged{Added: p.descs, Removed: removed}}}
	if err := master.Send(m, fds...); err != nil {
		t.Fatal(err)
	}
	for _, f := range p.files {
		f.Close()
	}
}

func sendRemoval(t *testing.T, master *ipc.Conn, addrs ...string) {
	t.Helper()
	m := &ipcpb.Envelope{Msg: &ipcpb.Envelope_SocketsChanged{SocketsChanged: &ipcpb.SocketsChanged{Removed: addrs}}}
	if err := master.Send(m); err != nil {
		t.Fatal(err)
	}
}

// lookup asks addr for myhost.test over network and returns the reply or
// the error.
func lookup(addr netip.AddrPort, network string) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(newQuery("myhost.test.", dns.TypeA), addr.String())
	return r, err
}

func wantAnswer(t *testing.T, addr netip.AddrPort) {
	t.Helper()
	for _, network := range []string{"udp", "tcp"} {
		r, err := lookup(addr, network)
		if err != nil {
			t.Fatalf("%s %s: %v", network, addr, err)
		}
		if got := answerStrings(r); len(got) != 1 || got[0] != "myhost.test. 0 IN A 192.0.2.10" {
			t.Errorf("%s %s answered %v", network, addr, got)
		}
	}
}

// wantClosed waits until nothing listens on addr any more: UDP queries
// are refused (ICMP port unreachable) and TCP connections too.
func wantClosed(t *testing.T, addr netip.AddrPort) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, network := range []string{"udp", "tcp"} {
		for {
			_, err := lookup(addr, network)
			if errors.Is(err, syscall.ECONNREFUSED) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s still served 5s after the removal (last error %v)", network, addr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestSocketsChangedWhileServing(t *testing.T) {
	// bind-dynamic's SocketSet is empty: every socket comes this way.
	d := startDNSD(t, &ipcpb.DNSConfig{CacheSize: 150, Generation: 1, LocalTtl: 0}, dynHosts, instanceOptions{sockets: []workerproc.Socket{}})
	first, second := newDynamicPair(t), newDynamicPair(t)
	first.send(t, d.master)
	wantAnswer(t, first.addr)

	second.send(t, d.master, first.addr.String()) // one change: first vanished, second appeared
	wantAnswer(t, second.addr)
	wantClosed(t, first.addr)

	sendRemoval(t, d.master, second.addr.String(), "192.0.2.99:53") // an address never sent is ignored
	wantClosed(t, second.addr)

	// A server that lost every socket still takes new ones.
	third := newDynamicPair(t)
	third.send(t, d.master)
	wantAnswer(t, third.addr)
}

// TestSocketsChangedBeforeServing: sockets that arrive with the
// configuration (a restarted dnsd getting the current set) are served
// from Ready on, less those removed before it.
func TestSocketsChangedBeforeServing(t *testing.T) {
	mf, wf, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	master, worker := ipc.NewConn(mf), ipc.NewConn(wf)
	initial := newDynamicPair(t) // in the SocketSet, removed before start
	var socketSet []workerproc.Socket
	for i, f := range initial.files {
		socketSet = append(socketSet, workerproc.Socket{Desc: initial.descs[i], File: f})
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- serveWithLog(context.Background(), worker, socketSet, func() error { close(ready); return nil }, &syncBuffer{})
		worker.Close()
	}()
	t.Cleanup(func() {
		master.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after the master closed the channel")
		}
		initial.files[0].Close()
		initial.files[1].Close()
	})

	kept, dropped := newDynamicPair(t), newDynamicPair(t)
	kept.send(t, master)
	dropped.send(t, master)
	sendRemoval(t, master, dropped.addr.String(), initial.addr.String())
	if err := master.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: &ipcpb.DNSConfig{CacheSize: 150, Generation: 1}}}); err != nil {
		t.Fatal(err)
	}
	later := newDynamicPair(t) // between the configuration and the hosts table
	later.send(t, master)
	if err := ipc.SendHosts(master, 1, hostsEntries(t, "/etc/hosts", dynHosts)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Serve returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no ready")
	}
	wantAnswer(t, kept.addr)
	wantAnswer(t, later.addr)
	wantClosed(t, dropped.addr)
	// The SocketSet's copy is the test's own until Serve returns, so the
	// port stays bound; what matters is that dnsd does not answer on it.
	if r, err := lookup(initial.addr, "udp"); err == nil {
		t.Errorf("the removed SocketSet socket %s answered: %v", initial.addr, answerStrings(r))
	}
}

// TestSocketsChangedRejectsWrongSocket: a descriptor that is not what
// its description says ends Serve with an error (the master restarts
// the worker).
func TestSocketsChangedRejectsWrongSocket(t *testing.T) {
	d := startDNSD(t, &ipcpb.DNSConfig{CacheSize: 150, Generation: 1}, dynHosts, instanceOptions{sockets: []workerproc.Socket{}})
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	f, err := pc.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	desc := &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DNS_TCP, Address: pc.LocalAddr().String()} // a UDP socket described as TCP
	m := &ipcpb.Envelope{Msg: &ipcpb.Envelope_SocketsChanged{SocketsChanged: &ipcpb.SocketsChanged{Added: []*ipcpb.Socket{desc}}}}
	if err := d.master.Send(m, int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		if err == nil {
			t.Error("Serve returned nil, want an error about the socket")
		}
		d.done <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Serve kept running with a socket it cannot serve")
	}
}
