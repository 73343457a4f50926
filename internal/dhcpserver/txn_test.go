package dhcpserver

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// heldTxn returns the Transaction of the held commit among acts, and
// whether there was a held commit at all.
func heldTxn(t *testing.T, acts []Action) (*Transaction, bool) {
	t.Helper()
	for _, a := range acts {
		if a.Kind == Commit && a.Held {
			if a.Txn != nil {
				found := false
				for _, r := range a.Records {
					if !r.Delete && r.Lease.Addr == a.Txn.Addr {
						found = true
					}
				}
				if !found {
					t.Fatalf("txn for %s, which no record writes", a.Txn.Addr)
				}
			}
			return a.Txn, true
		}
	}
	return nil, false
}

var txnArgs = []string{
	"--no-ping",
	"--dhcp-range=set:lan,10.0.0.50,10.0.0.99,12h",
	"--dhcp-range=10.1.0.50,10.1.0.99,12h",
	"--dhcp-vendorclass=set:vc,myvendor",
	"--dhcp-host=02:00:00:00:00:01,set:hosttag",
	"--tag-if=set:ti,tag:vc",
	"--tag-if=set:never,tag:nosuch",
}

// cpewan is option 125 with a Broadband Forum entry: OUI, serial, class.
var cpewan = o(optVIVendorOpts, 0, 0, 0x0d, 0xe9, 19, 1, 6, '0', '0', 'D', '0', '9', 'E', 2, 3, 'S', 'N', '1', 3, 4, 'I', 'G', 'D', '!')

// TestTransactionData: the held commit of an ACK carries what the
// request sent, as dnsmasq keeps it for its dhcp-script: strings cut at
// the first NUL, option 77's counted strings split, option 55 byte for
// byte, relay data, and the tags in dnsmasq's order (the first setting
// of each, newest first: tag-if, the range's set:, dhcp-host's set:,
// known, class matches, cpewan-id, the interface).
func TestTransactionData(t *testing.T) {
	e := newEngine(t, txnArgs...)
	m := msg{xid: 1}.with(ostr(optHostname, "foo"), ostr(optVendorClass, "myvendor"),
		o(optUserClass, 4, 'a', 'b', 'c', 'd', 3, 'e', '=', 'g'), prl(1, 3, 0, 6, 255, 12),
		ostr(optMUDURL, "https://mud.example/x"), cpewan, clientID(1, 2, 0, 0, 0, 0, 1))
	_, offer := send(t, e, m.withType(dhcpv4.MessageTypeDiscover), t0).one(t)
	a := yiaddr(offer)
	r := send(t, e, m.withType(dhcpv4.MessageTypeRequest).with(requested(a.String()), serverID("10.0.0.1")), t0)
	txn, held := heldTxn(t, r.acts)
	if !held || txn == nil {
		t.Fatalf("ACK's commit has no transaction (held %v): %v", held, actionKinds(r.acts))
	}
	want := &Transaction{Addr: a, Interface: "eth0", Tags: []string{"ti", "lan", "hosttag", "known", "vc", "cpewan-id", "eth0"},
		SuppliedHostname: []byte("foo"), VendorClass: []byte("myvendor"),
		UserClasses: [][]byte{[]byte("abcd"), []byte("e=g")}, RequestedOptions: []byte{1, 3, 0, 6, 255, 12},
		MUDURL: []byte("https://mud.example/x"), CPEWANOUI: []byte("00D09E"), CPEWANSerial: []byte("SN1"), CPEWANClass: []byte("IGD!")}
	checkTxn(t, txn, want)
}

func checkTxn(t *testing.T, got, want *Transaction) {
	t.Helper()
	eq := func(name string, g, w []byte) {
		if !bytes.Equal(g, w) {
			t.Errorf("%s = %q, want %q", name, g, w)
		}
	}
	if got.Addr != want.Addr || got.Interface != want.Interface || got.RelayAddr != want.RelayAddr {
		t.Errorf("addr %s interface %q relay %s, want %s %q %s", got.Addr, got.Interface, got.RelayAddr, want.Addr, want.Interface, want.RelayAddr)
	}
	if !slices.Equal(got.Tags, want.Tags) {
		t.Errorf("tags %q, want %q", got.Tags, want.Tags)
	}
	if !slices.EqualFunc(got.UserClasses, want.UserClasses, bytes.Equal) {
		t.Errorf("user classes %q, want %q", got.UserClasses, want.UserClasses)
	}
	eq("supplied hostname", got.SuppliedHostname, want.SuppliedHostname)
	eq("vendor class", got.VendorClass, want.VendorClass)
	eq("requested options", got.RequestedOptions, want.RequestedOptions)
	eq("circuit id", got.CircuitID, want.CircuitID)
	eq("remote id", got.RemoteID, want.RemoteID)
	eq("subscriber id", got.SubscriberID, want.SubscriberID)
	eq("MUD URL", got.MUDURL, want.MUDURL)
	eq("CPEWAN OUI", got.CPEWANOUI, want.CPEWANOUI)
	eq("CPEWAN serial", got.CPEWANSerial, want.CPEWANSerial)
	eq("CPEWAN class", got.CPEWANClass, want.CPEWANClass)
}

