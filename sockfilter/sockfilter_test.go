package sockfilter

import (
	"encoding/binary"
	"fmt"
	"github.com/moatdns/moat/internal/testutil"
	"net"
	"os"
	"testing"
	"time"
)

// needRoot skips a test that loads eBPF when it cannot, outside CI.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("loading eBPF needs root (or CAP_BPF); CI runs this as root")
	}
}

// dnsPacket is a DNS message of n bytes (at least the 12-byte header
// when n >= 12) with this ID and QR bit.
func dnsPacket(n int, id uint16, qr bool) []byte {
	b := make([]byte, n)
	if n >= 2 {
		binary.BigEndian.PutUint16(b, id)
	}
	if qr && n >= 3 {
		b[2] = 0x80
	}
	return b
}

// pair is a receiver socket with a filter and a sender it is connected
// to (when connect is set), on loopback of one family.
type pair struct {
	recv, send *net.UDPConn
}

func newPair(t *testing.T, host string, connect bool) *pair {
	t.Helper()
	network := "udp4"
	if host == "::1" {
		network = "udp6"
	}
	send, err := net.ListenUDP(network, &net.UDPAddr{IP: net.ParseIP(host)})
	if err != nil {
		testutil.Unavailable(t, fmt.Sprintf("no %s loopback: %v", network, err))
	}
	t.Cleanup(func() { send.Close() })
	var recv *net.UDPConn
	if connect {
		recv, err = net.DialUDP(network, &net.UDPAddr{IP: net.ParseIP(host)}, send.LocalAddr().(*net.UDPAddr))
	} else {
		recv, err = net.ListenUDP(network, &net.UDPAddr{IP: net.ParseIP(host)})
	}
	if err != nil {
		t.Fatalf("receiver: %v", err)
	}
	t.Cleanup(func() { recv.Close() })
	return &pair{recv: recv, send: send}
}

func (p *pair) port() uint16 { return uint16(p.recv.LocalAddr().(*net.UDPAddr).Port) }

func (p *pair) fd(t *testing.T) int {
	t.Helper()
	rc, err := p.recv.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// exchange sends each packet to the receiver, then a marker the filters
// pass, and returns what the receiver read before the marker.
func (p *pair) exchange(t *testing.T, pkts [][]byte, marker []byte) [][]byte {
	t.Helper()
	to := p.recv.LocalAddr().(*net.UDPAddr)
	for _, b := range append(pkts, marker) {
		if _, err := p.send.WriteToUDP(b, to); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	var got [][]byte
	buf := make([]byte, 2048)
	for range len(pkts) + 1 {
		_ = p.recv.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := p.recv.Read(buf)
		if err != nil {
			t.Fatalf("read (after %d datagrams): %v; the marker never arrived", len(got), err)
		}
		if string(buf[:n]) == string(marker) {
			return got
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
	t.Fatalf("more datagrams arrived than were sent")
	return nil
}

func ids(pkts [][]byte) []uint16 {
	var out []uint16
	for _, b := range pkts {
		out = append(out, binary.BigEndian.Uint16(b))
	}
	return out
}

func TestUpstreamEBPF(t *testing.T) {
	needRoot(t)
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			o, err := Load()
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			defer o.Close()
			p := newPair(t, host, true)
			if err := AttachProgram(p.fd(t), o.Upstream.FD()); err != nil {
				t.Fatal(err)
			}
			const want = 0x1234
			// The other family's entry for the same port must not apply.
			if e := ExpectRaw(o.Expect.FD(), ExpectKey(p.port(), host == "127.0.0.1"), 0x9999); e != 0 {
				t.Fatalf("expect other family: %v", e)
			}
			if e := ExpectRaw(o.Expect.FD(), ExpectKey(p.port(), host == "::1"), want); e != 0 {
				t.Fatalf("expect: %v", e)
			}
			pkts := [][]byte{
				{},                              // empty
				dnsPacket(5, want, true),        // shorter than a header
				dnsPacket(11, want, true),       // one byte short
				dnsPacket(40, want, false),      // a query
				dnsPacket(40, 0x1235, true),     // wrong ID
				dnsPacket(12, want, true),       // right ID, header only
				dnsPacket(512, want, true),      // right ID
				dnsPacket(30, want^0x100, true), // wrong ID
			}
			got := p.exchange(t, pkts, dnsPacket(100, want, true))
			if len(got) != 2 || len(got[0]) != 12 || len(got[1]) != 512 {
				t.Fatalf("received %d datagrams (ids %x), want the 12- and 512-byte replies", len(got), ids(got))
			}
			st, err := o.Stats()
			if err != nil {
				t.Fatal(err)
			}
			wantSt := Stats{UpstreamPassed: 3, UpstreamShort: 3, UpstreamNotReply: 1, UpstreamWrongID: 2}
			if st != wantSt {
				t.Errorf("counters %v, want %v", &st, &wantSt)
			}
			// Without a recorded ID every reply passes.
			if e := ForgetRaw(o.Expect.FD(), ExpectKey(p.port(), host == "::1")); e != 0 {
				t.Fatalf("forget: %v", e)
			}
			got = p.exchange(t, [][]byte{dnsPacket(40, 7, true), dnsPacket(40, 8, false)}, dnsPacket(20, 9, true))
			if len(got) != 1 || binary.BigEndian.Uint16(got[0]) != 7 {
				t.Errorf("without an expected ID: received ids %x, want [7]", ids(got))
			}
		})
	}
}

func TestListenerEBPF(t *testing.T) {
	needRoot(t)
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			o, err := Load()
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			defer o.Close()
			p := newPair(t, host, false)
			if err := AttachProgram(p.fd(t), o.Listener.FD()); err != nil {
				t.Fatal(err)
			}
			pkts := [][]byte{
				{},
				dnsPacket(11, 1, false),
				dnsPacket(40, 2, true), // a reply at a server port
				dnsPacket(40, 3, false),
				dnsPacket(12, 4, false),
			}
			got := p.exchange(t, pkts, dnsPacket(33, 5, false))
			if g := ids(got); len(g) != 2 || g[0] != 3 || g[1] != 4 {
				t.Fatalf("received ids %x, want [3 4]", g)
			}
			st, err := o.Stats()
			if err != nil {
				t.Fatal(err)
			}
			want := Stats{ListenerPassed: 3, ListenerShort: 2, ListenerReply: 1}
			if st != want {
				t.Errorf("counters %v, want %v", &st, &want)
			}
		})
	}
}

