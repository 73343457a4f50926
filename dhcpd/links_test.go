package dhcpd

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/workerproc"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// loopbackUDP is a UDP socket on 127.0.0.1, standing in for a DHCP
// interface's socket (dhcpd only reads and sends on it).
func loopbackUDP(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return fd
}

func shutdown(t *testing.T, c *ipc.Conn) {
	t.Helper()
	send(t, c, &ipcpb.Envelope{Msg: &ipcpb.Envelope_Shutdown{Shutdown: &ipcpb.Shutdown{Reason: "test"}}})
}

// socketsChanged sends a DHCPSocketsChanged adding a UDP socket for each
// named interface (index 10, 11...) and removing the others named.
func socketsChanged(t *testing.T, c *ipc.Conn, add []string, remove ...string) {
	t.Helper()
	sc := &ipcpb.DHCPSocketsChanged{Removed: remove}
	var fds []int
	for i, name := range add {
		fd := loopbackUDP(t)
		defer unix.Close(fd) // the message carries a duplicate
		fds = append(fds, fd)
		sc.Added = append(sc.Added, &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DHCP_UDP, Address: "0.0.0.0:67", Pktinfo: true, Interface: name})
		sc.Interfaces = append(sc.Interfaces, &ipcpb.DHCPInterface{Name: name, Index: uint32(10 + i), Prefixes: []string{fmt.Sprintf("192.168.%d.1/24", 10+i)}})
	}
	if err := c.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpSocketsChanged{DhcpSocketsChanged: sc}}, fds...); err != nil {
		t.Fatal(err)
	}
}

func linkNames(s *server) []string {
	var out []string
	for i := range 64 {
		if l := s.links[i]; l != nil {
			out = append(out, fmt.Sprintf("%d:%s", i, l.iface.Name))
		}
	}
	return out
}

// TestInterfacesComeAndGo: sockets that come before the DHCPState become
// links with the SocketSet's; while dhcpd serves, a DHCPSocketsChanged
// adds links (an interface that appeared) and removes them (one that is
// gone, its sockets closed), and leaves the others and the engine alone.
func TestInterfacesComeAndGo(t *testing.T) {
	_, dc := masterConfig(t, 1)
	master, worker := connPair(t)
	socketsChanged(t, master, []string{"br0"})
	sendState(t, master)
	sendConfig(t, master, dc)
	s, err := configure(worker)
	if err != nil {
		t.Fatal(err)
	}
	fd := loopbackUDP(t)
	s.attachSockets([]workerproc.Socket{{Desc: &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DHCP_UDP, Interface: "eth0"}, File: os.NewFile(uintptr(fd), "udp")}})
	if got := strings.Join(linkNames(s), " "); got != "2:eth0 10:br0" {
		t.Fatalf("links at start %q, want eth0 (SocketSet) and br0 (DHCPSocketsChanged)", got)
	}
	br0Files := s.linkFiles[10]
	engine := s.engine
	socketsChanged(t, master, []string{"virbr1", "veth7"}, "br0")
	socketsChanged(t, master, nil, "veth7", "nosuch")
	shutdown(t, master)
	if err := s.run(worker); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(linkNames(s), " "); got != "2:eth0 10:virbr1" {
		t.Fatalf("links after the changes %q, want eth0 and virbr1", got)
	}
	if l := s.links[10]; l.iface.Addrs[0] != netip.MustParsePrefix("192.168.10.1/24") {
		t.Errorf("virbr1's addresses %v", l.iface.Addrs)
	}
	if s.engine != engine {
		t.Error("the engine was rebuilt")
	}
	if len(br0Files) != 2 {
		t.Fatalf("br0 had %d files, want the socket and its pollable duplicate", len(br0Files))
	}
	for _, f := range br0Files {
		if _, err := f.Stat(); err == nil {
			t.Errorf("br0's %s still open", f.Name())
		}
	}
}

// TestServeStreamedBigConfig: a configuration whose hosts file holds
// 20,000 hosts (far over one message) is streamed while dhcpd serves and
// swapped in on its end; the leases carry over.
func TestServeStreamedBigConfig(t *testing.T) {
	_, dc := masterConfig(t, 1)
	master, worker := connPair(t)
	sendState(t, master)
	sendConfig(t, master, dc)
	s, err := configure(worker)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20_000
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "02:00:00:00:%02x:%02x,10.1.%d.%d\n", byte(i>>8), byte(i), byte(i>>8), byte(i))
	}
	_, dc2 := masterConfig(t, 2)
	dc2.HostsFiles[0].Text = b.String()
	errc := make(chan error, 1)
	go func() {
		err := ipc.SendDHCPConfig(master, dc2)
		if err == nil {
			err = master.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_Shutdown{Shutdown: &ipcpb.Shutdown{Reason: "test"}}})
		}
		errc <- err
	}()
	if err := s.run(worker); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// n from the file, one from /etc/ethers.
	if s.generation != 2 || len(s.hosts) != n+1 || s.hosts[n-1].Addr != netip.MustParseAddr("10.1.78.31") {
		t.Fatalf("generation %d, %d hosts, want 2 and %d", s.generation, len(s.hosts), n+1)
	}
	if _, ok := s.engine.Lease(netip.MustParseAddr("192.168.1.77")); !ok {
		t.Error("the lease did not carry over to the new engine")
	}
}

// BenchmarkApplyBigHostsFile is what a dhcpd does with a configuration
// whose dhcp-hostsfile holds 100,000 hosts once it has arrived: parse
// the texts and build the engine.
func BenchmarkApplyBigHostsFile(b *testing.B) {
	const n = 100_000
	var text strings.Builder
	for i := range n {
		fmt.Fprintf(&text, "02:00:00:%02x:%02x:%02x,10.%d.%d.%d,h%d\n", byte(i>>16), byte(i>>8), byte(i), byte(i>>16), byte(i>>8), byte(i), i)
	}
	dc := &ipcpb.DHCPConfig{Options: "dhcp-range=10.0.0.10,10.255.255.250,12h\ndhcp-hostsfile=/h\n",
		HostsFiles: []*ipcpb.NamedText{{Name: "/h", Text: text.String()}}}
	b.ResetTimer()
	for i := range b.N {
		dc.Generation = uint64(i + 1)
		s := &server{routed: -1}
		if err := s.apply(dc); err != nil {
			b.Fatal(err)
		}
	}
}
