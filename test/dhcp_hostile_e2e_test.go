package test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/testutil"
)

// The malformed-DHCP battery (issue 5): crafted BOOTP/DHCP datagrams sent
// from a client namespace to the real, sandboxed moatd's :67, broadcast
// and unicast. Afterwards dhcpd is the same process (nothing crashed and
// was restarted behind the test's back), it logged its drops by reason,
// a normal client still gets a lease, and the host names hostile clients
// sent reached neither the leases file nor DNS nor the log in any form
// but a legal DNS label.

// dhcpOpt is one option: code, length, data (the length is the data's
// unless lying is the point, see rawOpt).
func dhcpOpt(code byte, data ...byte) []byte {
	return append([]byte{code, byte(len(data))}, data...)
}

// bootRequest is a BOOTREQUEST from the client whose MAC ends in id, with
// the broadcast flag, the magic cookie, the options given and END.
func bootRequest(id uint16, opts ...[]byte) []byte {
	b := make([]byte, 240, 600)
	b[0], b[1], b[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, 6-byte MAC
	binary.BigEndian.PutUint32(b[4:], 0x4d4f4154^uint32(id))
	b[10] = 0x80 // broadcast flag
	copy(b[28:], []byte{0x02, 0x48, 0x4f, 0x53, byte(id >> 8), byte(id)})
	copy(b[236:], []byte{99, 130, 83, 99})
	for _, o := range opts {
		b = append(b, o...)
	}
	return append(b, 255)
}

// edit returns a copy of b changed by f.
func edit(b []byte, f func(b []byte)) []byte {
	c := append([]byte(nil), b...)
	f(c)
	return c
}

const (
	msgDiscover = 1
	msgOffer    = 2
	msgRequest  = 3
)

// hostileDHCP are the crafted datagrams, and the drop reason dhcpd must
// count for each ("" when it may serve or ignore the packet).
func hostileDHCP() []struct {
	name, reason string
	pkt          []byte
} {
	id := uint16(0x100)
	next := func() uint16 { id++; return id }
	discover := func(opts ...[]byte) []byte {
		return bootRequest(next(), append([][]byte{dhcpOpt(53, msgDiscover)}, opts...)...)
	}
	noEnd := func(b []byte) []byte { return b[:len(b)-1] }
	seq := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i + 1)
		}
		return b
	}
	junk := make([]byte, 64+128)
	for i := range junk {
		junk[i] = byte(0xf0 ^ i) // sname and file: option codes and lengths that go nowhere
	}
	overload := discover(dhcpOpt(52, 3))
	copy(overload[44:236], junk)
	pads := make([]byte, 1400-244)
	return []struct {
		name, reason string
		pkt          []byte
	}{
		{"zero-length datagram", "short", nil},
		{"one byte", "short", []byte{1}},
		{"BOOTP header cut at 100 bytes", "short", discover()[:100]},
		{"header without the cookie", "short", discover()[:236]},
		{"bad magic cookie", "bad_cookie", edit(discover(), func(b []byte) { b[236] = 0 })},
		{"a BOOTREPLY", "not_request", edit(discover(), func(b []byte) { b[0] = 2 })},
		{"op 77", "not_request", edit(discover(), func(b []byte) { b[0] = 77 })},
		{"hlen 17", "bad_hlen", edit(discover(), func(b []byte) { b[2] = 17 })},
		{"hlen 255", "bad_hlen", edit(discover(), func(b []byte) { b[2] = 255 })},
		{"htype 0 with an address", "bad_htype", edit(discover(), func(b []byte) { b[1] = 0 })},
		{"htype unknown (200)", "", edit(discover(), func(b []byte) { b[1] = 200 })},
		{"option length past the end", "option_overrun", append(noEnd(discover()), 12, 200, 'x', 'y')},
		{"option length byte missing", "option_overrun", append(noEnd(discover()), 12)},
		{"option 255 long at the end", "option_overrun", append(noEnd(discover()), 60, 255)},
		{"no END option", "no_end", noEnd(discover(dhcpOpt(12, 'n', 'o', 'e', 'n', 'd')))},
		{"option overload into garbage sname and file", "", overload},
		{"option overload value 255, no sname or file", "", discover(dhcpOpt(52, 255))},
		{"message type missing (BOOTP)", "", bootRequest(next(), dhcpOpt(12, 'b', 'o', 'o', 't', 'p'))},
		{"message type of length 0", "", bootRequest(next(), dhcpOpt(53))},
		{"message type 0", "bad_message_type", bootRequest(next(), dhcpOpt(53, 0))},
		{"message type 200", "bad_message_type", bootRequest(next(), dhcpOpt(53, 200))},
		{"message type OFFER from a client", "bad_message_type", bootRequest(next(), dhcpOpt(53, msgOffer))},
		{"client-id of length 0", "", discover(dhcpOpt(61))},
		{"client-id of length 255", "", discover(dhcpOpt(61, seq(255)...))},
		{"parameter request list of 765 bytes", "", discover(dhcpOpt(55, seq(255)...), dhcpOpt(55, seq(255)...), dhcpOpt(55, seq(255)...))},
		{"duplicate options", "", discover(dhcpOpt(53, msgDiscover), dhcpOpt(12, 'd', 'u', 'p'), dhcpOpt(12, 'd', 'u', 'p'), dhcpOpt(61, 1, 2), dhcpOpt(61, 3))},
		{"1400 bytes, mostly pad", "", discover(pads)},
		{"4000 bytes of 0xff", "not_request", []byte(strings.Repeat("\xff", 4000))},
		{"9000 bytes (fragmented, larger than dhcpd reads)", "oversize", append(discover(), make([]byte, 9000-245)...)},
		{"hostname with NUL", "", discover(dhcpOpt(12, []byte("nul\x00tail")...))},
		{"hostname with newline", "", discover(dhcpOpt(12, []byte("new\nline")...))},
		{"hostname of 255 bytes", "", discover(dhcpOpt(12, []byte(strings.Repeat("h", 255))...))},
		{"hostname not UTF-8", "", discover(dhcpOpt(12, 0xff, 0xfe, 0xc3, 0x28))},
		{"FQDN option with a 64-byte label", "", discover(dhcpOpt(81, append([]byte{0x05, 0, 0, 64}, strings.Repeat("q", 64)...)...))},
		{"FQDN option cut short", "", discover(dhcpOpt(81, 0x05))},
	}
}

