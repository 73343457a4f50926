package masterd

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/config"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func TestIfaceMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"eth0", "eth0", true},
		{"eth0", "eth01", false},
		{"eth*", "eth01", true},
		{"eth*", "wlan0", false},
		{"*", "lo", true},
	}
	for _, c := range cases {
		if got := ifaceMatch(c.pattern, c.name); got != c.want {
			t.Errorf("ifaceMatch(%q, %q) = %v", c.pattern, c.name, got)
		}
	}
}

func TestPlanListeners(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	cases := []struct {
		name     string
		cfg      config.Config
		wildcard bool
		binds    int
		allowed  bool
	}{
		{"default: wildcard, everything", config.Config{Port: 53}, true, 0, false},
		{"listen-address: wildcard, filtered", config.Config{Port: 53, ListenAddresses: []netip.Addr{lo}}, true, 0, true},
		{"bind-interfaces with an address", config.Config{Port: 53, ListenAddresses: []netip.Addr{lo}, BindInterfaces: true}, false, 1, true},
		{"interface lo, bound", config.Config{Port: 53, Interfaces: []string{"lo"}, BindInterfaces: true}, false, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := planListeners(&c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if p.wildcard != c.wildcard || (!c.wildcard && len(p.binds) < c.binds) || (len(p.allowed) > 0) != c.allowed {
				t.Errorf("plan = %+v", p)
			}
		})
	}
	// An interface that does not exist yet: served when it appears with
	// wildcard sockets, fatal with bind-interfaces (as in dnsmasq).
	if p, err := planListeners(&config.Config{Port: 53, Interfaces: []string{"no-such-if0"}}); err != nil || len(p.missing) != 1 || p.follow == nil {
		t.Errorf("wildcard with an unknown interface: %+v, %v; want it missing and followed", p, err)
	}
	if _, err := planListeners(&config.Config{Port: 53, Interfaces: []string{"no-such-if0"}, BindInterfaces: true}); err == nil || err.Error() != "unknown interface no-such-if0" {
		t.Errorf("bind-interfaces with an unknown interface: %v, want dnsmasq's \"unknown interface no-such-if0\"", err)
	}
}

// TestOpenSockets opens real sockets on loopback with a kernel-chosen port
// and checks their options.
func TestOpenSockets(t *testing.T) {
	udp, err := openUDP(netip.MustParseAddrPort("127.0.0.1:0"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.file.Close()
	if v, err := unix.GetsockoptInt(int(udp.file.Fd()), unix.IPPROTO_IP, unix.IP_PKTINFO); err != nil || v != 1 {
		t.Errorf("IP_PKTINFO = %d, %v", v, err)
	}
	if v, _ := unix.GetsockoptInt(int(udp.file.Fd()), unix.SOL_SOCKET, unix.SO_REUSEADDR); v != 0 {
		t.Error("a UDP socket got SO_REUSEADDR")
	}
	if udp.desc.GetKind() != ipcpb.Socket_KIND_DNS_UDP || !udp.desc.GetPktinfo() {
		t.Errorf("desc = %v", udp.desc)
	}
	tcp, err := openTCP(netip.MustParseAddrPort("[::1]:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.file.Close()
	if v, err := unix.GetsockoptInt(int(tcp.file.Fd()), unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
		t.Errorf("SO_ACCEPTCONN = %d, %v", v, err)
	}
	if v, _ := unix.GetsockoptInt(int(tcp.file.Fd()), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); v != 1 {
		t.Error("IPv6 socket without IPV6_V6ONLY")
	}
}

func TestReadResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	data := "# comment\nsearch example\nnameserver 192.0.2.1\nnameserver 2001:db8::1\nnameserver bogus\noptions ndots:2\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readResolvConf(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.1:53", "[2001:db8::1]:53"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("server %d = %s, want %s", i, got[i], want[i])
		}
	}
}

func TestEmptyDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "empty")
	if _, err := emptyDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := emptyDir(dir); err == nil {
		t.Error("a non-empty directory was accepted as the chroot")
	}
	writable := filepath.Join(t.TempDir(), "w")
	if err := os.Mkdir(writable, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(writable, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := emptyDir(writable); err == nil {
		t.Error("a world-writable directory was accepted as the chroot")
	}
}
