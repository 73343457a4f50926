package dnsd

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/workerproc"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// TestLocaliseQueries: with localise-queries, a hosts name with addresses
// in several subnets is answered with those in the subnet of the address
// the query was sent to (dnsmasq: IPv4 only); without a match, all.
func TestLocaliseQueries(t *testing.T) {
	up := startUpstream(t, markerUpstream)
	sock, port := wildcardUDP(t, false)
	cfg := upstreamCfg(up.addr)
	cfg.LocaliseQueries = true
	ld := localData{dynamic: []*ipcpb.LocalRecord{
		{LocalPrefix: "127.0.0.1/24"}, {LocalPrefix: "127.0.1.1/24"}, {LocalPrefix: "127.0.2.1/24"},
		hostRecord(ipcpb.LocalHost_KIND_HOSTS_DIR, "127.0.1.6", 0, "/etc/hosts.d/x", "multi"),
	}}
	hostsText := "127.0.0.5 multi\n127.0.1.5 multi\n10.0.0.5 multi\n2001:db8::5 multi\n"
	d := startLocalDNSD(t, cfg, hostsText, ld, sock)
	c := &dns.Client{Timeout: 5 * time.Second}
	tests := []struct {
		server string
		qtype  uint16
		want   string
	}{
		{"127.0.0.1", dns.TypeA, "NOERROR aa [multi. 0 IN A 127.0.0.5] extra []"},
		{"127.0.1.1", dns.TypeA, "NOERROR aa [multi. 0 IN A 127.0.1.5 | multi. 0 IN A 127.0.1.6] extra []"},
		{"127.0.2.1", dns.TypeA, "NOERROR aa [multi. 0 IN A 10.0.0.5 | multi. 0 IN A 127.0.0.5 | multi. 0 IN A 127.0.1.5 | multi. 0 IN A 127.0.1.6] extra []"},
		{"127.0.0.1", dns.TypeAAAA, "NOERROR aa [multi. 0 IN AAAA 2001:db8::5] extra []"},
	}
	for _, tt := range tests {
		r, _, err := c.Exchange(newQuery("multi.", tt.qtype), tt.server+":"+strconv.Itoa(int(port)))
		if err != nil {
			t.Fatalf("%s: %v", tt.server, err)
		}
		if got := resultOf(r).String(); got != tt.want {
			t.Errorf("via %s %s:\n got %s\nwant %s", tt.server, dns.TypeToString[tt.qtype], got, tt.want)
		}
	}
	_ = d
}

// TestLocalDynamicSwap: a new TABLE_LOCAL_DYNAMIC (a hostsdir file
// added) is answered at once, and the cache survives it.
func TestLocalDynamicSwap(t *testing.T) {
	up := startUpstream(t, markerUpstream)
	d := startLocalDNSD(t, upstreamCfg(up.addr), "", localData{
		records: []*ipcpb.LocalRecord{rrRecord(t, "cn.lan. 0 IN CNAME new.lan.")},
	})
	if got := query(t, d, "cached.example", dns.TypeA).String(); got != fwd(fwdA, "cached.example") {
		t.Fatalf("cached.example: %s", got)
	}
	if got := query(t, d, "cn.lan", dns.TypeA).String(); got != "NOERROR aa [cn.lan. 0 IN CNAME new.lan.] extra []" {
		t.Fatalf("cn.lan before: %s", got)
	}
	d.sendLocal(t, ipcpb.Table_TABLE_LOCAL_DYNAMIC, []*ipcpb.LocalRecord{
		hostRecord(ipcpb.LocalHost_KIND_HOSTS_DIR, "192.0.2.77", 0, "/etc/hosts.d/new", "new.lan"),
	})
	waitAnswer(t, d, "new.lan", dns.TypeA, "NOERROR aa [new.lan. 0 IN A 192.0.2.77] extra []")
	before := up.queries() // new.lan may have been forwarded before the swap
	if got := query(t, d, "cn.lan", dns.TypeA).String(); got != "NOERROR aa [cn.lan. 0 IN CNAME new.lan. | new.lan. 0 IN A 192.0.2.77] extra []" {
		t.Errorf("cn.lan after: %s", got)
	}
	query(t, d, "cached.example", dns.TypeA)
	if n := up.queries() - before; n != 0 {
		t.Errorf("%d upstream queries after the swap: the cache was dropped", n)
	}
	// The configured records stay when only the dynamic table changes.
	d.sendLocal(t, ipcpb.Table_TABLE_LOCAL_DYNAMIC, nil)
	waitAnswer(t, d, "cn.lan", dns.TypeA, "NOERROR aa [cn.lan. 0 IN CNAME new.lan.] extra []")
}

