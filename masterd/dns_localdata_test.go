package masterd

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/testutil"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func testLogger() (*logger, *testutil.SyncBuffer) {
	buf := &testutil.SyncBuffer{}
	return &logger{w: buf, pid: os.Getpid()}, buf
}

func parseConfig(t *testing.T, args ...string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(append([]string{"--conf-file=/dev/null"}, args...), "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// recordStrings unpacks the rr records of a table to presentation form,
// and shows the other kinds in a short form, in order.
func recordStrings(t *testing.T, recs []*ipcpb.LocalRecord) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		switch {
		case len(r.GetRr()) > 0:
			rr, _, err := dns.UnpackRR(r.GetRr(), 0)
			if err != nil {
				t.Fatalf("record does not unpack: %v", err)
			}
			out = append(out, strings.Join(strings.Fields(rr.String()), " "))
		case r.GetHost() != nil:
			h := r.GetHost()
			a, _ := netip.AddrFromSlice(h.GetAddress())
			out = append(out, "host "+h.GetKind().String()+" "+a.String()+" "+strings.Join(h.GetNames(), ",")+" ttl="+itoa(h.GetTtl()))
		case r.GetAddressRule() != nil:
			a := r.GetAddressRule()
			ip, _ := netip.AddrFromSlice(a.GetAddress())
			out = append(out, "address /"+a.GetDomain()+"/ "+ip.String()+map[bool]string{true: " null"}[a.GetNullAddress()])
		default:
			out = append(out, "prefix "+r.GetLocalPrefix())
		}
	}
	return out
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func TestBuildRecords(t *testing.T) {
	cfg := parseConfig(t,
		"--local-ttl=30",
		"--domain=lan",
		"--host-record=router.lan,router,192.0.2.1,2001:db8::1,600",
		"--cname=www.lan,alias.lan,router.lan", "--cname=short.lan,router.lan,99",
		"--srv-host=_ldap._tcp,nas.lan,389,1,2", "--srv-host=_x._tcp.other", "--srv-host=_bare._tcp.lan",
		"--txt-record=t.lan,one,two three", "--txt-record=e.lan",
		"--mx-host=lan,mail.lan,5", "--mx-host=m.lan",
		"--ptr-record=p.lan,target.lan", "--ptr-record=q.lan",
		"--naptr-record=n.lan,10,20,s,SIP+D2U,,_sip._udp.lan",
		"--caa-record=lan,0,issue,ca.example",
		"--dns-rr=rr.lan,65280,0102", "--dns-rr=bad.lan,1,0102",
		"--address=/ads.example/x.example/0.0.0.0", "--address=/null.example/#", "--address=/nx.example/", "--address=/#/2001:db8::9",
		"--domain=office.lan,10.1.0.0/20,local",
	)
	log, buf := testLogger()
	got := recordStrings(t, buildRecords(&cfg.Local, "lan", "gw.lan", log))
	want := []string{
		"host KIND_HOST_RECORD 192.0.2.1 router.lan,router ttl=600",
		"host KIND_HOST_RECORD 2001:db8::1 router.lan,router ttl=600",
		"www.lan. 30 IN CNAME router.lan.",
		"alias.lan. 30 IN CNAME router.lan.",
		"short.lan. 99 IN CNAME router.lan.",
		"_ldap._tcp.lan. 30 IN SRV 1 2 389 nas.lan.",
		"_x._tcp.other. 30 IN SRV 0 0 1 .",
		"_bare._tcp.lan. 30 IN SRV 0 0 1 .",
		`t.lan. 30 IN TXT "one" "two three"`,
		`e.lan. 30 IN TXT ""`,
		"lan. 30 IN MX 5 mail.lan.",
		"m.lan. 30 IN MX 1 gw.lan.",
		"p.lan. 30 IN PTR target.lan.",
		"q.lan. 30 IN PTR .",
		`n.lan. 30 IN NAPTR 10 20 "s" "SIP+D2U" "" _sip._udp.lan.`,
		`lan. 30 IN CAA 0 issue "ca.example"`,
		`rr.lan. 30 CLASS1 TYPE65280 \# 2 0102`,
		"address /ads.example/ 0.0.0.0",
		"address /x.example/ 0.0.0.0",
		"address /null.example/ invalid IP null",
		"address /nx.example/ invalid IP",
		"address // 2001:db8::9",
		"address /office.lan/ invalid IP",
	}
	for i := range 16 {
		want = append(want, "address /"+itoa(uint32(i))+".1.10.in-addr.arpa/ invalid IP")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(buf.String(), "dns-rr=bad.lan,1: the data is not a valid A record") {
		t.Errorf("bad dns-rr not logged:\n%s", buf.String())
	}
}

func TestBuildRecordsMXTarget(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--mx-host=m.lan"}, []string{"m.lan. 0 IN MX 1 host.lan."}},
		{[]string{"--mx-host=m.lan", "--mx-target=mail.lan"}, []string{"m.lan. 0 IN MX 1 mail.lan.", "host.lan. 0 IN MX 0 mail.lan."}},
		{[]string{"--mx-target=mail.lan"}, []string{"host.lan. 0 IN MX 0 mail.lan."}},
		{[]string{"--localmx"}, []string{"host.lan. 0 IN MX 0 host.lan."}},
		{[]string{"--mx-host=host.lan,x.lan", "--localmx"}, []string{"host.lan. 0 IN MX 1 x.lan."}},
		{[]string{"--mx-host=m.lan,,7"}, []string{"m.lan. 0 IN MX 7 ."}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cfg := parseConfig(t, tt.args...)
			log, _ := testLogger()
			if got := recordStrings(t, buildRecords(&cfg.Local, "", "host.lan", log)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReverseZones(t *testing.T) {
	tests := []struct {
		prefix string
		want   []string
	}{
		{"192.168.1.0/24", []string{"1.168.192.in-addr.arpa"}},
		{"10.0.0.0/8", []string{"10.in-addr.arpa"}},
		{"192.168.1.7/32", []string{"7.1.168.192.in-addr.arpa"}},
		{"192.168.4.0/22", []string{"4.168.192.in-addr.arpa", "5.168.192.in-addr.arpa", "6.168.192.in-addr.arpa", "7.168.192.in-addr.arpa"}},
		{"fd00:1:2::/48", []string{"2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa"}},
		{"fd00:1:2::/47", []string{"2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa", "3.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa"}},
	}
	for _, tt := range tests {
		if got := reverseZones(netip.MustParsePrefix(tt.prefix)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.prefix, got, tt.want)
		}
	}
}

func TestExpandHosts(t *testing.T) {
	dir := t.TempDir()
	hostsFile := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hostsFile, []byte("192.168.1.5 pc pc.other\n10.1.2.3 srv\n2001:db8::5 six\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := parseConfig(t, "--no-hosts", "--addn-hosts="+hostsFile, "--expand-hosts", "--domain=lan", "--domain=corp,10.1.0.0/16", "--domain=wrong,10.1.2.0/24", "--domain=lan")
	log, _ := testLogger()
	var d dnsData
	if err := d.load(cfg, listenPlan{}, log); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range d.hosts {
		got = append(got, strings.Join(e.GetNames(), " "))
	}
	// The last matching domain= line wins, as in dnsmasq.
	want := []string{"pc.lan pc pc.other", "srv.wrong srv", "six.lan six"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("expanded names %q, want %q", got, want)
	}
}

func TestHostsDirFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b", "a", ".hidden", "backup~", "#auto#", "c.list"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("192.0.2.1 x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range hostsDirFiles(dir, nil) {
		got = append(got, filepath.Base(f))
	}
	if want := []string{"a", "b", "c.list"}; !reflect.DeepEqual(got, want) {
		t.Errorf("files %q, want %q", got, want)
	}
}

// TestHostsDirWatch: a file added to a hostsdir reaches a listening dnsd
// connection as a new TABLE_LOCAL_DYNAMIC, without a reload; so does its
// removal.
func TestHostsDirWatch(t *testing.T) {
	for _, mode := range []string{"inotify", "polling"} {
		t.Run(mode, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "hosts.d")
			if mode == "inotify" {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			} // polling: the directory appears later, so it cannot be watched at first
			cfg := parseConfig(t, "--no-hosts", "--hostsdir="+dir, "--expand-hosts", "--domain=lan")
			log, _ := testLogger()
			m := &master{cfg: cfg, log: log}
			if err := m.dns.load(cfg, listenPlan{}, log); err != nil {
				t.Fatal(err)
			}
			a, b, err := ipc.Pair()
			if err != nil {
				t.Fatal(err)
			}
			masterConn, dnsdConn := ipc.NewConn(a), ipc.NewConn(b)
			defer masterConn.Close()
			defer dnsdConn.Close()
			sup := &supervisor{m: m, role: "dnsd", current: &worker{conn: masterConn}}
			m.sups = []*supervisor{sup}

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); m.watchLocalData(ctx) }()
			defer func() { cancel(); <-done }()

			if mode == "polling" {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "new"), []byte("192.0.2.7 newhost\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			got := recvDynamic(t, dnsdConn)
			if want := []string{"host KIND_HOSTS_DIR 192.0.2.7 newhost.lan,newhost ttl=0"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("after adding a file: %q, want %q", got, want)
			}
			if err := os.Remove(filepath.Join(dir, "new")); err != nil {
				t.Fatal(err)
			}
			if got := recvDynamic(t, dnsdConn); len(got) != 0 {
				t.Fatalf("after removing the file: %q, want nothing", got)
			}
		})
	}
}