// TestTransactionWhen: dnsmasq keeps a transaction (and calls the script
// with it) for a new lease and for a REQUEST that names its address
// (SELECTING, INIT-REBOOT), not for a renewal by ciaddr of the lease the
// client holds, nor for BOOTP.
func TestTransactionWhen(t *testing.T) {
	e := newEngine(t, append(txnArgs, "--dhcp-host=02:00:00:00:00:09,10.0.0.9")...)
	m := msg{xid: 2}.with(ostr(optHostname, "foo"))
	a := dora(t, e, m, t0)
	later := t0.Add(time.Hour)
	steps := []struct {
		name    string
		m       msg
		wantTxn bool
	}{
		{"renewal by ciaddr", m.withType(dhcpv4.MessageTypeRequest).with(), true},
		{"SELECTING again", m.withType(dhcpv4.MessageTypeRequest).with(requested(a.String()), serverID("10.0.0.1")), true},
		{"INIT-REBOOT", m.withType(dhcpv4.MessageTypeRequest).with(requested(a.String())), true},
	}
	steps[0].m.ciaddr, steps[0].m.src, steps[0].m.dst, steps[0].wantTxn = a.String(), a.String()+":68", "10.0.0.1", false
	for _, s := range steps {
		r := send(t, e, s.m, later)
		if _, ack := r.one(t); mtype(ack) != dhcpv4.MessageTypeAck {
			t.Fatalf("%s: %s (%s)", s.name, mtype(ack), ack.Message())
		}
		txn, held := heldTxn(t, r.acts)
		if !held {
			t.Fatalf("%s: no held commit", s.name)
		}
		if (txn != nil) != s.wantTxn {
			t.Errorf("%s: transaction %v, want one: %v", s.name, txn != nil, s.wantTxn)
		}
		if txn != nil && (txn.Addr != a || string(txn.SuppliedHostname) != "foo") {
			t.Errorf("%s: transaction for %s name %q", s.name, txn.Addr, txn.SuppliedHostname)
		}
	}
	// BOOTP: a dhcp-host address, no transaction.
	r := send(t, e, msg{mac: "02:00:00:00:00:09"}, later)
	if txn, held := heldTxn(t, r.acts); !held || txn != nil {
		t.Errorf("BOOTP: held %v, transaction %v", held, txn)
	}
}

// TestTransactionRelayed: a relayed request's giaddr and option 82
// circuit, remote and subscriber ids; values cut at the first NUL; a
// user class that is not counted strings goes as sent, split at NULs.
func TestTransactionRelayed(t *testing.T) {
	e := newEngine(t, txnArgs...)
	agent := o(optAgentID, 1, 4, 'g', 'e', '/', '1', 2, 3, 0xde, 0xad, 0x00, 6, 3, 's', 'u', 'b')
	m := msg{xid: 3, giaddr: "10.1.0.1", src: "10.1.0.1:67", dst: "10.0.0.1", mac: "02:00:00:00:00:05"}.
		with(agent, o(optHostname, 'a', 'b', 0, 'c'), ostr(optUserClass, "MSFT\x00x"))
	_, offer := send(t, e, m.withType(dhcpv4.MessageTypeDiscover), t0).one(t)
	a := yiaddr(offer)
	r := send(t, e, m.withType(dhcpv4.MessageTypeRequest).with(requested(a.String()), serverID(addr4(offer.ServerIdentifier()).String())), t0)
	txn, _ := heldTxn(t, r.acts)
	if txn == nil {
		t.Fatalf("no transaction: %v", actionKinds(r.acts))
	}
	checkTxn(t, txn, &Transaction{Addr: a, Interface: "eth0", RelayAddr: ip("10.1.0.1"), Tags: []string{"eth0"},
		CircuitID: []byte("ge/1"), RemoteID: []byte{0xde, 0xad}, SubscriberID: []byte("sub"),
		SuppliedHostname: []byte("ab"), UserClasses: [][]byte{[]byte("MSFT"), []byte("x")}})
}

