package masterd

import (
	"net/netip"
	"testing"

	"github.com/moatdns/moat/internal/leases"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func testTxn() *ipcpb.LeaseTxn {
	return &ipcpb.LeaseTxn{Addr: []byte{192, 168, 1, 60}, Interface: "br0", Tags: [][]byte{[]byte("known"), []byte("br0")},
		SuppliedHostname: []byte("laptop"), VendorClass: []byte("udhcp 1.35.0"), RequestedOptions: []byte{1, 3, 6}}
}

// TestScriptEventsTxn: the calls for the lease a request made carry its
// transaction (no DNSMASQ_DATA_MISSING, the arrival interface); a client
// asking anew for the lease it holds gets "old" even when only the
// expiry changed (dnsmasq's "old" on SELECTING/INIT-REBOOT); a "del"
// never has one; without a transaction nothing changes.
func TestScriptEventsTxn(t *testing.T) {
	renewed := func(l *leases.Lease) { l.Expires += 600 }
	tests := []struct {
		name    string
		ev      leaseEvent
		actions []string
		txn     []bool // per call: carries the transaction
	}{
		{"new lease", leaseEvent{New: testLease(nil), Txn: testTxn()}, []string{"add"}, []bool{true}},
		{"asked anew: old", leaseEvent{Old: testLease(nil), New: testLease(renewed), Txn: testTxn()}, []string{"old"}, []bool{true}},
		{"asked anew, nothing changed: old", leaseEvent{Old: testLease(nil), New: testLease(nil), Txn: testTxn()}, []string{"old"}, []bool{true}},
		{"renewal without a transaction: nothing", leaseEvent{Old: testLease(nil), New: testLease(renewed)}, nil, nil},
		{"new name: both calls carry it", leaseEvent{Old: testLease(func(l *leases.Lease) { l.Hostname = "before" }), New: testLease(nil), Txn: testTxn()},
			[]string{"old", "old"}, []bool{true, true}},
		{"taken over: the del has none", leaseEvent{Old: testLease(func(l *leases.Lease) { l.HWAddr = []byte{9, 9, 9, 9, 9, 9} }), New: testLease(nil), Txn: testTxn()},
			[]string{"del", "add"}, []bool{false, true}},
		{"add without one", leaseEvent{New: testLease(nil)}, []string{"add"}, []bool{false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scriptEventsFor(tc.ev, scriptNow, false, lanDomain)
			if len(got) != len(tc.actions) {
				t.Fatalf("%d calls %v, want %v", len(got), callsOf(got), tc.actions)
			}
			for i, e := range got {
				if e.GetAction() != tc.actions[i] {
					t.Errorf("call %d: %s, want %s", i, e.GetAction(), tc.actions[i])
				}
				has := e.GetTxn() != nil
				if has != tc.txn[i] || e.GetDataMissing() == has {
					t.Errorf("call %d: txn %v data_missing %v, want txn %v", i, has, e.GetDataMissing(), tc.txn[i])
				}
				if has && e.GetInterface() != "br0" {
					t.Errorf("call %d: interface %q, want the arrival interface br0", i, e.GetInterface())
				}
				if err := checkScriptEvent(e); err != nil {
					t.Errorf("call %d does not validate: %v", i, err)
				}
			}
		})
	}
}

// checkScriptEvent runs the helper's own check of what it receives.
func checkScriptEvent(e *ipcpb.ScriptEvent) error {
	return ipc.Validate(&ipcpb.Envelope{Msg: &ipcpb.Envelope_ScriptEvent{ScriptEvent: e}})
}

// TestAttachTxn: a commit's transaction goes to the event of the lease
// it names, and to no other (a deleted lease of the same client).
func TestAttachTxn(t *testing.T) {
	other := testLease(func(l *leases.Lease) { l.Addr = netip.MustParseAddr("192.168.1.61") })
	evs := changes(map[netip.Addr]*leases.Lease{other.Addr: other, netip.MustParseAddr("192.168.1.60"): nil}, []leases.Record{
		leases.DeleteRecord(other.Addr), leases.PutRecord(*testLease(nil)),
	})
	evs = attachTxn(evs, testTxn())
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	if evs[0].Txn != nil || evs[1].Txn == nil || evs[1].New.Addr != netip.MustParseAddr("192.168.1.60") {
		t.Errorf("txn on %v / %v", evs[0].Txn != nil, evs[1].Txn != nil)
	}
	if got := attachTxn(evs[:1], nil); got[0].Txn != nil {
		t.Error("nil txn attached")
	}
}
