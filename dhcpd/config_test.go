package dhcpd

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/workerproc"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

const testConf = `port=53
domain=lan
dhcp-range=192.168.1.50,192.168.1.150,12h
dhcp-host=00:11:22:33:44:55,192.168.1.10,printer
dhcp-option=option:router,192.168.1.1
dhcp-hostsfile=/etc/moat/dhcp-hosts
read-ethers
`

func connPair(t *testing.T) (master, worker *ipc.Conn) {
	t.Helper()
	mf, wf, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	master, worker = ipc.NewConn(mf), ipc.NewConn(wf)
	t.Cleanup(func() { master.Close(); worker.Close() })
	return master, worker
}

// masterConfig parses testConf from a file as the master does and builds
// the message the master sends.
func masterConfig(t *testing.T, gen uint64) (*config.Config, *ipcpb.DHCPConfig) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "moat.conf")
	if err := os.WriteFile(path, []byte(testConf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]string{"-C", path}, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg, &ipcpb.DHCPConfig{
		Options:    cfg.DHCPText(),
		HostsFiles: []*ipcpb.NamedText{{Name: "/etc/moat/dhcp-hosts", Text: "aa:bb:cc:dd:ee:01,192.168.1.20,laptop\nbad line,,\n"}},
		Ethers:     &ipcpb.NamedText{Name: "/etc/ethers", Text: "aa:bb:cc:dd:ee:02 192.168.1.21\n"},
		Generation: gen,
	}
}

func send(t *testing.T, c *ipc.Conn, m *ipcpb.Envelope) {
	t.Helper()
	if err := c.Send(m); err != nil {
		t.Fatal(err)
	}
}

// sendState streams the DHCPState the master sends before the first
// DHCPConfig: one interface and one lease.
func sendState(t *testing.T, c *ipc.Conn) {
	t.Helper()
	st := &ipcpb.DHCPState{
		Interfaces: []*ipcpb.DHCPInterface{{Name: "eth0", Index: 2, Prefixes: []string{"192.168.1.1/24"}}},
		Leases:     []*ipcpb.LeaseRecord{{Addr: []byte{192, 168, 1, 77}, HwType: 1, HwAddr: []byte{2, 0, 0, 0, 0, 7}, Expires: 4000000000}},
	}
	if err := ipc.SendDHCPState(c, st); err != nil {
		t.Fatal(err)
	}
}

func dhcpConfigMsg(dc *ipcpb.DHCPConfig) *ipcpb.Envelope {
	return &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpConfig{DhcpConfig: dc}}
}

// sendConfig streams dc as the master does.
func sendConfig(t *testing.T, c *ipc.Conn, dc *ipcpb.DHCPConfig) {
	t.Helper()
	if err := ipc.SendDHCPConfig(c, dc); err != nil {
		t.Fatal(err)
	}
}

// TestConfigureFromMasterText: the master's text parses, in dhcpd, to the
// master's DHCP configuration, and the hosts come from the sent texts.
func TestConfigureFromMasterText(t *testing.T) {
	cfg, dc := masterConfig(t, 1)
	master, worker := connPair(t)
	sendState(t, master)
	sendConfig(t, master, dc)
	s, err := configure(worker)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.cfg.DHCP, cfg.DHCP) {
		t.Errorf("DHCP differs:\ngot  %+v\nwant %+v", s.cfg.DHCP, cfg.DHCP)
	}
	if _, ok := s.engine.Lease(netip.MustParseAddr("192.168.1.77")); !ok {
		t.Error("the DHCPState's lease is not in the engine")
	}
	if s.cfg.Local.DefaultDomain() != "lan" || s.engine == nil || s.generation != 1 {
		t.Errorf("domain %q engine %v generation %d", s.cfg.Local.DefaultDomain(), s.engine, s.generation)
	}
	var got []netip.Addr
	for _, h := range s.hosts {
		got = append(got, h.Addr)
	}
	want := []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("192.168.1.21")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hosts from files %v, want %v (bad line skipped)", got, want)
	}
}

// TestServeSwapsEngine: a later DHCPConfig rebuilds the engine; Shutdown
// ends run without error.
func TestServeSwapsEngine(t *testing.T) {
	_, dc := masterConfig(t, 1)
	master, worker := connPair(t)
	sendState(t, master)
	sendConfig(t, master, dc)
	s, err := configure(worker)
	if err != nil {
		t.Fatal(err)
	}
	first := s.engine
	_, dc2 := masterConfig(t, 2)
	dc2.HostsFiles[0].Text = "aa:bb:cc:dd:ee:03,192.168.1.30\n"
	sendConfig(t, master, dc2)
	send(t, master, &ipcpb.Envelope{Msg: &ipcpb.Envelope_Shutdown{Shutdown: &ipcpb.Shutdown{Reason: "test"}}})
	if err := s.run(worker); err != nil {
		t.Fatal(err)
	}
	if s.engine == first || s.generation != 2 || len(s.hosts) != 2 || s.hosts[0].Addr != netip.MustParseAddr("192.168.1.30") {
		t.Fatalf("engine not rebuilt: same=%v generation %d hosts %+v", s.engine == first, s.generation, s.hosts)
	}
}

