package ipc

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// sampleLeaseTxn is a transaction with every field set, at addr. The
// client's strings are not UTF-8 on purpose: they travel as bytes.
func sampleLeaseTxn(addr []byte) *ipcpb.LeaseTxn {
	return &ipcpb.LeaseTxn{
		Addr: addr, Interface: "eth0", Tags: [][]byte{[]byte("known"), []byte("eth0")},
		SuppliedHostname: []byte("laptop; rm -rf /"), VendorClass: []byte("MSFT 5.0\xff"),
		UserClasses: [][]byte{[]byte("iPXE"), nil, []byte("x=y")}, RequestedOptions: []byte{1, 3, 6, 15, 119, 252},
		RelayAddress: []byte{192, 168, 2, 1}, CircuitId: []byte("eth1:42"), SubscriberId: []byte("sub"), RemoteId: []byte{0xde, 0xad},
		MudUrl: []byte("https://example.com/mud"), CpewanOui: []byte("001122"), CpewanSerial: []byte("SN1"), CpewanClass: []byte("router"),
	}
}

func commitWithTxn(mod func(*ipcpb.LeaseTxn)) *ipcpb.Envelope {
	txn := sampleLeaseTxn([]byte{10, 0, 0, 5})
	if mod != nil {
		mod(txn)
	}
	return &ipcpb.Envelope{Msg: &ipcpb.Envelope_LeaseCommit{LeaseCommit: &ipcpb.LeaseCommit{Id: 1,
		Records: []*ipcpb.LeaseRecord{{Addr: []byte{10, 0, 0, 5}, HwType: 1, HwAddr: []byte{2, 0, 0, 0, 0, 1}}}, Txn: txn}}}
}

// TestLeaseTxnValidation: dhcpd is untrusted, so every field of a
// commit's transaction is bounded and NUL-free, and the transaction must
// name a lease the commit writes; the same holds for a ScriptEvent's.
func TestLeaseTxnValidation(t *testing.T) {
	long := bytes.Repeat([]byte("a"), 256)
	tests := []struct {
		name string
		m    *ipcpb.Envelope
		want string // "" valid
	}{
		{"full", commitWithTxn(nil), ""},
		{"minimal", commitWithTxn(func(x *ipcpb.LeaseTxn) { *x = ipcpb.LeaseTxn{Addr: []byte{10, 0, 0, 5}} }), ""},
		{"255-byte vendor class", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.VendorClass = long[:255] }), ""},
		{"no addr", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.Addr = nil }), "txn: addr: 0 bytes"},
		{"other addr", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.Addr = []byte{10, 0, 0, 6} }), "written by no record"},
		{"IPv6 relay", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.RelayAddress = make([]byte, 16) }), "relay_address: 16 bytes"},
		{"long interface", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.Interface = strings.Repeat("e", 16) }), "interface: 16 bytes"},
		{"NUL in interface", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.Interface = "eth\x000" }), "interface: NUL"},
		{"oversize vendor class", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.VendorClass = long }), "vendor_class: 256 bytes"},
		{"oversize hostname", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.SuppliedHostname = long }), "supplied_hostname: 256 bytes"},
		{"oversize circuit id", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.CircuitId = long }), "circuit_id: 256 bytes"},
		{"oversize remote id", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.RemoteId = long }), "remote_id: 256 bytes"},
		{"oversize subscriber id", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.SubscriberId = long }), "subscriber_id: 256 bytes"},
		{"oversize MUD URL", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.MudUrl = long }), "mud_url: 256 bytes"},
		{"oversize CPEWAN serial", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.CpewanSerial = long }), "cpewan_serial: 256 bytes"},
		{"oversize requested options", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.RequestedOptions = long }), "requested_options: 256 bytes"},
		{"NUL in hostname", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.SuppliedHostname = []byte("a\x00b") }), "supplied_hostname: NUL"},
		{"NUL in user class", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.UserClasses = [][]byte{[]byte("a\x00")} }), "user_classes[0]: NUL"},
		{"too many tags", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.Tags = make([][]byte, 257) }), "tags: 257"},
		{"empty tag", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.Tags = [][]byte{nil} }), "tags[0]: empty"},
		{"long tag", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.Tags = [][]byte{long} }), "tags[0]: 256 bytes"},
		{"too many user classes", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.UserClasses = make([][]byte, 129) }), "user_classes: 129"},
		{"user classes over one option", commitWithTxn(func(x *ipcpb.LeaseTxn) { x.UserClasses = [][]byte{long[:200], long[:56]} }), "256 bytes together"},
		{"txn on a del event", &ipcpb.Envelope{Msg: &ipcpb.Envelope_ScriptEvent{ScriptEvent: &ipcpb.ScriptEvent{
			Action: "del", Addr: []byte{10, 0, 0, 5}, Txn: sampleLeaseTxn([]byte{10, 0, 0, 5})}}}, `txn on a "del" event`},
		{"event txn for another lease", &ipcpb.Envelope{Msg: &ipcpb.Envelope_ScriptEvent{ScriptEvent: &ipcpb.ScriptEvent{
			Action: "add", Addr: []byte{10, 0, 0, 5}, Txn: sampleLeaseTxn([]byte{10, 0, 0, 6})}}}, "txn: addr"},
		{"oversize in an event", &ipcpb.Envelope{Msg: &ipcpb.Envelope_ScriptEvent{ScriptEvent: &ipcpb.ScriptEvent{
			Action: "old", Addr: []byte{10, 0, 0, 5}, Txn: &ipcpb.LeaseTxn{Addr: []byte{10, 0, 0, 5}, VendorClass: long}}}}, "vendor_class: 256 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := proto.Marshal(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Decode(b)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q, want %q", err, tc.want)
			}
		})
	}
}
