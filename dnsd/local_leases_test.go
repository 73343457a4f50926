package dnsd

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// leaseName is one TABLE_LEASE_NAMES entry as the master sends it.
func leaseName(addr string, ttl uint32, expires int64, names ...string) *ipcpb.LocalRecord {
	return &ipcpb.LocalRecord{Source: "DHCP", Host: &ipcpb.LocalHost{Kind: ipcpb.LocalHost_KIND_DHCP_LEASE,
		Address: netip.MustParseAddr(addr).AsSlice(), Names: names, Ttl: ttl, Expires: expires}}
}

func (d *dnsdInstance) sendLeaseNames(t testing.TB, gen uint64, recs ...*ipcpb.LocalRecord) {
	t.Helper()
	if err := ipc.SendLeaseNames(d.master, gen, recs); err != nil {
		t.Fatal(err)
	}
}

// TestLeaseNameAnswers: dnsd answers A and PTR for lease names over a
// real loopback socket, as dnsmasq answers DHCP names: the name and the
// qualified name, PTR with the qualified name, TTL capped by the lease's
// remaining time, hosts data and host-record before DHCP names, nothing
// once the lease is over or the name has left the table.
func TestLeaseNameAnswers(t *testing.T) {
	clock := useTestClock(t)
	now := clock.now().Unix()
	up := startUpstream(t, markerUpstream)
	cfg := upstreamCfg(up.addr)
	cfg.SelfMx = true
	cfg.LogQueries = true
	d := startLocalDNSD(t, cfg, "192.168.1.9 printer.lan printer\n", localData{
		records: []*ipcpb.LocalRecord{hostRecord(ipcpb.LocalHost_KIND_HOST_RECORD, "192.0.2.1", 0, "config", "hr.lan")},
	})
	d.sendLeaseNames(t, 1,
		leaseName("192.168.1.50", 60, now+30, "laptop.lan", "laptop"),
		leaseName("192.168.1.51", 60, now+3600, "desk.lan", "desk"),
		leaseName("192.168.1.52", 60, now-1, "gone.lan", "gone"),
		leaseName("192.168.1.53", 60, 0, "forever"),
		// The master never sends these two; dnsd still answers in
		// dnsmasq's order: hosts files and host-record first.
		leaseName("192.168.1.9", 60, 0, "p2.lan"),
		leaseName("192.168.1.54", 60, 0, "hr.lan"),
	)
	// Wait on a name that is not asked later: a query forwarded before
	// the table is in leaves a cached answer.
	waitAnswer(t, d, "forever", dns.TypeA, "NOERROR aa [forever. 60 IN A 192.168.1.53] extra []")
	tests := []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"laptop.lan", dns.TypeA, "NOERROR aa [laptop.lan. 30 IN A 192.168.1.50] extra []"},
		{"LAPTOP", dns.TypeA, "NOERROR aa [LAPTOP. 30 IN A 192.168.1.50] extra []"},
		{"desk.lan", dns.TypeA, "NOERROR aa [desk.lan. 60 IN A 192.168.1.51] extra []"},
		{"desk", dns.TypeA, "NOERROR aa [desk. 60 IN A 192.168.1.51] extra []"},
		{"forever", dns.TypeA, "NOERROR aa [forever. 60 IN A 192.168.1.53] extra []"},
		{"50.1.168.192.in-addr.arpa", dns.TypePTR, "NOERROR aa [50.1.168.192.in-addr.arpa. 30 IN PTR laptop.lan.] extra []"},
		{"53.1.168.192.in-addr.arpa", dns.TypePTR, "NOERROR aa [53.1.168.192.in-addr.arpa. 60 IN PTR forever.] extra []"},
		{"9.1.168.192.in-addr.arpa", dns.TypePTR, "NOERROR aa [9.1.168.192.in-addr.arpa. 0 IN PTR printer.lan.] extra []"},
		{"hr.lan", dns.TypeA, "NOERROR aa [hr.lan. 0 IN A 192.0.2.1] extra []"},
		{"p2.lan", dns.TypeA, "NOERROR aa [p2.lan. 60 IN A 192.168.1.9] extra []"},
		{"desk.lan", dns.TypeMX, "NOERROR aa [desk.lan. 0 IN MX 1 desk.lan.] extra [desk.lan. 60 IN A 192.168.1.51]"},
		{"gone.lan", dns.TypeA, fwd(fwdA, "gone.lan")},
		{"52.1.168.192.in-addr.arpa", dns.TypePTR, fwd(fwdOther, "52.1.168.192.in-addr.arpa")},
		{"laptop.lan", dns.TypeAAAA, fwd(fwdAAAA, "laptop.lan")},
	}
	for _, tt := range tests {
		if got := query(t, d, tt.name, tt.qtype).String(); got != tt.want {
			t.Errorf("%s %s:\n got %s\nwant %s", tt.name, dns.TypeToString[tt.qtype], got, tt.want)
		}
	}

	// The log is written after the reply leaves: wait for it.
	for _, line := range []string{"DHCP laptop.lan is 192.168.1.50", "DHCP 192.168.1.50 is laptop.lan", "/etc/hosts 192.168.1.9 is printer.lan"} {
		waitFor(t, "log-queries line "+strconv.Quote(line), func() bool { return strings.Contains(d.log.String(), line) })
	}

	// The lease runs out: its TTL shrinks, then the name is gone.
	clock.advance(25 * time.Second)
	if got, want := query(t, d, "laptop.lan", dns.TypeA).String(), "NOERROR aa [laptop.lan. 5 IN A 192.168.1.50] extra []"; got != want {
		t.Errorf("near the end: %s, want %s", got, want)
	}
	clock.advance(6 * time.Second)
	if got, want := query(t, d, "laptop.lan", dns.TypeA).String(), fwd(fwdA, "laptop.lan"); got != want {
		t.Errorf("after the end: %s, want %s", got, want)
	}

	// A new table (a release) takes desk's name away at once; a local
	// table sent later keeps the lease names.
	d.sendLeaseNames(t, 2, leaseName("192.168.1.53", 60, 0, "forever"))
	waitAnswer(t, d, "desk.lan", dns.TypeA, fwd(fwdA, "desk.lan"))
	d.sendLocal(t, ipcpb.Table_TABLE_LOCAL_DYNAMIC, nil)
	waitAnswer(t, d, "forever", dns.TypeA, "NOERROR aa [forever. 60 IN A 192.168.1.53] extra []")
}

