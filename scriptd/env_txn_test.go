package scriptd

import (
	"errors"
	"testing"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// TestBuildCommandTxnEnv: a transaction's data becomes dnsmasq 2.90's
// variables, named and formatted as its helper does (checked against
// dnsmasq with udhcpc in test/dhcp_script_e2e_test.go): bytes verbatim
// up to the first '=', empty values unset, user classes numbered in
// order with an empty one skipped but counted, the parameter request
// list in decimal.
func TestBuildCommandTxnEnv(t *testing.T) {
	base := []string{"PATH=/bin", "DNSMASQ_DATA_MISSING=1"}
	common := map[string]string{
		"PATH": "/bin", "DNSMASQ_LEASE_EXPIRES": "1700003600", "DNSMASQ_TIME_REMAINING": "3600",
	}
	tests := []struct {
		name string
		ev   *ipcpb.ScriptEvent
		want map[string]string
	}{
		{"udhcpc's add", leaseEvent(func(e *ipcpb.ScriptEvent) {
			e.Interface = "eth0"
			e.Txn = &ipcpb.LeaseTxn{Addr: e.Addr, Interface: "eth0",
				Tags:             [][]byte{[]byte("hosttag"), []byte("known"), []byte("vc"), []byte("eth0")},
				SuppliedHostname: []byte("foo"), VendorClass: []byte("udhcp 1.35.0"),
				UserClasses: [][]byte{[]byte("abcd")}, RequestedOptions: []byte{1, 3, 6, 12, 15, 28, 42}}
		}), map[string]string{
			"DNSMASQ_INTERFACE": "eth0", "DNSMASQ_TAGS": "hosttag known vc eth0", "DNSMASQ_SUPPLIED_HOSTNAME": "foo",
			"DNSMASQ_VENDOR_CLASS": "udhcp 1.35.0", "DNSMASQ_USER_CLASS0": "abcd", "DNSMASQ_REQUESTED_OPTIONS": "1,3,6,12,15,28,42",
		}},
		{"relayed, every field", leaseEvent(func(e *ipcpb.ScriptEvent) {
			e.Action = "old"
			e.Txn = &ipcpb.LeaseTxn{Addr: e.Addr, RelayAddress: []byte{10, 0, 0, 1},
				CircuitId: []byte("ge-0/0/1:42"), RemoteId: []byte{0xde, 0xad, 0xbe, 0xef}, SubscriberId: []byte("sub=scriber"),
				MudUrl: []byte("https://mud.example/x"), CpewanOui: []byte("00D09E"), CpewanSerial: []byte("SN 1"), CpewanClass: []byte("IGD"),
				UserClasses:      [][]byte{[]byte("a"), nil, []byte("x=y"), []byte("=gone")},
				RequestedOptions: []byte{0, 255, 121}, VendorClass: []byte("\xffnot utf-8"),
				Tags: [][]byte{[]byte("a"), []byte("b=c"), []byte("d")}}
		}), map[string]string{
			"DNSMASQ_RELAY_ADDRESS": "10.0.0.1", "DNSMASQ_CIRCUIT_ID": "ge-0/0/1:42", "DNSMASQ_REMOTE_ID": "\xde\xad\xbe\xef",
			"DNSMASQ_SUBSCRIBER_ID": "sub", "DNSMASQ_MUD_URL": "https://mud.example/x", "DNSMASQ_CPEWAN_OUI": "00D09E",
			"DNSMASQ_CPEWAN_SERIAL": "SN 1", "DNSMASQ_CPEWAN_CLASS": "IGD",
			"DNSMASQ_USER_CLASS0": "a", "DNSMASQ_USER_CLASS2": "x", "DNSMASQ_REQUESTED_OPTIONS": "0,255,121",
			"DNSMASQ_VENDOR_CLASS": "\xffnot utf-8", "DNSMASQ_TAGS": "a b",
		}},
		{"data missing stays only when the master says so", leaseEvent(func(e *ipcpb.ScriptEvent) {
			e.Action, e.DataMissing = "old", true
		}), map[string]string{"DNSMASQ_DATA_MISSING": "1"}},
		{"an all-zero relay address is none", leaseEvent(func(e *ipcpb.ScriptEvent) {
			e.Txn = &ipcpb.LeaseTxn{Addr: e.Addr, RelayAddress: []byte{0, 0, 0, 0}}
		}), map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := BuildCommand(testScript, base, false, tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			got := envMap(t, cmd.Env)
			want := map[string]string{}
			for k, v := range common {
				want[k] = v
			}
			for k, v := range tc.want {
				want[k] = v
			}
			for k, v := range want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %q (set %v), want %q", k, g, ok, v)
				}
			}
			for k, v := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("unexpected %s=%q", k, v)
				}
			}
		})
	}
}

// TestBuildCommandTxnNUL: a NUL byte the master let through is refused,
// not cut (exec could not pass it, and cutting silently would hand the
// script something the client did not send).
func TestBuildCommandTxnNUL(t *testing.T) {
	for _, mod := range []func(*ipcpb.LeaseTxn){
		func(x *ipcpb.LeaseTxn) { x.CircuitId = []byte("a\x00") },
		func(x *ipcpb.LeaseTxn) { x.UserClasses = [][]byte{[]byte("\x00b")} },
		func(x *ipcpb.LeaseTxn) { x.Tags = [][]byte{[]byte("t\x00")} },
	} {
		ev := leaseEvent(func(e *ipcpb.ScriptEvent) { e.Txn = &ipcpb.LeaseTxn{Addr: e.Addr} })
		mod(ev.Txn)
		if _, err := BuildCommand(testScript, nil, false, ev); !errors.Is(err, errNUL) {
			t.Errorf("%v: error %v, want a NUL error", ev.Txn, err)
		}
	}
}