// TestLocalTableChecked: dnsd rejects records the master should never
// send, and stops (the master restarts it).
func TestLocalTableChecked(t *testing.T) {
	bad := map[string]*ipcpb.LocalRecord{
		"class CH":           rrRecord(t, `x.lan. 0 CH TXT "a"`),
		"truncated rr":       {Rr: rrRecord(t, "x.lan. 0 IN A 192.0.2.1").Rr[:12]},
		"trailing bytes":     {Rr: append(rrRecord(t, "x.lan. 0 IN A 192.0.2.1").Rr, 0)},
		"second CNAME":       rrRecord(t, "cn.lan. 0 IN CNAME b.lan."),
		"owner with space":   rrRecord(t, `x\032y.lan. 0 IN A 192.0.2.1`),
		"interface-less hr":  hostRecord(ipcpb.LocalHost_KIND_HOST_RECORD, "", 0, "", "x.lan"),
		"hostsdir in static": hostRecord(ipcpb.LocalHost_KIND_HOSTS_DIR, "192.0.2.1", 0, "/x", "x.lan"),
		"prefix in static":   {LocalPrefix: "10.0.0.1/8"},
	}
	for name, rec := range bad {
		t.Run(name, func(t *testing.T) {
			up := startUpstream(t, markerUpstream)
			d := startLocalDNSD(t, upstreamCfg(up.addr), "", localData{records: []*ipcpb.LocalRecord{rrRecord(t, "cn.lan. 0 IN CNAME a.lan.")}})
			// Sent by hand: SendLocalRecords would refuse some of these.
			msgs := []*ipcpb.Envelope{
				{Msg: &ipcpb.Envelope_TableBegin{TableBegin: &ipcpb.TableBegin{Table: ipcpb.Table_TABLE_LOCAL_RECORDS, Generation: 2, Count: 2}}},
				{Msg: &ipcpb.Envelope_TableItem{TableItem: &ipcpb.TableItem{Generation: 2, LocalRecords: []*ipcpb.LocalRecord{rrRecord(t, "cn.lan. 0 IN CNAME a.lan."), rec}}}},
				{Msg: &ipcpb.Envelope_TableEnd{TableEnd: &ipcpb.TableEnd{Generation: 2, Count: 2}}},
			}
			for _, m := range msgs {
				if err := d.master.Send(m); err != nil {
					if errors.Is(err, ipc.ErrInvalid) {
						return // ipc's own checks caught it first
					}
					t.Fatal(err)
				}
			}
			select {
			case err := <-d.done:
				if err == nil || !strings.Contains(err.Error(), "TABLE_LOCAL_RECORDS") {
					t.Errorf("Serve returned %v, want a table error", err)
				}
				d.done <- err // for the cleanup
			case <-time.After(5 * time.Second):
				t.Fatal("dnsd accepted a bad record")
			}
		})
	}
}