// TestProtocolViolations: dhcpd stops on what a sane master never sends.
func TestProtocolViolations(t *testing.T) {
	_, good := masterConfig(t, 1)
	msg := func(m *ipcpb.Envelope) func(*testing.T, *ipc.Conn) {
		return func(t *testing.T, c *ipc.Conn) { send(t, c, m) }
	}
	config := func(dc *ipcpb.DHCPConfig) func(*testing.T, *ipc.Conn) {
		return func(t *testing.T, c *ipc.Conn) { sendConfig(t, c, dc) }
	}
	stats := &ipcpb.Envelope{Msg: &ipcpb.Envelope_StatsRequest{StatsRequest: &ipcpb.StatsRequest{Id: 1}}}
	for _, tc := range []struct {
		name    string
		noState bool                        // the DHCPState is not sent first
		first   func(*testing.T, *ipc.Conn) // before Ready; nil: a good DHCPConfig
		after   func(*testing.T, *ipc.Conn) // after Ready
		want    string
	}{
		{"no state first", true, config(good), nil, "expected DHCPState"},
		{"not a config first", false, msg(stats), nil, "expected DHCPConfigBegin"},
		{"a lone DHCPConfig", false, msg(dhcpConfigMsg(good)), nil, "expected DHCPConfigBegin"},
		{"conf-file in text", false, config(&ipcpb.DHCPConfig{Options: "conf-file=/etc/passwd\n", Generation: 1}), nil, "not allowed here"},
		{"no range", false, config(&ipcpb.DHCPConfig{Options: "port=53\n", Generation: 1}), nil, "no dhcp-range"},
		{"chunk without begin", false, msg(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpConfigChunk{DhcpConfigChunk: &ipcpb.DHCPConfigChunk{
			Generation: 1, Part: ipcpb.DHCPConfigChunk_PART_OPTIONS, Data: []byte("x")}}}), nil, "without a begin"},
		{"stale generation", false, nil, config(&ipcpb.DHCPConfig{Options: good.Options, Generation: 1}), "generation 1 after 1"},
		{"end without begin after ready", false, nil, msg(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpConfigEnd{DhcpConfigEnd: &ipcpb.DHCPConfigEnd{Generation: 2}}}), "without a begin"},
		{"unexpected after ready", false, nil, msg(stats), "unexpected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			master, worker := connPair(t)
			if !tc.noState {
				sendState(t, master)
			}
			first := tc.first
			if first == nil {
				first = config(good)
			}
			first(t, master)
			s, err := configure(worker)
			if tc.after == nil {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("configure: %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.after(t, master)
			if err := s.run(worker); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("serve: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestServeEOF: the master going away ends dhcpd cleanly.
func TestServeEOF(t *testing.T) {
	_, dc := masterConfig(t, 1)
	master, worker := connPair(t)
	sendState(t, master)
	sendConfig(t, master, dc)
	s, err := configure(worker)
	if err != nil {
		t.Fatal(err)
	}
	master.Close()
	if err := s.run(worker); err != nil {
		t.Fatal(err)
	}
}

// TestConfigureLargeLeaseTable: a master's table of 50,000 leases, far
// over one message, reaches the engine whole through the stream.
func TestConfigureLargeLeaseTable(t *testing.T) {
	const n = 50_000
	_, dc := masterConfig(t, 1)
	master, worker := connPair(t)
	st := &ipcpb.DHCPState{Interfaces: []*ipcpb.DHCPInterface{{Name: "eth0", Index: 2, Prefixes: []string{"10.0.0.1/8"}}}}
	for i := range n {
		st.Leases = append(st.Leases, &ipcpb.LeaseRecord{Addr: []byte{10, byte(i >> 16), byte(i >> 8), byte(i)}, HwType: 1,
			HwAddr: []byte{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}, Hostname: fmt.Sprintf("h%d", i), Expires: 4000000000})
	}
	errc := make(chan error, 1)
	go func() {
		err := ipc.SendDHCPState(master, st)
		if err == nil {
			err = ipc.SendDHCPConfig(master, dc)
		}
		errc <- err
	}()
	s, err := configure(worker)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := len(s.engine.Leases()); got != n {
		t.Fatalf("engine has %d leases, want %d", got, n)
	}
	if l, ok := s.engine.Lease(netip.MustParseAddr("10.0.195.79")); !ok || l.Hostname != "h49999" {
		t.Fatalf("last lease: %+v %v", l, ok)
	}
}

// TestServeInterfaceUpdate: a DHCPInterfaces message replaces the
// addresses of the link it names (with a new Interface for the engine)
// and leaves the others alone.
func TestServeInterfaceUpdate(t *testing.T) {
	_, dc := masterConfig(t, 1)
	master, worker := connPair(t)
	sendState(t, master)
	sendConfig(t, master, dc)
	s, err := configure(worker)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "udp")
	defer f.Close()
	s.attachSockets([]workerproc.Socket{{Desc: &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DHCP_UDP, Interface: "eth0"}, File: f}})
	before := s.links[2].iface
	send(t, master, &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpInterfaces{DhcpInterfaces: &ipcpb.DHCPInterfaces{Interfaces: []*ipcpb.DHCPInterface{
		{Name: "eth1", Index: 3, Prefixes: []string{"10.9.0.1/16"}},
		{Name: "eth0", Index: 2, Prefixes: []string{"192.168.7.1/24", "192.168.1.1/24"}},
	}}}})
	send(t, master, &ipcpb.Envelope{Msg: &ipcpb.Envelope_Shutdown{Shutdown: &ipcpb.Shutdown{Reason: "test"}}})
	if err := s.run(worker); err != nil {
		t.Fatal(err)
	}
	after := s.links[2].iface
	want := []netip.Prefix{netip.MustParsePrefix("192.168.7.1/24"), netip.MustParsePrefix("192.168.1.1/24")}
	if after == before || !reflect.DeepEqual(after.Addrs, want) || after.Index != 2 || after.Name != "eth0" {
		t.Fatalf("eth0 after the update: %+v (same object %v)", after, after == before)
	}
	if len(s.links) != 1 {
		t.Errorf("links %v: an interface without a socket was added", s.links)
	}
}
