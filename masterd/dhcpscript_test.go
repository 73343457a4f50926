package masterd

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/leases"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

var scriptNow = time.Unix(1700000000, 0)

func testLease(mod func(*leases.Lease)) *leases.Lease {
	l := &leases.Lease{
		Addr: netip.MustParseAddr("192.168.1.60"), HWType: 1, HWAddr: []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55},
		Hostname: "laptop", Expires: scriptNow.Unix() + 3600,
	}
	if mod != nil {
		mod(l)
	}
	return l
}

func lanDomain(netip.Addr) string { return "lan" }

// scriptCall is the part of a ScriptEvent a table can spell out.
type scriptCall struct {
	action, hostname, oldHostname, mac string
}

func callsOf(evs []*ipcpb.ScriptEvent) []scriptCall {
	out := make([]scriptCall, len(evs))
	for i, e := range evs {
		out[i] = scriptCall{e.GetAction(), e.GetHostname(), e.GetOldHostname(), string(e.GetHwAddr())}
	}
	return out
}

func TestScriptEventsFor(t *testing.T) {
	mac := string([]byte{0, 0x11, 0x22, 0x33, 0x44, 0x55})
	otherMAC := []byte{0, 0x11, 0x22, 0x33, 0x44, 0x66}
	clid := []byte{1, 2, 3, 4}
	tests := []struct {
		name   string
		ev     leaseEvent
		ro     bool
		expect []scriptCall
	}{
		{"new lease", leaseEvent{New: testLease(nil)}, false, []scriptCall{{"add", "laptop", "", mac}}},
		{"released", leaseEvent{Old: testLease(nil)}, false, []scriptCall{{"del", "laptop", "", mac}}},
		{"renewed: nothing", leaseEvent{Old: testLease(nil), New: testLease(func(l *leases.Lease) { l.Expires += 600 })}, false, nil},
		{"renewed with leasefile-ro: old", leaseEvent{Old: testLease(nil), New: testLease(func(l *leases.Lease) { l.Expires += 600 })}, true,
			[]scriptCall{{"old", "laptop", "", mac}}},
		{"client-id learnt: nothing", leaseEvent{Old: testLease(nil), New: testLease(func(l *leases.Lease) { l.ClientID = clid })}, false, nil},
		{"name given", leaseEvent{Old: testLease(func(l *leases.Lease) { l.Hostname = "" }), New: testLease(nil)}, false,
			[]scriptCall{{"old", "laptop", "", mac}}},
		{"name changed: the lost name first", leaseEvent{Old: testLease(func(l *leases.Lease) { l.Hostname = "before" }), New: testLease(nil)}, false,
			[]scriptCall{{"old", "", "before", mac}, {"old", "laptop", "", mac}}},
		{"name removed", leaseEvent{Old: testLease(nil), New: testLease(func(l *leases.Lease) { l.Hostname = "" })}, false,
			[]scriptCall{{"old", "", "laptop", mac}, {"old", "", "", mac}}},
		{"name case only: nothing", leaseEvent{Old: testLease(nil), New: testLease(func(l *leases.Lease) { l.Hostname = "Laptop" })}, false, nil},
		{"same client-id, new MAC: old", leaseEvent{
			Old: testLease(func(l *leases.Lease) { l.ClientID = clid }),
			New: testLease(func(l *leases.Lease) { l.ClientID, l.HWAddr = clid, otherMAC })}, false,
			[]scriptCall{{"old", "laptop", "", string(otherMAC)}}},
		{"address taken by another client: del then add", leaseEvent{
			Old: testLease(nil), New: testLease(func(l *leases.Lease) { l.HWAddr, l.Hostname = otherMAC, "phone" })}, false,
			[]scriptCall{{"del", "laptop", "", mac}, {"add", "phone", "", string(otherMAC)}}},
		{"other client-id on the same MAC: del then add", leaseEvent{
			Old: testLease(func(l *leases.Lease) { l.ClientID = clid }),
			New: testLease(func(l *leases.Lease) { l.ClientID = []byte{9} })}, false,
			[]scriptCall{{"del", "laptop", "", mac}, {"add", "laptop", "", mac}}},
		{"nothing at all", leaseEvent{}, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scriptEventsFor(tc.ev, scriptNow, tc.ro, lanDomain)
			if !slices.Equal(callsOf(got), tc.expect) {
				t.Errorf("got %+v\nwant %+v", callsOf(got), tc.expect)
			}
			for _, e := range got {
				if !e.GetDataMissing() || e.GetAddr() == nil {
					t.Errorf("event %v: data_missing unset or no address", e)
				}
				if (e.GetHostname() != "" || e.GetOldHostname() != "") != (e.GetDomain() == "lan") {
					t.Errorf("event %v: domain %q", e, e.GetDomain())
				}
			}
		})
	}
}