// recvDynamic reads one TABLE_LOCAL_DYNAMIC stream from c.
func recvDynamic(t *testing.T, c *ipc.Conn) []string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var asm ipc.TableAssembler
	for range 1000 {
		m, _, err := c.Recv()
		if err != nil {
			t.Fatalf("waiting for the dynamic table: %v", err)
		}
		done, kind, _, err := asm.Add(m)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			if kind != ipcpb.Table_TABLE_LOCAL_DYNAMIC {
				t.Fatalf("table %s", kind)
			}
			return recordStrings(t, ipc.LocalRecordsOf(asm.Items()))
		}
	}
	t.Fatal("no table end")
	return nil
}

func TestInterfaceNameRecords(t *testing.T) {
	log, _ := testLogger()
	got := recordStrings(t, interfaceNameRecords(config.InterfaceName{Name: "lo.test", Interface: "lo", Family: 4}, log))
	if len(got) == 0 || got[0] != "host KIND_INTERFACE_NAME 127.0.0.1 lo.test ttl=0" {
		t.Errorf("lo/4: %q", got)
	}
	for _, g := range got {
		if strings.Contains(g, ":") {
			t.Errorf("lo/4 gave an IPv6 address: %q", got)
		}
	}
	got = recordStrings(t, interfaceNameRecords(config.InterfaceName{Name: "none.test", Interface: "nosuch0"}, log))
	if want := []string{"host KIND_INTERFACE_NAME invalid IP none.test ttl=0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("missing interface: %q, want %q", got, want)
	}
}