// TestLocalMXAndLogs: selfmx and localmx for hosts names, and
// log-queries lines in dnsmasq's words.
func TestLocalMXAndLogs(t *testing.T) {
	up := startUpstream(t, markerUpstream)
	cfg := upstreamCfg(up.addr)
	cfg.LogQueries, cfg.LocalTtl = true, 5
	cfg.LocalMx, cfg.MxTarget = true, "mail.lan"
	d := startLocalDNSD(t, cfg, "192.0.2.9 pc.lan\n192.0.2.10 mail.lan\n", localData{records: []*ipcpb.LocalRecord{
		hostRecord(ipcpb.LocalHost_KIND_HOST_RECORD, "192.0.2.1", 600, "config", "hr.lan"),
		rrRecord(t, "cn.lan. 5 IN CNAME hr.lan."),
		rrRecord(t, `t.lan. 5 IN TXT "x"`),
		addressRule("ads.example", "0.0.0.0"),
	}})
	tests := []struct {
		name  string
		qtype uint16
		want  string
		log   []string
	}{
		{"pc.lan", dns.TypeMX, "NOERROR aa [pc.lan. 5 IN MX 1 mail.lan.] extra [mail.lan. 5 IN A 192.0.2.10]", []string{"config pc.lan is <MX>"}},
		{"hr.lan", dns.TypeMX, "NOERROR aa [hr.lan. 5 IN MX 1 mail.lan.] extra [mail.lan. 5 IN A 192.0.2.10]", nil},
		{"hr.lan", dns.TypeA, "NOERROR aa [hr.lan. 600 IN A 192.0.2.1] extra []", []string{"config hr.lan is 192.0.2.1"}},
		{"1.2.0.192.in-addr.arpa", dns.TypePTR, "NOERROR aa [1.2.0.192.in-addr.arpa. 600 IN PTR hr.lan.] extra []", []string{"config 192.0.2.1 is hr.lan"}},
		{"9.2.0.192.in-addr.arpa", dns.TypePTR, "NOERROR aa [9.2.0.192.in-addr.arpa. 5 IN PTR pc.lan.] extra []", []string{"/etc/hosts 192.0.2.9 is pc.lan"}},
		{"pc.lan", dns.TypeA, "NOERROR aa [pc.lan. 5 IN A 192.0.2.9] extra []", []string{"/etc/hosts pc.lan is 192.0.2.9"}},
		{"cn.lan", dns.TypeA, "NOERROR aa [cn.lan. 5 IN CNAME hr.lan. | hr.lan. 600 IN A 192.0.2.1] extra []", []string{"config cn.lan is <CNAME>", "config hr.lan is 192.0.2.1"}},
		{"t.lan", dns.TypeTXT, `NOERROR aa [t.lan. 5 IN TXT "x"] extra []`, []string{"config t.lan is <TXT>"}},
		{"x.ads.example", dns.TypeA, "NOERROR aa [x.ads.example. 5 IN A 0.0.0.0] extra []", []string{"config x.ads.example is 0.0.0.0"}},
		{"other.lan", dns.TypeMX, fwd(fwdOther, "other.lan"), nil},
	}
	for _, tt := range tests {
		if got := query(t, d, tt.name, tt.qtype).String(); got != tt.want {
			t.Errorf("%s %s:\n got %s\nwant %s", tt.name, dns.TypeToString[tt.qtype], got, tt.want)
		}
		for _, line := range tt.log {
			waitFor(t, "log line "+line, func() bool { return strings.Contains(d.log.String(), line) })
		}
	}
}

// boundUDP makes a UDP socket bound to addr, as the master does with
// bind-interfaces (no packet info: the bound address is the destination).
func boundUDP(t *testing.T, addr string) workerproc.Socket {
	t.Helper()
	pc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	f, err := pc.File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return workerproc.Socket{Desc: &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DNS_UDP, Address: pc.LocalAddr().String()}, File: f}
}

// TestLocaliseQueriesBound: with bind-interfaces sockets the address a
// socket is bound to is the one localise-queries uses.
func TestLocaliseQueriesBound(t *testing.T) {
	up := startUpstream(t, markerUpstream)
	a, b := boundUDP(t, "127.0.0.1:0"), boundUDP(t, "127.0.1.1:0")
	cfg := upstreamCfg(up.addr)
	cfg.LocaliseQueries = true
	ld := localData{dynamic: []*ipcpb.LocalRecord{{LocalPrefix: "127.0.0.1/24"}, {LocalPrefix: "127.0.1.1/24"}}}
	startLocalDNSD(t, cfg, "127.0.0.5 multi\n127.0.1.5 multi\n", ld, a, b)
	c := &dns.Client{Timeout: 5 * time.Second}
	for _, tt := range []struct {
		sock workerproc.Socket
		want string
	}{
		{a, "NOERROR aa [multi. 0 IN A 127.0.0.5] extra []"},
		{b, "NOERROR aa [multi. 0 IN A 127.0.1.5] extra []"},
	} {
		r, _, err := c.Exchange(newQuery("multi.", dns.TypeA), tt.sock.Desc.GetAddress())
		if err != nil {
			t.Fatal(err)
		}
		if got := resultOf(r).String(); got != tt.want {
			t.Errorf("via %s: %s, want %s", tt.sock.Desc.GetAddress(), got, tt.want)
		}
	}
}