// hostileNames are the host names of the battery's REQUESTs: each asks
// for its own address, so each gets a lease, with a name or without.
var hostileNames = []string{
	"plain-host",
	"nul\x00name",
	"evil\nDHCPACK(injected) 6.6.6.6 00:00:00:00:00:00 pwned",
	"semi;colon",
	"$(reboot)",
	"`id`",
	"pipe|host",
	"space host",
	"quote'host",
	"slash/host",
	"\xff\xfe\xfdbin",
	strings.Repeat("x", 64),
	strings.Repeat("y", 255),
	"-leading-dash",
	"dotted.other.domain",
	"",
}

// legalLeaseName is what a leases file may hold for a name: "*" (none) or
// one legal label.
var legalLeaseName = regexp.MustCompile(`^(\*|[A-Za-z0-9]([A-Za-z0-9_-]{0,62}))$`)

// dhcpSender is a UDP socket in the client namespace, bound to its
// interface, allowed to broadcast.
func dhcpSender(t *testing.T, l *dhcpLink) *net.UDPConn {
	t.Helper()
	c := udpInNetns(t, l.cli, "0.0.0.0:0")
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, l.cliIf)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
		}
	}); err != nil || serr != nil {
		t.Fatalf("client socket options: %v %v", err, serr)
	}
	return c
}

// dropsLogged sums dhcpd's "dropped N malformed DHCP packets ...: a=1 b=2"
// lines by reason.
func dropsLogged(log string) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		_, rest, ok := strings.Cut(line, "malformed DHCP packets in the last ")
		if !ok {
			continue
		}
		_, counts, ok := strings.Cut(rest, ": ")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(counts) {
			if k, v, ok := strings.Cut(f, "="); ok {
				n, _ := strconv.Atoi(v)
				out[k] += n
			}
		}
	}
	return out
}

