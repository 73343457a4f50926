package masterd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// dhcpTestConfig writes a configuration with a dhcp-hostsfile (one good
// line, one bad) and parses it as the master does.
func dhcpTestConfig(t *testing.T, hostsText string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	hostsFile := filepath.Join(dir, "dhcp hosts") // a space: the path must survive quoting
	if err := os.WriteFile(hostsFile, []byte(hostsText), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "moat.conf")
	text := strings.Join([]string{
		"port=5353",
		"domain=lan",
		"domain=guest,192.168.2.0/24",
		"server=192.0.2.53",
		"dhcp-range=192.168.1.50,192.168.1.150,12h",
		"dhcp-range=set:guest,192.168.2.50,192.168.2.150,255.255.255.0,1h",
		"dhcp-host=00:11:22:33:44:55,192.168.1.10,printer,infinite",
		"dhcp-option=option:router,192.168.1.1",
		"dhcp-option=tag:guest,6,192.168.2.1",
		"dhcp-hostsfile=" + hostsFile,
		"dhcp-authoritative",
		"dhcp-leasefile=" + filepath.Join(dir, "leases"),
	}, "\n") + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]string{"-C", conf}, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDHCPConfigRoundTrips: what the master sends parses, on dhcpd's
// side, to the master's own DHCP configuration.
func TestDHCPConfigRoundTrips(t *testing.T) {
	cfg := dhcpTestConfig(t, "aa:bb:cc:dd:ee:01,192.168.1.20,laptop\nnot a host line,,,\n")
	log, buf := testLogger()
	var d dhcpData
	if err := d.load(cfg, log); err != nil {
		t.Fatal(err)
	}
	// Through a real socketpair, so the stream is validated and fits.
	master, worker := testConnPair(t)
	if err := d.send(master); err != nil {
		t.Fatal(err)
	}
	dc, err := ipc.RecvDHCPConfig(func() (*ipcpb.Envelope, error) {
		m, fds, err := worker.Recv()
		closeFDs(fds)
		return m, err
	})
	if err != nil || dc.GetGeneration() != 1 {
		t.Fatalf("recv: %v, %v", err, dc)
	}
	back, err := config.ParseText("dhcp", dc.GetOptions())
	if err != nil {
		t.Fatalf("%v\n%s", err, dc.GetOptions())
	}
	if !reflect.DeepEqual(back.DHCP, cfg.DHCP) {
		t.Errorf("DHCP differs:\ngot  %+v\nwant %+v", back.DHCP, cfg.DHCP)
	}
	if back.Port != cfg.Port {
		t.Errorf("port %d, want %d", back.Port, cfg.Port)
	}
	if len(back.Local.Domains) != 2 || back.Local.DefaultDomain() != "lan" || back.Local.Domains[1].Prefix != cfg.Local.Domains[1].Prefix {
		t.Errorf("domains %+v, want %+v", back.Local.Domains, cfg.Local.Domains)
	}
	if len(back.Servers) != 0 {
		t.Errorf("DNS options leaked into dhcpd's text: %v", back.Servers)
	}
	files := dc.GetHostsFiles()
	if len(files) != 1 || files[0].GetName() != cfg.DHCP.HostsFiles[0] || !strings.Contains(files[0].GetText(), "laptop") {
		t.Fatalf("hosts files %v", files)
	}
	if dc.GetEthers() != nil {
		t.Errorf("ethers sent without read-ethers")
	}
	if out := buf.String(); !strings.Contains(out, "dhcp hosts:2") || !strings.Contains(out, "1 hosts from files") {
		t.Errorf("log does not report the bad line and the good host:\n%s", out)
	}
}

func TestDHCPReloadNextGeneration(t *testing.T) {
	cfg := dhcpTestConfig(t, "aa:bb:cc:dd:ee:01,192.168.1.20\n")
	log, _ := testLogger()
	var d dhcpData
	for want := uint64(1); want <= 3; want++ {
		if err := d.load(cfg, log); err != nil {
			t.Fatal(err)
		}
		if g := d.config.GetGeneration(); g != want {
			t.Fatalf("generation %d, want %d", g, want)
		}
	}
}

// TestDHCPLargeHostsFiles: a hosts file far over one IPC message (100,000
// hosts) is loaded, since it is streamed; texts over the stream's cap are
// refused with a message that says so, and the old data stays.
func TestDHCPLargeHostsFiles(t *testing.T) {
	cfg := dhcpTestConfig(t, "aa:bb:cc:dd:ee:01,192.168.1.20\n")
	log, _ := testLogger()
	var d dhcpData
	if err := d.load(cfg, log); err != nil {
		t.Fatal(err)
	}
	var big strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&big, "02:00:00:%02x:%02x:%02x,10.%d.%d.%d\n", byte(i>>16), byte(i>>8), byte(i), byte(i>>16), byte(i>>8), byte(i))
	}
	if err := os.WriteFile(cfg.DHCP.HostsFiles[0], []byte(big.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.load(cfg, log); err != nil {
		t.Fatal(err)
	}
	if n := len(d.hosts); n != 100_001 { // and the configuration's own
		t.Fatalf("%d hosts, want 100,001", n)
	}
	// Over the cap: the file itself is within what the master reads.
	huge := strings.Repeat("#", ipc.MaxDHCPConfigBytes-10) + "\n"
	if err := os.WriteFile(cfg.DHCP.HostsFiles[0], []byte(huge), 0o644); err != nil {
		t.Fatal(err)
	}
	err := d.load(cfg, log)
	if !errors.Is(err, ipc.ErrInvalid) || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("got %v, want the cap", err)
	}
	if d.config.GetGeneration() != 2 || len(d.hosts) != 100_001 {
		t.Fatalf("old data not kept: generation %d, %d hosts", d.config.GetGeneration(), len(d.hosts))
	}
}

// testConnPair returns both ends of a fresh socketpair, closed at cleanup.
func testConnPair(t *testing.T) (master, worker *ipc.Conn) {
	t.Helper()
	mf, wf, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	master, worker = ipc.NewConn(mf), ipc.NewConn(wf)
	t.Cleanup(func() { master.Close(); worker.Close() })
	return master, worker
}