// The classic filters need no privilege: these run as anyone.
func TestClassic(t *testing.T) {
	tests := []struct {
		name    string
		prog    *Classic
		connect bool
		pkts    [][]byte
		marker  []byte
		want    []uint16
	}{
		{"upstream", MustClassic(ClassicUpstream()), true,
			[][]byte{{}, dnsPacket(11, 1, true), dnsPacket(40, 2, false), dnsPacket(40, 3, true), dnsPacket(12, 4, true)},
			dnsPacket(20, 5, true), []uint16{3, 4}},
		{"listener", MustClassic(ClassicListener()), false,
			[][]byte{{}, dnsPacket(11, 1, false), dnsPacket(40, 2, true), dnsPacket(40, 3, false), dnsPacket(12, 4, false)},
			dnsPacket(20, 5, false), []uint16{3, 4}},
	}
	for _, tt := range tests {
		for _, host := range []string{"127.0.0.1", "::1"} {
			t.Run(tt.name+"/"+host, func(t *testing.T) {
				p := newPair(t, host, tt.connect)
				if err := tt.prog.Attach(p.fd(t)); err != nil {
					t.Fatal(err)
				}
				got := ids(p.exchange(t, tt.pkts, tt.marker))
				if len(got) != len(tt.want) || got[0] != tt.want[0] || got[1] != tt.want[1] {
					t.Errorf("received ids %x, want %x", got, tt.want)
				}
			})
		}
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want Mode
		ok   bool
	}{
		{"auto", ModeAuto, true}, {"EBPF", ModeEBPF, true}, {"classic", ModeClassic, true},
		{"off", ModeOff, true}, {"", ModeAuto, false}, {"on", ModeAuto, false},
	}
	for _, tt := range tests {
		m, err := ParseMode(tt.in)
		if (err == nil) != tt.ok || (tt.ok && m != tt.want) {
			t.Errorf("ParseMode(%q) = %v, %v; want %v, ok=%v", tt.in, m, err, tt.want, tt.ok)
		}
		if tt.ok && m.String() != map[Mode]string{ModeAuto: "auto", ModeEBPF: "ebpf", ModeClassic: "classic", ModeOff: "off"}[m] {
			t.Errorf("%v.String() = %q", m, m.String())
		}
	}
}

// TestUpstreamEBPFManyIDs: a shared socket (a fixed query port, many
// queries at once) passes only replies whose ID is outstanding.
func TestUpstreamEBPFManyIDs(t *testing.T) {
	needRoot(t)
	o, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer o.Close()
	p := newPair(t, "127.0.0.1", false)
	if err := AttachProgram(p.fd(t), o.Upstream.FD()); err != nil {
		t.Fatal(err)
	}
	key := ExpectKey(p.port(), false)
	if e := ExpectManyRaw(o.Expect.FD(), key); e != 0 {
		t.Fatalf("expect many: %v", e)
	}
	for _, id := range []uint16{5, 9, 0x100} {
		if e := AddIDRaw(o.ExpectSet.FD(), key, id); e != 0 {
			t.Fatalf("add %d: %v", id, e)
		}
	}
	// The same ID on the IPv6 port of that number is another query.
	if e := AddIDRaw(o.ExpectSet.FD(), ExpectKey(p.port(), true), 7); e != 0 {
		t.Fatal(e)
	}
	pkts := [][]byte{dnsPacket(40, 5, true), dnsPacket(40, 7, true), dnsPacket(40, 9, true), dnsPacket(40, 5, true), dnsPacket(40, 6, false)}
	got := ids(p.exchange(t, pkts, dnsPacket(40, 0x100, true)))
	if len(got) != 3 || got[0] != 5 || got[1] != 9 || got[2] != 5 {
		t.Fatalf("received ids %x, want [5 9 5]", got)
	}
	if e := RemoveIDRaw(o.ExpectSet.FD(), key, 9); e != 0 {
		t.Fatalf("remove: %v", e)
	}
	got = ids(p.exchange(t, [][]byte{dnsPacket(40, 9, true)}, dnsPacket(40, 0x100, true)))
	if len(got) != 0 {
		t.Fatalf("after removing 9: received ids %x", got)
	}
	st, err := o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{UpstreamPassed: 5, UpstreamNotReply: 1, UpstreamWrongID: 2}
	if st != want {
		t.Errorf("counters %v, want %v", &st, &want)
	}
}