func TestDHCPHostileInput(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and veth pairs")
	testutil.RequireCommand(t, "busybox")
	l := newDHCPLink(t)
	// No IPv6 on the server end: a link-local address still in DAD
	// cannot be bound for DNS.
	run(t, "ip", "netns", "exec", l.srv.name, "sysctl", "-q", "-w", "net.ipv6.conf."+l.srvIf+".disable_ipv6=1")
	conf := strings.ReplaceAll(dhcpNamesConf, "%IF%", l.srvIf)
	m := startMoatd(t, l.srv, conf, map[string]string{"hosts": "192.0.2.1 router\n"})
	m.waitReady(t)
	waitFor(t, 10*time.Second, "dhcpd ready", func() bool { return strings.Contains(m.out.String(), "dhcpd[") })
	before := m.workers(t)["dhcpd"]
	if before == 0 {
		t.Fatal("no dhcpd")
	}

	c, want := sendHostileDHCP(t, l)
	names := hostileLeaseNames(t, filepath.Join(m.dir, "leases"))
	// As dnsmasq 2.90: a name cut at its NUL, a foreign domain dropped,
	// everything else no name at all (compareWithDnsmasq checks dnsmasq).
	for i, want := range map[int]string{0: "plain-host", 1: "nul", 14: "dotted"} {
		if names[i] != want {
			t.Errorf("lease name for %q: %q, want %q", hostileNames[i], names[i], want)
		}
	}

	// Every name DNS answers for a lease is a lease file's; the hostile
	// spellings answer nothing.
	dig := func(name string) string {
		return strings.TrimSpace(l.srv.dig("@192.0.2.1", "+short", name))
	}
	waitFor(t, 10*time.Second, "plain-host.lan in DNS", func() bool { return dig("plain-host.lan") == hostileAddr(0).String() })
	for name, i := range map[string]int{"nul.lan": 1, "dotted.lan": 14} {
		if got := dig(name); got != hostileAddr(i).String() {
			t.Errorf("DNS answers %s with %q, want %v", name, got, hostileAddr(i))
		}
	}
	for _, name := range []string{`semi\;colon.lan`, `pipe\|host.lan`, `space\032host.lan`, strings.Repeat("y", 63) + ".lan", `new\010line.lan`, `evil\010DHCPACK.lan`} {
		if got := dig(name); got != "" {
			t.Errorf("DNS answers %s with %q", name, got)
		}
	}

	// The drops, by reason, in dhcpd's log (one line a tick).
	waitFor(t, 15*time.Second, "every drop reason logged", func() bool {
		got := dropsLogged(m.out.String())
		for r, n := range want {
			if got[r] < n { // each was sent twice; the broadcast alone must arrive
				return false
			}
		}
		return true
	})
	t.Logf("drops logged: %v (sent, by reason, once each to broadcast and unicast: %v)", dropsLogged(m.out.String()), want)

	// A normal client still gets a lease, from the same dhcpd.
	run(t, "ip", "-n", l.cli.name, "addr", "flush", "dev", l.cliIf)
	c.Close()
	if got := l.udhcpc(t); !got.IsValid() {
		t.Fatal("no lease after the battery")
	}
	if after := m.workers(t)["dhcpd"]; after != before || !alive(before) {
		t.Errorf("dhcpd was pid %d, now %d: it died and was restarted", before, after)
	}
	// The log shows a hostile name escaped, if at all: no line of it is
	// the client's, no raw control or non-UTF-8 byte.
	for _, line := range strings.Split(m.out.String(), "\n") {
		if strings.Contains(line, "DHCPACK(injected)") && !strings.Contains(line, `evil\nDHCPACK(injected)`) {
			t.Errorf("a client's host name made a log line of its own: %q", line)
		}
		if strings.ContainsAny(line, "\x00\r") || !utf8.ValidString(line) {
			t.Errorf("the log has a raw control or non-UTF-8 byte: %q", line)
		}
		if strings.Contains(line, "panic") {
			t.Errorf("the log mentions a panic: %q", line)
		}
	}
	compareWithDnsmasq(t, names)
}

// hostileAddr is the address the i-th hostile-name REQUEST asks for.
func hostileAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(60 + i)}) }