// TestUserClasses: option 77 as dnsmasq splits it for the script.
func TestUserClasses(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []string
	}{
		{"one counted string", []byte("\x04abcd"), []string{"abcd"}},
		{"two", []byte("\x01a\x02bc"), []string{"a", "bc"}},
		{"an empty one keeps its number", []byte("\x01a\x00\x01b"), []string{"a", "", "b"}},
		{"not counted: as sent", []byte("MSFT 5.0"), []string{"MSFT 5.0"}},
		{"counts that do not add up", []byte("\x05ab"), []string{"\x05ab"}},
		{"a single empty string", []byte{0}, []string{""}},
	}
	for _, tc := range tests {
		got := userClasses(tc.in)
		var s []string
		for _, c := range got {
			s = append(s, string(c))
		}
		if !slices.Equal(s, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, s, tc.want)
		}
	}
	// Never more than the master accepts.
	if n := len(userClasses(make([]byte, 300))); n > maxTxnClasses {
		t.Errorf("%d classes from 300 NULs", n)
	}
}

// FuzzTransaction: whatever a client puts in the options the script
// sees, the transaction stays within what the master accepts
// (ipc/validate_txn.go): no NUL, at most one option's bytes per string,
// bounded class and tag counts. Each option is sent twice, which the
// decoder joins (RFC 3396) into more than one option holds.
func FuzzTransaction(f *testing.F) {
	f.Add([]byte("foo"), []byte("udhcp 1.35.0"), []byte("\x04abcd"), []byte{1, 3, 6}, []byte{1, 2, 'a', 'b'}, cpewan.data, []byte("https://x"))
	f.Add([]byte{0}, []byte("a=b"), []byte{0, 0, 0}, []byte{}, []byte{6, 255}, []byte{0, 0, 0x0d, 0xe9, 0}, []byte{})
	f.Add(bytes.Repeat([]byte{'x'}, 255), bytes.Repeat([]byte{0xff}, 255), bytes.Repeat([]byte{0}, 255), bytes.Repeat([]byte{1}, 255), bytes.Repeat([]byte{1, 0}, 100), []byte{1}, []byte{'='})
	f.Fuzz(func(t *testing.T, host, vendor, uc, prlData, agent, vi, mud []byte) {
		cut := func(b []byte) []byte { return b[:min(len(b), 255)] }
		m := msg{xid: 7}
		for _, x := range []opt{{optHostname, host}, {optVendorClass, vendor}, {optUserClass, uc}, {optPRL, prlData},
			{optAgentID, agent}, {optVIVendorOpts, vi}, {optMUDURL, mud}} {
			if len(x.data) > 0 {
				m = m.with(opt{x.code, cut(x.data)}, opt{x.code, cut(x.data)})
			}
		}
		m = m.with(requested("10.0.0.60"), serverID("10.0.0.1"))
		e := newEngine(t, txnArgs...)
		in := m.withType(dhcpv4.MessageTypeRequest).inbound(t)
		_, acts := e.Handle(in, t0)
		for _, a := range acts {
			txn := a.Txn
			if txn == nil {
				continue
			}
			if len(txn.RequestedOptions) > maxTxnText {
				t.Fatalf("%d requested options", len(txn.RequestedOptions))
			}
			texts := [][]byte{txn.SuppliedHostname, txn.VendorClass, txn.CircuitID, txn.RemoteID,
				txn.SubscriberID, txn.MUDURL, txn.CPEWANOUI, txn.CPEWANSerial, txn.CPEWANClass}
			total := 0
			for _, c := range txn.UserClasses {
				texts = append(texts, c)
				total += len(c)
			}
			for _, s := range texts {
				if len(s) > maxTxnText || bytes.IndexByte(s, 0) >= 0 {
					t.Fatalf("text %q", s)
				}
			}
			if total > maxTxnText || len(txn.UserClasses) > maxTxnClasses || len(txn.Tags) > maxTxnTags {
				t.Fatalf("user classes %d (%d bytes), tags %d", len(txn.UserClasses), total, len(txn.Tags))
			}
		}
	})
}