// TestLeaseNamesInLocalDomain: under local=/lan/ a lease name exists:
// asked for a type it lacks it is NODATA, not NXDOMAIN, as for hosts
// names.
func TestLeaseNamesInLocalDomain(t *testing.T) {
	up := startUpstream(t, markerUpstream)
	d := startLocalDNSD(t, upstreamCfg(), "", localData{})
	d.sendUpstreamTable(t, 2, []*ipcpb.Upstream{
		{Address: up.addr.String(), Source: "server"},
		{Local: true, Domains: []string{"lan"}, Source: "server"},
	})
	d.sendLeaseNames(t, 1, leaseName("192.168.1.50", 0, 0, "pc.lan", "pc"))
	waitAnswer(t, d, "pc.lan", dns.TypeA, "NOERROR aa [pc.lan. 0 IN A 192.168.1.50] extra []")
	for _, tt := range []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"pc.lan", dns.TypeAAAA, "NOERROR [] extra []"},
		{"other.lan", dns.TypeA, "NXDOMAIN [] extra []"},
	} {
		if got := query(t, d, tt.name, tt.qtype).String(); got != tt.want {
			t.Errorf("%s %s: %s, want %s", tt.name, dns.TypeToString[tt.qtype], got, tt.want)
		}
	}
}

// TestLeaseTableChecked: dnsd checks every lease entry again and refuses
// a table with one it cannot trust.
func TestLeaseTableChecked(t *testing.T) {
	good := func() *ipcpb.LocalRecord { return leaseName("192.168.1.50", 0, 0, "pc.lan", "pc") }
	tests := []struct {
		name   string
		change func(r *ipcpb.LocalRecord)
	}{
		{"IPv6 address", func(r *ipcpb.LocalRecord) { r.Host.Address = make([]byte, 16) }},
		{"no address", func(r *ipcpb.LocalRecord) { r.Host.Address = nil }},
		{"hostsdir kind", func(r *ipcpb.LocalRecord) { r.Host.Kind = ipcpb.LocalHost_KIND_HOSTS_DIR }},
		{"upper case", func(r *ipcpb.LocalRecord) { r.Host.Names = []string{"PC.lan"} }},
		{"trailing dot", func(r *ipcpb.LocalRecord) { r.Host.Names = []string{"pc.lan."} }},
		{"underscore", func(r *ipcpb.LocalRecord) { r.Host.Names = []string{"p_c.lan"} }},
		{"leading hyphen", func(r *ipcpb.LocalRecord) { r.Host.Names = []string{"-pc"} }},
		{"three names", func(r *ipcpb.LocalRecord) { r.Host.Names = []string{"a", "b", "c"} }},
		{"no names", func(r *ipcpb.LocalRecord) { r.Host.Names = nil }},
		{"negative expiry", func(r *ipcpb.LocalRecord) { r.Host.Expires = -1 }},
		{"not a host", func(r *ipcpb.LocalRecord) { r.Host = nil; r.LocalPrefix = "10.0.0.1/8" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.change(r)
			if _, err := newLeaseTable([]*ipcpb.LocalRecord{good(), r}); !errors.Is(err, ipc.ErrInvalid) {
				t.Errorf("newLeaseTable = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := newLeaseTable([]*ipcpb.LocalRecord{good(), leaseName("192.168.1.51", 0, 0, "x-1")}); err != nil {
		t.Errorf("valid table refused: %v", err)
	}
}

// TestLeaseTableRefusedOverIPC: a lease table the master's sender would
// not produce (a name in upper case) stops dnsd, like every other
// protocol violation, rather than being half believed.
func TestLeaseTableRefusedOverIPC(t *testing.T) {
	up := startUpstream(t, markerUpstream)
	d := startLocalDNSD(t, upstreamCfg(up.addr), "", localData{})
	bad := leaseName("192.168.1.50", 0, 0, "Evil.lan")
	for _, env := range []*ipcpb.Envelope{
		{Msg: &ipcpb.Envelope_TableBegin{TableBegin: &ipcpb.TableBegin{Table: ipcpb.Table_TABLE_LEASE_NAMES, Generation: 3, Count: 1}}},
		{Msg: &ipcpb.Envelope_TableItem{TableItem: &ipcpb.TableItem{Generation: 3, LocalRecords: []*ipcpb.LocalRecord{bad}}}},
		{Msg: &ipcpb.Envelope_TableEnd{TableEnd: &ipcpb.TableEnd{Generation: 3, Count: 1}}},
	} {
		if err := d.master.Send(env); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-d.done:
		if err == nil || !strings.Contains(err.Error(), "not a host name") {
			t.Errorf("Serve returned %v", err)
		}
		d.done <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("dnsd kept running with a bad lease table")
	}
}

// FuzzLeaseTable feeds arbitrary TableItem bytes, as the master's stream
// would carry them, to the lease-name check: whatever passes ipc's
// validation is either refused by newLeaseTable or answers queries
// without panicking, with replies that pack.
func FuzzLeaseTable(f *testing.F) {
	for _, recs := range [][]*ipcpb.LocalRecord{
		{leaseName("192.168.1.50", 60, 1_700_000_030, "pc.lan", "pc"), leaseName("10.0.0.1", 0, 0, "bare")},
		{leaseName("192.168.1.50", 60, 1, "Bad.lan")},
	} {
		b, err := proto.Marshal(&ipcpb.TableItem{LocalRecords: recs})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	names := []string{"pc.lan.", "pc.", "bare.", "lan.", "50.1.168.192.in-addr.arpa.", "1.0.0.10.in-addr.arpa."}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeANY, dns.TypePTR, dns.TypeMX}
	f.Fuzz(func(t *testing.T, data []byte) {
		it := new(ipcpb.TableItem)
		if proto.Unmarshal(data, it) != nil || len(it.GetLocalRecords()) == 0 {
			return
		}
		if ipc.Validate(&ipcpb.Envelope{Msg: &ipcpb.Envelope_TableItem{TableItem: it}}) != nil {
			return
		}
		lt, err := newLeaseTable(it.GetLocalRecords())
		if err != nil {
			return
		}
		z, err := newLocalZone(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		z.leases = lt
		s := fuzzServer(t)
		st := *s.st.Load()
		st.local = z
		st.cfg.local.selfMX = true
		for _, name := range names {
			for _, qt := range types {
				q := new(dns.Msg)
				q.SetQuestion(name, qt)
				raw, err := q.Pack()
				if err != nil {
					t.Fatal(err)
				}
				out, _ := s.handleLocalAt(&st, raw, netip.MustParseAddrPort("127.0.0.1:5353"), netip.Addr{}, false)
				checkReply(t, out, q.Id, dns.MinMsgSize)
			}
		}
	})
}

// BenchmarkLeaseTable is dnsd's cost of installing a lease table of
// 50,000 names (checked and indexed).
func BenchmarkLeaseTable(b *testing.B) {
	recs := make([]*ipcpb.LocalRecord, 50_000)
	for i := range recs {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		n := "host-" + strings.Repeat("x", i%3) + netip.AddrFrom4([4]byte{0, byte(i >> 16), byte(i >> 8), byte(i)}).String()
		n = strings.ReplaceAll(n, ".", "-")
		recs[i] = leaseName(a.String(), 0, 0, n+".lan", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := newLeaseTable(recs); err != nil {
			b.Fatal(err)
		}
	}
}