func TestLeaseScriptEventTimes(t *testing.T) {
	tests := []struct {
		name      string
		expires   int64
		remaining uint32
	}{
		{"an hour left", scriptNow.Unix() + 3600, 3600},
		{"infinite", 0, 0},
		{"already over", scriptNow.Unix() - 5, 0},
	}
	for _, tc := range tests {
		ev := leaseScriptEvent("add", *testLease(func(l *leases.Lease) { l.Expires = tc.expires }), scriptNow, nil)
		if ev.GetExpires() != tc.expires || ev.GetTimeRemaining() != tc.remaining || ev.GetDomain() != "" {
			t.Errorf("%s: expires %d remaining %d domain %q", tc.name, ev.GetExpires(), ev.GetTimeRemaining(), ev.GetDomain())
		}
	}
}

func TestStartupScriptEvents(t *testing.T) {
	live := []leases.Lease{
		*testLease(nil),
		*testLease(func(l *leases.Lease) { l.Addr, l.Expires = netip.MustParseAddr("192.168.1.61"), scriptNow.Unix()-1 }),
		*testLease(func(l *leases.Lease) { l.Addr, l.Expires, l.Hostname = netip.MustParseAddr("192.168.1.62"), 0, "" }),
	}
	tests := []struct {
		ro   bool
		want []string
	}{
		{false, []string{"old 192.168.1.60", "old 192.168.1.62"}},
		{true, []string{"init ", "old 192.168.1.60", "old 192.168.1.62"}},
	}
	for _, tc := range tests {
		var got []string
		for _, e := range startupScriptEvents(live, scriptNow, tc.ro, lanDomain) {
			a, _ := netip.AddrFromSlice(e.GetAddr())
			s := e.GetAction() + " "
			if a.IsValid() {
				s += a.String()
			}
			got = append(got, s)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("leasefile-ro=%v: %q, want %q", tc.ro, got, tc.want)
		}
	}
}

// TestScriptQueue: the queue never blocks, drops beyond its bound and
// counts; events leave in order with increasing seq; an event a dead
// helper left unanswered is offered once more, then given up.
func TestScriptQueue(t *testing.T) {
	log, err := newLogger("-", true)
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptService{m: &master{log: log}, wake: make(chan struct{}, 1)}
	evs := make([]*ipcpb.ScriptEvent, maxScriptQueue+10)
	for i := range evs {
		evs[i] = &ipcpb.ScriptEvent{Action: "add", Expires: int64(i)}
	}
	done := make(chan struct{})
	go func() { s.enqueue(evs); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("enqueue blocked")
	}
	if len(s.queue) != maxScriptQueue || s.dropped != 10 {
		t.Fatalf("queue %d dropped %d", len(s.queue), s.dropped)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first := next(t, s, ctx)
	if first.GetSeq() != 1 || first.GetExpires() != 0 || s.dropped != 0 {
		t.Fatalf("first %v, dropped %d after logging", first, s.dropped)
	}
	s.helperDied()
	if again := next(t, s, ctx); again != first {
		t.Fatalf("after one death: %v, want the same event", again)
	}
	s.helperDied()
	second := next(t, s, ctx)
	if second.GetSeq() != 2 || second.GetExpires() != 1 {
		t.Fatalf("after two deaths: %v, want the next event", second)
	}
	s.answered()
	if third := next(t, s, ctx); third.GetSeq() != 3 || third.GetExpires() != 2 {
		t.Fatalf("third %v", third)
	}
	s.answered()
	s.queue = nil
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if ev := next(t, s, short); ev != nil {
		t.Fatalf("empty queue gave %v", ev)
	}
}

func TestScriptHelperEnv(t *testing.T) {
	got := scriptHelperEnv([]string{"PATH=/bin", readyFDEnv + "=5", "DNSMASQ_TAGS=x", "LANG=C.UTF-8"})
	if want := []string{"PATH=/bin", "LANG=C.UTF-8"}; !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
	for _, kv := range got {
		if strings.HasPrefix(kv, "MOATD_") {
			t.Errorf("internal variable %q passed on", kv)
		}
	}
}

func TestInterfaceFor(t *testing.T) {
	nets := []ifaceNet{
		{"eth0", netip.MustParsePrefix("192.168.0.0/16")},
		{"eth1", netip.MustParsePrefix("192.168.1.0/24")},
		{"eth2", netip.MustParsePrefix("10.0.0.0/8")},
	}
	tests := []struct{ addr, want string }{
		{"192.168.1.60", "eth1"}, // the longest subnet wins
		{"192.168.7.1", "eth0"},
		{"10.1.2.3", "eth2"},
		{"172.16.0.1", ""}, // relayed: no local subnet
	}
	for _, tc := range tests {
		if got := interfaceFor(nets, netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("interfaceFor(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func next(t *testing.T, s *scriptService, ctx context.Context) *ipcpb.ScriptEvent {
	t.Helper()
	ev, why := s.next(ctx, nil)
	if ev == nil && why != "master stopping" {
		t.Fatalf("next: nil, %q", why)
	}
	return ev
}
