package dhcpd

import (
	"net/netip"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/moatdns/moat/internal/dhcpserver"
	"github.com/moatdns/moat/internal/leases"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// TestLeaseCommitTxn: a grant's transaction travels in its LeaseCommit
// as bytes (a client's strings need not be UTF-8) and passes the
// master's validation; an interface name that is not UTF-8 is left out
// rather than make the commit unmarshalable; no transaction, no field.
func TestLeaseCommitTxn(t *testing.T) {
	addr := netip.MustParseAddr("10.0.0.60")
	lease := leases.Lease{Addr: addr, HWType: 1, HWAddr: []byte{2, 0, 0, 0, 0, 1}, Expires: 1700000000}
	tests := []struct {
		name  string
		txn   *dhcpserver.Transaction
		check func(*testing.T, *ipcpb.LeaseTxn)
	}{
		{"none", nil, func(t *testing.T, x *ipcpb.LeaseTxn) {
			if x != nil {
				t.Errorf("txn %v", x)
			}
		}},
		{"full", &dhcpserver.Transaction{Addr: addr, Interface: "eth0", Tags: []string{"vc", "eth0"},
			SuppliedHostname: []byte("foo"), VendorClass: []byte("\xffvendor"), UserClasses: [][]byte{[]byte("a"), nil},
			RequestedOptions: []byte{1, 3, 6}, RelayAddr: netip.MustParseAddr("10.1.0.1"), CircuitID: []byte("c"),
			RemoteID: []byte("r"), SubscriberID: []byte("s"), MUDURL: []byte("u"), CPEWANOUI: []byte("o"),
			CPEWANSerial: []byte("n"), CPEWANClass: []byte("k")},
			func(t *testing.T, x *ipcpb.LeaseTxn) {
				if x.GetInterface() != "eth0" || string(x.GetVendorClass()) != "\xffvendor" || len(x.GetRelayAddress()) != 4 ||
					len(x.GetTags()) != 2 || string(x.GetTags()[0]) != "vc" || string(x.GetCpewanClass()) != "k" {
					t.Errorf("txn %v", x)
				}
			}},
		{"interface not UTF-8", &dhcpserver.Transaction{Addr: addr, Interface: "e\xff"}, func(t *testing.T, x *ipcpb.LeaseTxn) {
			if x == nil || x.GetInterface() != "" || len(x.GetRelayAddress()) != 0 {
				t.Errorf("txn %v", x)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := leaseCommit(dhcpserver.Action{Kind: dhcpserver.Commit, ID: 1, Held: true,
				Records: []leases.Record{leases.PutRecord(lease)}, Txn: tc.txn})
			b, err := proto.Marshal(env)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			got, err := ipc.Decode(b) // what the master does with it
			if err != nil {
				t.Fatalf("the master would refuse it: %v", err)
			}
			tc.check(t, got.GetLeaseCommit().GetTxn())
		})
	}
}
