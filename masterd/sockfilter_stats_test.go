package masterd

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/moatdns/moat/sockfilter"
)

// TestSocketFilterDrops: with eBPF the operator's counters rise as the
// listener filter drops junk sent to a real UDP socket, by reason; with
// classic BPF or none there is nothing to count (nil).
func TestSocketFilterDrops(t *testing.T) {
	for _, mode := range []string{"off", "classic"} {
		f, err := loadSocketFilters(mode)
		if err != nil {
			t.Fatal(err)
		}
		m := &master{filters: f}
		if d, p := m.socketFilterDrops(), m.socketFilterPassed(); d != nil || p != nil {
			t.Errorf("%s: drops %v passed %v, want nil", mode, d, p)
		}
		if got := m.socketFilterActive(); got != map[string]string{"off": "none", "classic": "classic"}[mode] {
			t.Errorf("%s: active %q", mode, got)
		}
	}
	if got := (&master{}).socketFilterActive(); got != "none" {
		t.Errorf("DNS disabled: active %q", got)
	}
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("loading eBPF needs root (or CAP_BPF); CI runs this as root")
	}
	f, err := loadSocketFilters("ebpf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.close(&logger{w: io.Discard})
	m := &master{filters: f}
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	prog := f.objs.Listener.FD()
	if err := attachFile(mustFile(t, srv), func(fd int) error { return sockfilter.AttachProgram(fd, prog) }); err != nil {
		t.Fatal(err)
	}
	cli, err := net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	start := m.socketFilterDrops()
	if len(start) != 5 {
		t.Fatalf("drops %v: want the five drop reasons", start)
	}
	query := []byte{0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	reply := append([]byte(nil), query...)
	reply[2] |= 0x80
	for _, pkt := range [][]byte{{1, 2, 3}, reply, reply, query} {
		if _, err := cli.Write(pkt); err != nil {
			t.Fatal(err)
		}
	}
	// The query passes: when it is read, the three before it were judged.
	buf := make([]byte, 512)
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := srv.ReadFromUDP(buf); err != nil || n != len(query) {
		t.Fatalf("read %d bytes, %v; want the query", n, err)
	}
	end := m.socketFilterDrops()
	if d := end["listener_short"] - start["listener_short"]; d != 1 {
		t.Errorf("listener_short rose by %d, want 1", d)
	}
	if d := end["listener_reply"] - start["listener_reply"]; d != 2 {
		t.Errorf("listener_reply rose by %d, want 2", d)
	}
	if p := m.socketFilterPassed(); p["listener"] < 1 {
		t.Errorf("passed %v: the query passed", p)
	}
}

func mustFile(t *testing.T, c *net.UDPConn) *os.File {
	t.Helper()
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