// sendHostileDHCP sends the battery from l's client end, which gets an
// address of its own so that unicast to the server works too (the
// caller flushes it before a real client runs), then the REQUESTs with
// hostile host names. It returns the open socket and the drops the
// server must count, by reason, at least.
func sendHostileDHCP(t *testing.T, l *dhcpLink) (*net.UDPConn, map[string]int) {
	t.Helper()
	run(t, "ip", "-n", l.cli.name, "addr", "add", "192.0.2.250/24", "dev", l.cliIf)
	c := dhcpSender(t, l)
	targets := []*net.UDPAddr{{IP: net.IPv4bcast, Port: 67}, {IP: net.IPv4(192, 0, 2, 1), Port: 67}}
	want := map[string]int{}
	for _, h := range hostileDHCP() {
		broadcastSent := true
		for i, to := range targets {
			_, err := c.WriteToUDP(h.pkt, to)
			if err != nil && len(h.pkt) < 1500 {
				t.Fatalf("%s to %v: %v", h.name, to, err)
			}
			if err != nil && i == 0 {
				broadcastSent = false // too big to leave: nothing to count
			}
		}
		if h.reason != "" && broadcastSent {
			want[h.reason]++
		}
	}
	// REQUESTs in the SELECTING state, each with its own address and a
	// hostile host name: ACKed, and committed to the leases file.
	for i, name := range hostileNames {
		a := hostileAddr(i).As4()
		opts := [][]byte{dhcpOpt(53, msgRequest), dhcpOpt(54, 192, 0, 2, 1), dhcpOpt(50, a[:]...)}
		if name != "" {
			opts = append(opts, dhcpOpt(12, []byte(name)...))
		}
		if _, err := c.WriteToUDP(bootRequest(uint16(0x200+i), opts...), targets[0]); err != nil {
			t.Fatalf("request %q: %v", name, err)
		}
	}
	return c, want
}

// hostileLeaseNames waits for a lease for every hostile-name REQUEST in
// the dnsmasq-format leases file and returns their names ("*": none),
// by REQUEST; every line must hold a legal name or "*".
func hostileLeaseNames(t *testing.T, leases string) []string {
	t.Helper()
	waitFor(t, 15*time.Second, "a lease for every REQUEST", func() bool {
		for i := range hostileNames {
			if leaseLine(t, leases, hostileAddr(i)) == "" {
				return false
			}
		}
		return true
	})
	data, err := os.ReadFile(leases)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Split(line, " ")
		if len(f) != 5 || !legalLeaseName.MatchString(f[3]) {
			t.Errorf("leases file line %q: want 5 fields and a legal name or *", line)
		}
	}
	names := make([]string, len(hostileNames))
	for i := range hostileNames {
		names[i] = strings.Fields(leaseLine(t, leases, hostileAddr(i)))[3]
	}
	return names
}

// compareWithDnsmasq runs the same battery against dnsmasq 2.90, the
// reference, on a link of its own: its leases must name the hostile
// clients exactly as moat's do.
func compareWithDnsmasq(t *testing.T, moatNames []string) {
	t.Helper()
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dnsmasq is missing (make deps installs it)")
		}
		t.Log("dnsmasq not installed: no comparison with the reference")
		return
	}
	l := newDHCPLink(t)
	dir := t.TempDir()
	cmd := l.srv.command("dnsmasq", "--keep-in-foreground", "--log-facility=-", "--port=0", "--conf-file=/dev/null",
		"--interface="+l.srvIf, "--bind-interfaces", "--domain=lan", "--dhcp-range=192.0.2.50,192.0.2.99,12h",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--no-ping", "--pid-file="+filepath.Join(dir, "dnsmasq.pid"))
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitFor(t, 10*time.Second, "dnsmasq's DHCP up", func() bool { return strings.Contains(out.String(), "DHCP, sockets bound") })
	c, _ := sendHostileDHCP(t, l)
	defer c.Close()
	ref := hostileLeaseNames(t, filepath.Join(dir, "leases"))
	for i := range hostileNames {
		if ref[i] != moatNames[i] {
			t.Errorf("host name %q: dnsmasq's lease is named %q, moat's %q", hostileNames[i], ref[i], moatNames[i])
		}
	}
	if t.Failed() {
		t.Logf("dnsmasq's log:\n%s", out.String())
	}
}
