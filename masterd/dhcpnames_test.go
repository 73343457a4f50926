package masterd

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/leases"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// leaseNameStrings shows a lease name table as "addr names ttl=T exp=E".
func leaseNameStrings(recs []*ipcpb.LocalRecord) []string {
	var out []string
	for _, r := range recs {
		h := r.GetHost()
		a, _ := netip.AddrFromSlice(h.GetAddress())
		out = append(out, a.String()+" "+strings.Join(h.GetNames(), ",")+" ttl="+itoa(h.GetTtl())+" exp="+itoa(uint32(h.GetExpires())))
	}
	return out
}

// TestBuildLeaseNames: the master's checks of lease names, one rule per
// case, with dnsmasq's log lines where dnsmasq logs.
func TestBuildLeaseNames(t *testing.T) {
	a := netip.MustParseAddr
	domains := func(ad netip.Addr) string {
		switch {
		case netip.MustParsePrefix("192.168.2.0/24").Contains(ad):
			return "guest.lan"
		case netip.MustParsePrefix("10.0.0.0/8").Contains(ad):
			return ""
		}
		return "lan"
	}
	shadows := map[string]shadow{
		"printer":       {v4: []shadowAddr{{a("192.168.1.9"), "/etc/hosts"}}},
		"nas":           {v4: []shadowAddr{{a("192.168.1.60"), "/etc/hosts"}}},
		"nas.lan":       {v4: []shadowAddr{{a("192.168.1.60"), "/etc/hosts"}}},
		"tv.lan":        {v4: []shadowAddr{{a("192.168.1.7"), "/etc/dnsmasq.hosts"}}},
		"www.lan":       {cname: true},
		"router":        {v4: []shadowAddr{{a("192.168.1.1"), "config"}}},
		"sixonly":       {},
		"sixonly.lan":   {},
		"dirname.lan":   {v4: []shadowAddr{{a("192.168.1.2"), "/etc/hosts.d/a"}}},
		"unrelated.lan": {v4: []shadowAddr{{a("192.168.1.3"), "/etc/hosts"}}},
	}
	rules := nameRules{
		domainFor: domains,
		shadowOf:  func(k string) shadow { return shadows[k] },
		ttl:       60,
		now:       1000,
	}
	claim := func(addr, name string, exp int64, seq uint64) nameClaim {
		return nameClaim{addr: a(addr), name: name, expires: exp, seq: seq}
	}
	tests := []struct {
		name     string
		claims   []nameClaim
		want     []string
		refusals []string
	}{
		{"name and qualified name", []nameClaim{claim("192.168.1.50", "laptop", 5000, 1)},
			[]string{"192.168.1.50 laptop.lan,laptop ttl=60 exp=5000"}, nil},
		{"upper case is stored lower", []nameClaim{claim("192.168.1.50", "Laptop", 5000, 1)},
			[]string{"192.168.1.50 laptop.lan,laptop ttl=60 exp=5000"}, nil},
		{"domain of the address's range", []nameClaim{claim("192.168.2.5", "phone", 5000, 1)},
			[]string{"192.168.2.5 phone.guest.lan,phone ttl=60 exp=5000"}, nil},
		{"no domain: the bare name only", []nameClaim{claim("10.1.2.3", "box", 0, 1)},
			[]string{"10.1.2.3 box ttl=60 exp=0"}, nil},
		{"expired lease", []nameClaim{claim("192.168.1.50", "old", 999, 1)}, nil, nil},
		{"lease through its last second", []nameClaim{claim("192.168.1.50", "last", 1000, 1)},
			[]string{"192.168.1.50 last.lan,last ttl=60 exp=1000"}, nil},
		{"not a label", []nameClaim{claim("192.168.1.50", "a_b", 5000, 1), claim("192.168.1.51", "a.b", 5000, 2), claim("192.168.1.52", "-x", 5000, 3)},
			nil, []string{
				`not giving name "-x" to the DHCP lease of 192.168.1.52 because it is not a legal DNS label`,
				`not giving name "a.b" to the DHCP lease of 192.168.1.51 because it is not a legal DNS label`,
				`not giving name "a_b" to the DHCP lease of 192.168.1.50 because it is not a legal DNS label`,
			}},
		{"reserved", []nameClaim{claim("192.168.1.50", "LocalHost", 5000, 1), claim("192.168.1.51", "lan", 5000, 2)},
			nil, []string{
				"not giving name lan to the DHCP lease of 192.168.1.51 because the name is reserved",
				"not giving name localhost to the DHCP lease of 192.168.1.50 because the name is reserved",
			}},
		{"hosts file has the name elsewhere", []nameClaim{claim("192.168.1.50", "printer", 5000, 1)},
			[]string{"192.168.1.50 printer.lan ttl=60 exp=5000"},
			[]string{"not giving name printer to the DHCP lease of 192.168.1.50 because the name exists in /etc/hosts with address 192.168.1.9"}},
		{"hosts file has the name at the lease's address", []nameClaim{claim("192.168.1.60", "nas", 5000, 1)}, nil, nil},
		{"addn-hosts has the qualified name", []nameClaim{claim("192.168.1.50", "tv", 5000, 1)},
			[]string{"192.168.1.50 tv ttl=60 exp=5000"},
			[]string{"not giving name tv.lan to the DHCP lease of 192.168.1.50 because the name exists in /etc/dnsmasq.hosts with address 192.168.1.7"}},
		{"hostsdir", []nameClaim{claim("192.168.1.50", "dirname", 5000, 1)},
			[]string{"192.168.1.50 dirname ttl=60 exp=5000"},
			[]string{"not giving name dirname.lan to the DHCP lease of 192.168.1.50 because the name exists in /etc/hosts.d/a with address 192.168.1.2"}},
		{"host-record", []nameClaim{claim("192.168.1.50", "router", 5000, 1)},
			[]string{"192.168.1.50 router.lan ttl=60 exp=5000"},
			[]string{"not giving name router to the DHCP lease of 192.168.1.50 because the name exists in config with address 192.168.1.1"}},
		{"cname", []nameClaim{claim("192.168.1.50", "www", 5000, 1)},
			[]string{"192.168.1.50 www ttl=60 exp=5000"},
			[]string{"www.lan is a CNAME, not giving it to the DHCP lease of 192.168.1.50"}},
		{"newer claim wins", []nameClaim{claim("192.168.1.50", "dup", 5000, 1), claim("192.168.1.51", "DUP", 4000, 2)},
			[]string{"192.168.1.51 dup.lan,dup ttl=60 exp=4000"}, nil},
		{"newer claim wins whatever the order", []nameClaim{claim("192.168.1.51", "dup", 4000, 7), claim("192.168.1.50", "dup", 5000, 3)},
			[]string{"192.168.1.51 dup.lan,dup ttl=60 exp=4000"}, nil},
		{"configured name beats a newer client's", []nameClaim{
			{addr: a("192.168.1.50"), name: "srv", expires: 5000, seq: 1, auth: true},
			claim("192.168.1.51", "srv", 5000, 2)},
			[]string{"192.168.1.50 srv.lan,srv ttl=60 exp=5000"}, nil},
		{"an expired holder does not keep the name", []nameClaim{claim("192.168.1.50", "dup", 5000, 1), claim("192.168.1.51", "dup", 10, 2)},
			[]string{"192.168.1.50 dup.lan,dup ttl=60 exp=5000"}, nil},
		{"sorted by address", []nameClaim{claim("192.168.1.70", "b", 5000, 1), claim("192.168.1.60", "a", 5000, 2)},
			[]string{"192.168.1.60 a.lan,a ttl=60 exp=5000", "192.168.1.70 b.lan,b ttl=60 exp=5000"}, nil},
		{"a 63-byte label", []nameClaim{claim("192.168.1.50", strings.Repeat("x", 63), 5000, 1)},
			[]string{"192.168.1.50 " + strings.Repeat("x", 63) + ".lan," + strings.Repeat("x", 63) + " ttl=60 exp=5000"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, refusals := buildLeaseNames(tc.claims, rules)
			if got := leaseNameStrings(recs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("table:\n got %q\nwant %q", got, tc.want)
			}
			if !reflect.DeepEqual(refusals, tc.refusals) {
				t.Errorf("refusals:\n got %q\nwant %q", refusals, tc.refusals)
			}
			for i, r := range recs {
				if err := ipc.ValidateLeaseName(r); err != nil {
					t.Errorf("entry %d is not valid for ipc: %v", i, err)
				}
			}
		})
	}
}

