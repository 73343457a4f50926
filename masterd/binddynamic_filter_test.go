package masterd

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/config"
	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/sockfilter"
)

// TestDynamicListenersGetListenerFilter: bind-dynamic's UDP sockets get
// the listener filter, those bound before the filter was set and those
// opened later, and the filter works on them (a reply sent to :53 is
// dropped, a query passes).
func TestDynamicListenersGetListenerFilter(t *testing.T) {
	port := freeLoopbackPort(t)
	cfg := config.Defaults()
	cfg.Port = port
	cfg.Interfaces = []string{"dummy0"}
	log, _ := dynLogger()
	fake := &fakeInterfaces{}
	fake.set(ifc("dummy0", 5, "127.0.0.2"))
	d := newDynamicListeners(cfg, log, fake.scan)
	defer d.close()
	if err := d.refresh(); err != nil {
		t.Fatal(err)
	}
	classic := sockfilter.MustClassic(sockfilter.ClassicListener())
	var mu sync.Mutex
	filtered := map[int]bool{}
	d.setListenerFilter(func(fd int) error {
		mu.Lock()
		filtered[fd] = true
		mu.Unlock()
		return classic.Attach(fd)
	})
	fake.set(ifc("dummy0", 5, "127.0.0.2", "127.0.0.3"))
	if err := d.refresh(); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	var udp []openSocket
	for _, socks := range d.bound {
		for _, s := range socks {
			if s.desc.GetKind() == ipcpb.Socket_KIND_DNS_UDP {
				udp = append(udp, s)
			}
		}
	}
	d.mu.Unlock()
	if len(udp) != 2 || len(filtered) != 2 {
		t.Fatalf("%d UDP sockets, %d given the filter; want 2 and 2", len(udp), len(filtered))
	}
	// The filter is really on: of a reply (QR set) and a query sent to
	// the socket, only the query arrives.
	sock := udp[0]
	dst, err := net.ResolveUDPAddr("udp", sock.desc.GetAddress())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	query := []byte{0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}
	reply := append([]byte(nil), query...)
	reply[2] |= 0x80
	for _, b := range [][]byte{reply, query} {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	pc, err := net.FilePacketConn(sock.file)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	buf := make([]byte, 512)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if buf[2]&0x80 != 0 || n != len(query) {
		t.Errorf("the first datagram read has QR set (or is not the query): % x", buf[:n])
	}
}
