package masterd

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/testutil"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func upstreamLogger() (*logger, *testutil.SyncBuffer) {
	buf := &testutil.SyncBuffer{}
	return &logger{w: buf, pid: os.Getpid()}, buf
}

func upstreamConfig(t *testing.T, args ...string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(append([]string{"--conf-file=/dev/null"}, args...), "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// addresses lists a table as "address domains" strings, "local dom" and
// "standard dom" for the special entries.
func addresses(table []*ipcpb.Upstream) []string {
	var out []string
	for _, e := range table {
		switch {
		case e.GetLocal():
			out = append(out, "local "+strings.Join(e.GetDomains(), ","))
		case e.GetUseStandard():
			out = append(out, "standard "+strings.Join(e.GetDomains(), ","))
		default:
			s := e.GetAddress()
			if len(e.GetDomains()) > 0 {
				s += " " + strings.Join(e.GetDomains(), ",")
			}
			if e.GetSourceAddress() != "" || e.GetInterface() != "" || e.GetSourcePort() != 0 {
				s += " @" + e.GetInterface() + "@" + e.GetSourceAddress() + "#" + strconv.Itoa(int(e.GetSourcePort()))
			}
			out = append(out, s)
		}
	}
	return out
}

// TestUpstreamList: configuration lines, then servers-file, then the
// resolv-file, with our own address left out and every server form
// carried to dnsd.
func TestUpstreamList(t *testing.T) {
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	servers := filepath.Join(dir, "servers")
	writeFile(t, resolv, "nameserver 192.0.2.53\nnameserver 127.0.0.1\nsearch lan\n")
	writeFile(t, servers, "server=/vpn.example/10.8.0.1\nrev-server=10.8.0.0/16,10.8.0.1\naddress=/x/1.2.3.4\nserver=/std.example/#\n")
	cfg := upstreamConfig(t, "--resolv-file="+resolv, "--servers-file="+servers,
		"--server=192.0.2.1@127.0.0.2#5300", "--server=/corp/192.0.2.2@lo", "--local=/lan/", "--server=//192.0.2.3",
		"--server=/*.ads.example/")
	log, buf := upstreamLogger()
	var d dnsData
	plan := listenPlan{allowed: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	if err := d.load(cfg, plan, log); err != nil {
		t.Fatal(err)
	}
	got := addresses(d.upstream.table)
	want := []string{
		"192.0.2.1:53 @@127.0.0.2#5300",
		"192.0.2.2:53 corp @lo@#0",
		"local lan",
		"192.0.2.3:53 ",
		"local *.ads.example",
		"10.8.0.1:53 vpn.example",
		"10.8.0.1:53 8.10.in-addr.arpa",
		"standard std.example",
		"192.0.2.53:53",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("table:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(d.config.GetUpstreams()) != 0 || len(d.config.GetLocalDomains()) != 0 {
		t.Error("servers in DNSConfig too; they travel in the table only")
	}
	logText := buf.String()
	for _, line := range []string{
		"ignoring nameserver 127.0.0.1 - local interface",
		servers + ":3: address: only server and rev-server are allowed in a servers-file",
		"reading " + resolv,
		"using nameserver 192.0.2.1#53",
		"using nameserver 192.0.2.2#53(via lo) for domain corp",
		"using only locally-known addresses for lan",
		"using nameserver 192.0.2.3#53 for unqualified names",
		"using nameserver 10.8.0.1#53 for domain 8.10.in-addr.arpa",
		"using standard nameservers for std.example",
	} {
		if !strings.Contains(logText, line) {
			t.Errorf("log lacks %q:\n%s", line, logText)
		}
	}
	if d.config.GetDnsForwardMax() != 150 || d.config.QueryPort != nil || d.config.GetMinPort() != 1024 {
		t.Errorf("policy fields %v", d.config)
	}
}

func TestUpstreamPolicyFields(t *testing.T) {
	cfg := upstreamConfig(t, "--no-resolv", "--strict-order", "--all-servers", "--dns-forward-max=7",
		"--query-port=0", "--min-port=2000", "--max-port=3000", "--fast-dns-retry=200,3000", "--dns-loop-detect")
	log, _ := upstreamLogger()
	var d dnsData
	if err := d.load(cfg, listenPlan{}, log); err != nil {
		t.Fatal(err)
	}
	dc := d.config
	if !dc.GetStrictOrder() || !dc.GetAllServers() || dc.GetDnsForwardMax() != 7 || dc.QueryPort == nil ||
		dc.GetQueryPort() != 0 || dc.GetMinPort() != 2000 || dc.GetMaxPort() != 3000 ||
		dc.GetFastDnsRetryMs() != 200 || dc.GetFastDnsRetryTotalMs() != 3000 || !dc.GetDnsLoopDetect() {
		t.Errorf("DNSConfig %v", dc)
	}
}

func TestUpstreamStartErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--min-port=3000", "--max-port=2000"}, "max-port 2000 is below min-port 3000"},
		{[]string{"--no-poll", "--resolv-file=" + dir + "/a", "--resolv-file=" + dir + "/b"}, "only one resolv.conf file allowed in no-poll mode"},
	} {
		log, _ := upstreamLogger()
		var d dnsData
		err := d.load(upstreamConfig(t, tt.args...), listenPlan{}, log)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.want)
		}
	}
}