// TestLeaseNameShadows: the master finds a lease name's competitors in
// the hosts files (with expand-hosts), hostsdir, host-record and cname.
func TestLeaseNameShadows(t *testing.T) {
	dir := t.TempDir()
	hostsFile := filepath.Join(dir, "hosts")
	hostsDir := filepath.Join(dir, "hosts.d")
	if err := os.Mkdir(hostsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, hostsFile, "192.168.1.9 printer\nfd00::5 sixonly\n")
	writeFile(t, filepath.Join(hostsDir, "a"), "192.168.1.2 dirname\n")
	cfg := parseConfig(t, "--no-hosts", "--addn-hosts="+hostsFile, "--hostsdir="+hostsDir, "--expand-hosts",
		"--domain=lan", "--host-record=router,192.168.1.1", "--cname=www.lan,router")
	log, _ := testLogger()
	var d dnsData
	if err := d.load(cfg, listenPlan{}, log); err != nil {
		t.Fatal(err)
	}
	var x shadowIndex
	want := map[string]bool{"printer": true, "printer.lan": true, "sixonly": true, "dirname": true, "dirname.lan": true,
		"router": true, "www.lan": true, "free": true}
	d.mu.Lock()
	x.prepare(&d, want)
	d.mu.Unlock()
	a := netip.MustParseAddr
	for key, w := range map[string]shadow{
		"printer":     {v4: []shadowAddr{{a("192.168.1.9"), hostsFile}}},
		"printer.lan": {v4: []shadowAddr{{a("192.168.1.9"), hostsFile}}},
		"sixonly":     {},
		"dirname":     {v4: []shadowAddr{{a("192.168.1.2"), filepath.Join(hostsDir, "a")}}},
		"dirname.lan": {v4: []shadowAddr{{a("192.168.1.2"), filepath.Join(hostsDir, "a")}}},
		"router":      {v4: []shadowAddr{{a("192.168.1.1"), "config"}}},
		"www.lan":     {cname: true},
		"free":        {},
	} {
		if got := x.lookup(key); !reflect.DeepEqual(got, w) {
			t.Errorf("%s: got %+v, want %+v", key, got, w)
		}
	}
}

