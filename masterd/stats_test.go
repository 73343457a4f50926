package masterd

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// TestFormatStats: the lines dnsmasq 2.90 writes on SIGUSR1.
func TestFormatStats(t *testing.T) {
	r := &ipcpb.StatsReport{
		CacheSize: 150, CacheInserts: 20, CacheLiveEvictions: 3, QueriesForwarded: 7, QueriesAnsweredLocally: 11,
		Servers: []*ipcpb.ServerStats{
			{Address: "192.0.2.1:53", Queries: 5, Retried: 1, Failed: 2, Nxdomain: 1, AvgLatencyMs: 4},
			{Address: "[2001:db8::1]:5353"},
		},
		TcpInUse: 1, TcpHighest: 3, TcpMax: 64,
	}
	want := []string{
		"time 1700000000",
		"cache size 150, 3/20 cache insertions re-used unexpired cache entries.",
		"queries forwarded 7, queries answered locally 11",
		"queries for authoritative zones 0",
		"child processes for TCP requests: in use 1, highest since last SIGUSR1 3, max allowed 64.",
		"server 192.0.2.1#53: queries sent 5, retried 1, failed 2, nxdomain replies 1, avg. latency 4ms",
		"server 2001:db8::1#5353: queries sent 0, retried 0, failed 0, nxdomain replies 0, avg. latency 0ms",
	}
	got := formatStats(r, time.Unix(1700000000, 0))
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	r.UseStaleCache, r.StaleAnswers, r.ServersOmitted = true, 9, 4
	got = formatStats(r, time.Unix(1700000000, 0))
	if got[3] != "queries answered from stale cache 9" || got[len(got)-1] != "4 more servers not listed" {
		t.Errorf("stale / omitted lines missing:\n%s", strings.Join(got, "\n"))
	}
}

// TestFormatCacheDump: dnsmasq 2.90's columns (name 30, data 40, flags
// 10, expiry as ctime in local time).
func TestFormatCacheDump(t *testing.T) {
	exp := time.Date(2026, 11, 1, 8, 58, 27, 0, time.Local)
	got := formatCacheDump([]*ipcpb.CacheDumpEntry{
		{Name: "c.up.test", Data: "192.0.2.5", Flags: "4F        ", Expires: exp.Unix()},
		{Name: "a-name-longer-than-thirty-characters.test", Data: "", Flags: "6F   N    ", Expires: exp.Unix()},
	})
	want := []string{
		"c.up.test                      192.0.2.5                                4F         Sun Nov  1 08:58:27 2026",
		"a-name-longer-than-thirty-char                                          6F   N     Sun Nov  1 08:58:27 2026",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The rule marks the columns the entries use.
	rule := strings.Fields(cacheDumpHead()[1])
	if len(rule) != 5 || len(rule[0]) != 30 || len(rule[1]) != 40 || len(rule[2]) != 10 || len(rule[3]) != 24 {
		t.Errorf("rule columns %v", rule)
	}
}

// TestHandleWorkerMessage: a report that answers a request is taken; one
// nobody asked for, or from another role, is a protocol violation.
func TestHandleWorkerMessage(t *testing.T) {
	m := &master{}
	report := func(id uint64) *ipcpb.Envelope {
		return &ipcpb.Envelope{Msg: &ipcpb.Envelope_StatsReport{StatsReport: &ipcpb.StatsReport{Id: id}}}
	}
	if m.handleWorkerMessage("dnsd", report(1)) {
		t.Error("unsolicited report accepted")
	}
	ch := make(chan *ipcpb.Envelope, 1)
	m.stats.nextID = 1
	m.stats.answers = map[uint64]chan *ipcpb.Envelope{1: ch}
	if !m.handleWorkerMessage("dnsd", report(1)) {
		t.Fatal("awaited report refused")
	}
	if r := <-ch; r.GetStatsReport().GetId() != 1 {
		t.Errorf("delivered %v", r)
	}
	delete(m.stats.answers, 1)
	if !m.handleWorkerMessage("dnsd", report(1)) {
		t.Error("a late duplicate of an answered request must be harmless")
	}
	if m.handleWorkerMessage("dhcpd", report(1)) {
		t.Error("report from dhcpd accepted")
	}
	if m.handleWorkerMessage("dnsd", &ipcpb.Envelope{Msg: &ipcpb.Envelope_Ready{Ready: &ipcpb.Ready{}}}) {
		t.Error("Ready after Ready accepted")
	}
}

// ndmsg builds a netlink neighbour message body.
func ndmsg(state uint16, attrs ...[]byte) []byte {
	b := make([]byte, ndmsgLen)
	binary.NativeEndian.PutUint16(b[8:10], state)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func rtattr(typ uint16, val []byte) []byte {
	l := 4 + len(val)
	b := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(l))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	copy(b[4:], val)
	return b
}

func TestParseNeighbour(t *testing.T) {
	mac := []byte{2, 0, 0, 0, 0, 1}
	v4 := []byte{192, 168, 1, 2}
	v6 := netip.MustParseAddr("fe80::1").AsSlice()
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"reachable v4", ndmsg(0x02, rtattr(ndaDst, v4), rtattr(ndaLLAddr, mac)), true},
		{"stale v6", ndmsg(0x04, rtattr(ndaDst, v6), rtattr(ndaLLAddr, mac)), true},
		{"incomplete", ndmsg(nudIncomplte, rtattr(ndaDst, v4), rtattr(ndaLLAddr, mac)), false},
		{"failed", ndmsg(nudFailed, rtattr(ndaDst, v4)), false},
		{"no mac", ndmsg(0x02, rtattr(ndaDst, v4)), false},
		{"zero mac", ndmsg(0x02, rtattr(ndaDst, v4), rtattr(ndaLLAddr, make([]byte, 6))), false},
		{"short", []byte{1, 2, 3}, false},
		{"bad attribute length", append(ndmsg(0x02), 0xff, 0xff, 1, 0), false},
	}
	for _, tt := range tests {
		nb, ok := parseNeighbour(tt.data)
		if ok != tt.ok {
			t.Errorf("%s: ok %v, want %v (%v)", tt.name, ok, tt.ok, nb)
		}
	}
}