// TestServersFileSIGHUP: SIGHUP (load again) reads the servers-file
// again; a missing one is logged as dnsmasq logs it.
func TestServersFileSIGHUP(t *testing.T) {
	dir := t.TempDir()
	servers := filepath.Join(dir, "servers")
	cfg := upstreamConfig(t, "--no-resolv", "--servers-file="+servers)
	log, buf := upstreamLogger()
	var d dnsData
	if err := d.load(cfg, listenPlan{}, log); err != nil {
		t.Fatal(err)
	}
	if len(d.upstream.table) != 0 || !strings.Contains(buf.String(), "cannot read "+servers) {
		t.Errorf("missing servers-file: table %v, log %s", d.upstream.table, buf.String())
	}
	writeFile(t, servers, "server=/a.example/192.0.2.9\n")
	if err := d.load(cfg, listenPlan{}, log); err != nil {
		t.Fatal(err)
	}
	if got := addresses(d.upstream.table); len(got) != 1 || got[0] != "192.0.2.9:53 a.example" {
		t.Errorf("after SIGHUP: %v", got)
	}
}

func TestNumericZone(t *testing.T) {
	ap, err := numericZone(netip.MustParseAddrPort("[fe80::1%lo]:53"))
	if err != nil || ap.Addr().Zone() != "1" {
		t.Errorf("numericZone(lo) = %v, %v; want zone 1 (lo's index)", ap, err)
	}
	if _, err := numericZone(netip.MustParseAddrPort("[fe80::1%nosuchif0]:53")); err == nil {
		t.Error("unknown interface accepted")
	}
	cfg := upstreamConfig(t, "--no-resolv", "--server=fe80::1%lo", "--server=fe80::2%nosuchif0")
	log, buf := upstreamLogger()
	var d dnsData
	if err := d.load(cfg, listenPlan{}, log); err != nil {
		t.Fatal(err)
	}
	if got := addresses(d.upstream.table); len(got) != 1 || got[0] != "[fe80::1%1]:53" {
		t.Errorf("table %v", got)
	}
	if !strings.Contains(buf.String(), "ignoring nameserver [fe80::2%nosuchif0]:53") {
		t.Errorf("log %s", buf.String())
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// touch sets a file's modification time, for the newest-file rule.
func touch(t *testing.T, path string, when time.Time) {
	t.Helper()
	if err := os.Chtimes(path, when, when); err != nil {
		t.Fatal(err)
	}
}

func removeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseResolvConf: resolv.conf is often written from what a DHCP or
// PPP peer said; whatever it holds, parsing must not panic and every
// server it returns is a valid address on port 53.
func FuzzParseResolvConf(f *testing.F) {
	f.Add([]byte("nameserver 192.0.2.1\nnameserver ::1\nsearch lan\n"))
	f.Add([]byte("nameserver\nnameserver fe80::1%eth0\n#nameserver 1.2.3.4\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, ap := range parseResolvConf(data) {
			if !ap.Addr().IsValid() || ap.Port() != 53 {
				t.Fatalf("server %v", ap)
			}
		}
	})
}