// TestLeaseNamesFollowTheStore: commits and the master's own expiry
// reach dnsd's table through the events, a refused name is logged once
// in dnsmasq's words, and a dnsd that already has the table is not sent
// it again.
func TestLeaseNamesFollowTheStore(t *testing.T) {
	dir := t.TempDir()
	hostsFile := filepath.Join(dir, "hosts")
	writeFile(t, hostsFile, "192.168.1.9 printer\n")
	cfg := parseConfig(t, "--no-hosts", "--addn-hosts="+hostsFile, "--domain=lan", "--dhcp-ttl=30", "--local-ttl=5",
		"--dhcp-range=192.168.1.50,192.168.1.99,12h", "--dhcp-leasefile="+filepath.Join(dir, "leases"))
	log, buf := testLogger()
	m := &master{cfg: cfg, log: log}
	if err := m.dns.load(cfg, listenPlan{}, log); err != nil {
		t.Fatal(err)
	}
	var err error
	if m.leases, err = openLeaseService(cfg, nil, log); err != nil {
		t.Fatal(err)
	}
	defer m.leases.close()
	now := time.Now().Unix()
	commit := func(recs ...leases.Record) {
		t.Helper()
		before := m.leases.snapshot(recs)
		if err := m.leases.store.Commit(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		m.leases.events.emit(changes(before, recs))
	}
	lease := func(addr, name string, exp int64) leases.Record {
		return leases.PutRecord(leases.Lease{Addr: netip.MustParseAddr(addr), HWType: 1, HWAddr: []byte{2, 0, 0, 0, 0, byte(len(name))}, Hostname: name, Expires: exp})
	}
	commit(lease("192.168.1.50", "early", now+3600)) // before the table starts: loaded from the store

	mc, wc := testConnPair(t)
	t.Cleanup(func() { mc.Close(); wc.Close() })
	m.dns.leaseNames.start(m.leases, nil, log)
	recv := func() []string {
		t.Helper()
		var asm ipc.TableAssembler
		wc.SetReadDeadline(time.Now().Add(5 * time.Second))
		for range 100 {
			env, _, err := wc.Recv()
			if err != nil {
				t.Fatal(err)
			}
			done, kind, _, err := asm.Add(env)
			if err != nil {
				t.Fatal(err)
			}
			if done {
				if kind != ipcpb.Table_TABLE_LEASE_NAMES {
					t.Fatalf("table %s", kind)
				}
				return leaseNameStrings(ipc.LocalRecordsOf(asm.Items()))
			}
		}
		t.Fatal("no TableEnd")
		return nil
	}
	send := func() {
		t.Helper()
		m.dns.leaseNames.applyPending(m.leases.store)
		if err := m.dns.sendLeaseNames(mc); err != nil {
			t.Fatal(err)
		}
	}
	exp := func(d int64) string { return itoa(uint32(now + d)) }

	send()
	if got, want := recv(), []string{"192.168.1.50 early.lan,early ttl=30 exp=" + exp(3600)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("start: got %q, want %q", got, want)
	}
	commit(lease("192.168.1.51", "printer", now+3600), lease("192.168.1.52", "soon", now-5))
	send()
	want := []string{
		"192.168.1.50 early.lan,early ttl=30 exp=" + exp(3600),
		"192.168.1.51 printer.lan ttl=30 exp=" + exp(3600),
	}
	if got := recv(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after commit: got %q, want %q", got, want)
	}
	send() // nothing changed: nothing sent
	send()
	line := "not giving name printer to the DHCP lease of 192.168.1.51 because the name exists in " + hostsFile + " with address 192.168.1.9"
	if n := strings.Count(buf.String(), line); n != 1 {
		t.Errorf("refusal logged %d times, want once; log:\n%s", n, buf.String())
	}

	// The master's expiry deletes the lease that is over and reports it.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.leases.runExpiry(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := m.leases.store.Lease(netip.MustParseAddr("192.168.1.52")); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired lease was not deleted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	commit(leases.DeleteRecord(netip.MustParseAddr("192.168.1.50"))) // a release
	send()
	if got, want := recv(), want[1:]; !reflect.DeepEqual(got, want) {
		t.Fatalf("after release: got %q, want %q", got, want)
	}
	cancel()
	<-done

	// A reload that puts printer.lan in the hosts file at the lease's
	// address: the hosts entry answers for it, and the table drops it.
	writeFile(t, hostsFile, "192.168.1.9 printer\n192.168.1.51 printer.lan\n")
	if err := m.dns.load(cfg, listenPlan{}, log); err != nil {
		t.Fatal(err)
	}
	send()
	if got := recv(); len(got) != 0 {
		t.Fatalf("after reload: got %q, want an empty table", got)
	}
	commit(lease("192.168.1.51", "printer", now+7200))
	send() // a renewal that changes nothing in the table sends nothing

	// A new dnsd (another connection) gets the table although nothing
	// changed.
	mc2, wc2 := testConnPair(t)
	if err := m.dns.sendLeaseNames(mc2); err != nil {
		t.Fatal(err)
	}
	// Sends are synchronous on a socketpair: anything sent to the first
	// dnsd since the last table would be waiting in its socket now.
	wc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if env, _, err := wc.Recv(); err == nil {
		t.Fatalf("the first dnsd was sent %v although its table did not change", env)
	}
	wc = wc2
	if got := recv(); len(got) != 0 {
		t.Fatalf("new dnsd: got %q", got)
	}
}

// TestDHCPHostAuth: a lease's name counts as configured when a dhcp-host
// with that name matches the lease's client or address.
func TestDHCPHostAuth(t *testing.T) {
	cfg, err := config.ParseText("test", "dhcp-host=02:00:00:00:00:01,srv\ndhcp-host=id:01:02,cid\ndhcp-host=192.168.1.77,fixed\n")
	if err != nil {
		t.Fatal(err)
	}
	auth := dhcpHostAuth(func() []config.DHCPHost { return cfg.DHCP.Hosts })
	mac1, mac2 := []byte{2, 0, 0, 0, 0, 1}, []byte{2, 0, 0, 0, 0, 2}
	a := netip.MustParseAddr("192.168.1.50")
	for _, tc := range []struct {
		name string
		l    leases.Lease
		want bool
	}{
		{"matching MAC", leases.Lease{Addr: a, HWType: 1, HWAddr: mac1, Hostname: "srv"}, true},
		{"other MAC", leases.Lease{Addr: a, HWType: 1, HWAddr: mac2, Hostname: "srv"}, false},
		{"matching client-id", leases.Lease{Addr: a, HWType: 1, HWAddr: mac2, ClientID: []byte{1, 2}, Hostname: "CID"}, true},
		{"matching address", leases.Lease{Addr: netip.MustParseAddr("192.168.1.77"), HWType: 1, HWAddr: mac2, Hostname: "fixed"}, true},
		{"name nobody configured", leases.Lease{Addr: a, HWType: 1, HWAddr: mac1, Hostname: "other"}, false},
	} {
		if got := auth(tc.l); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// BenchmarkBuildLeaseNames is the master's cost of one table of 50,000
// named leases (a send after a burst of commits).
func BenchmarkBuildLeaseNames(b *testing.B) {
	claims := make([]nameClaim, 50_000)
	for i := range claims {
		claims[i] = nameClaim{addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			name: "host-" + itoa(uint32(i)), expires: 1 << 40, seq: uint64(i)}
	}
	rules := nameRules{domainFor: func(netip.Addr) string { return "lan" }, shadowOf: func(string) shadow { return shadow{} }, ttl: 0, now: 1}
	b.ReportAllocs()
	for b.Loop() {
		recs, _ := buildLeaseNames(claims, rules)
		if len(recs) != len(claims) {
			b.Fatal(len(recs))
		}
	}
}

// TestMasterExpiry: the master deletes a lease when it ends and reports
// the deletion to the observers (lease names, dhcp-script), also for a
// lease committed after the expiry loop chose its next wake-up.
func TestMasterExpiry(t *testing.T) {
	s := testLeaseService(t)
	gone := make(chan leaseEvent, 16)
	s.events.observe(func(evs []leaseEvent) {
		for _, e := range evs {
			if e.New == nil {
				gone <- e
			}
		}
	})
	now := time.Now().Unix()
	commit := func(addr string, exp int64) {
		t.Helper()
		recs := []leases.Record{leases.PutRecord(leases.Lease{Addr: netip.MustParseAddr(addr), HWType: 1, HWAddr: []byte{2, 0, 0, 0, 0, 7}, Expires: exp})}
		before := s.snapshot(recs)
		if err := s.store.Commit(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		s.events.emit(changes(before, recs))
	}
	commit("192.168.1.60", now+3600)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.runExpiry(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("the expiry loop to schedule the first lease", func() bool { return s.expiryAt.Load() == now+3601 })
	commit("192.168.1.61", now-1) // ends before the scheduled wake-up
	select {
	case e := <-gone:
		if e.Old == nil || e.Old.Addr != netip.MustParseAddr("192.168.1.61") {
			t.Fatalf("deletion event %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no deletion event for the expired lease")
	}
	if _, ok := s.store.Lease(netip.MustParseAddr("192.168.1.61")); ok {
		t.Error("the expired lease is still in the store")
	}
	if _, ok := s.store.Lease(netip.MustParseAddr("192.168.1.60")); !ok {
		t.Error("the live lease was deleted")
	}
}