// TestReadNeighbours reads this machine's real tables: it must not fail
// (it may be empty in a fresh namespace).
func TestReadNeighbours(t *testing.T) {
	if _, err := readNeighbours(); err != nil {
		t.Fatal(err)
	}
	nets, err := localNetworks()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(nets, "127.0.0.0/8") {
		t.Errorf("local networks %v lack loopback's 127.0.0.0/8", nets)
	}
}

func TestFitNetState(t *testing.T) {
	ns := &ipcpb.NetState{}
	for i := range ipc.MaxNeighbours + 100 {
		ns.Neighbours = append(ns.Neighbours, &ipcpb.Neighbour{
			Address: netip.AddrFrom16([16]byte{0xfd, 14: byte(i >> 8), 15: byte(i)}).AsSlice(),
			Mac:     make([]byte, 20),
		})
	}
	dropped := fitNetState(ns)
	if dropped < 100 || len(ns.Neighbours)+dropped != ipc.MaxNeighbours+100 {
		t.Errorf("dropped %d, kept %d", dropped, len(ns.Neighbours))
	}
	if err := ipc.Validate(&ipcpb.Envelope{Msg: &ipcpb.Envelope_NetState{NetState: ns}}); err != nil {
		t.Error(err)
	}
}

// TestApplyFilters: the configuration's area D options reach DNSConfig.
func TestApplyFilters(t *testing.T) {
	cfg, err := config.Parse([]string{
		"--domain-needed", "--bogus-priv", "--bogus-nxdomain=64.94.110.11", "--ignore-address=10.0.0.0/8",
		"--stop-dns-rebind", "--rebind-localhost-ok", "--rebind-domain-ok=/lan/", "--filterwin2k",
		"--filter-rr=MX", "--filter-A", "--filter-aaaa", "--local-service", "--edns-packet-max=100",
		"--add-mac=base64", "--add-subnet=1.2.3.4/24,56", "--no-ident", "--log-queries=extra",
		"--server=/168.192.in-addr.arpa/192.0.2.1", "--server=/10.in-addr.arpa/#", "--local=/16.172.in-addr.arpa/",
		"--server=/example.com/192.0.2.2",
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	dc := &ipcpb.DNSConfig{}
	l, _ := newLogger("-", true)
	applyFilters(cfg, dc, l)
	if !dc.DomainNeeded || !dc.BogusPriv || !dc.StopDnsRebind || !dc.RebindLocalhostOk || !dc.Filterwin2K ||
		!dc.NoIdent || !dc.LogExtra || !dc.AddMacBase64 || dc.AddMac || dc.EdnsPacketMax != 512 ||
		dc.LocalService != ipcpb.LocalService_LOCAL_SERVICE_NET || !strings.HasPrefix(dc.Version, "moat-") {
		t.Errorf("flags: %v", dc)
	}
	if !slices.Equal(dc.BogusNxdomain, []string{"64.94.110.11/32"}) || !slices.Equal(dc.IgnoreAddress, []string{"10.0.0.0/8"}) ||
		!slices.Equal(dc.RebindDomainOk, []string{"lan"}) || !slices.Equal(dc.FilterRr, []uint32{15, 1, 28}) {
		t.Errorf("lists: %v", dc)
	}
	if !slices.Contains(dc.LocalNetworks, "127.0.0.0/8") {
		t.Errorf("local networks %v", dc.LocalNetworks)
	}
	if s := dc.AddSubnet; s.GetV4().GetBits() != 24 || len(s.GetV4().GetAddress()) != 4 || s.GetV6().GetBits() != 56 || len(s.GetV6().GetAddress()) != 0 {
		t.Errorf("add-subnet %v", s)
	}
	if err := ipc.Validate(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: dc}}); err != nil {
		t.Error(err)
	}
	// local-service gives way to any interface or address option.
	for _, extra := range []string{"--interface=lo", "--except-interface=eth9", "--listen-address=127.0.0.1"} {
		cfg, err := config.Parse([]string{"--local-service=host", extra}, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := localServiceMode(cfg); got != ipcpb.LocalService_LOCAL_SERVICE_OFF {
			t.Errorf("local-service with %s: %v, want off", extra, got)
		}
	}
}
