package leases

import (
	"net/netip"
	"testing"
	"time"
)

var (
	macA = []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55}
	macB = []byte{0, 0x11, 0x22, 0x33, 0x44, 0x66}
	ip   = netip.MustParseAddr
)

func TestTableLookups(t *testing.T) {
	tb := NewTable()
	tb.Put(Lease{Addr: ip("10.0.0.1"), HWType: 1, HWAddr: macA, Expires: 100})
	tb.Put(Lease{Addr: ip("10.0.0.2"), HWType: 1, HWAddr: macB, ClientID: []byte("os-b"), Expires: 200})
	tb.Put(Lease{Addr: ip("10.0.0.3"), HWType: 1, HWAddr: macB, ClientID: []byte("other-os"), Expires: 0})
	for _, tc := range []struct {
		name string
		c    Client
		want string // "" none
	}{
		// A PXE boot without a client-id, then the OS with one: the OS
		// finds the PXE lease by MAC, since that lease has no client-id.
		{"boot loader", Client{HWType: 1, HWAddr: macA}, "10.0.0.1"},
		{"os after boot loader", Client{HWType: 1, HWAddr: macA, ClientID: []byte("os-a")}, "10.0.0.1"},
		// Client-ids win over MACs.
		{"client-id", Client{HWType: 1, HWAddr: macB, ClientID: []byte("os-b")}, "10.0.0.2"},
		{"other client-id", Client{HWType: 1, HWAddr: macB, ClientID: []byte("other-os")}, "10.0.0.3"},
		// A new client-id on a MAC whose leases have client-ids: none.
		{"new client-id", Client{HWType: 1, HWAddr: macB, ClientID: []byte("third")}, ""},
		// No client-id: any lease of the MAC (the newest).
		{"mac only", Client{HWType: 1, HWAddr: macB}, "10.0.0.3"},
		{"wrong hw type", Client{HWType: 6, HWAddr: macA}, ""},
		{"client-id only", Client{ClientID: []byte("os-b")}, "10.0.0.2"},
		{"nothing", Client{}, ""},
	} {
		l, ok := tb.ByClient(tc.c)
		if got := map[bool]string{true: l.Addr.String(), false: ""}[ok]; got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if tb.Len() != 3 || tb.NextExpiry() != 100 {
		t.Errorf("Len %d NextExpiry %d", tb.Len(), tb.NextExpiry())
	}
	if exp := tb.Expired(time.Unix(150, 0)); len(exp) != 1 || exp[0].Addr != ip("10.0.0.1") {
		t.Errorf("Expired(150) = %+v", exp)
	}
	if exp := tb.Expired(time.Unix(100, 0)); len(exp) != 0 {
		t.Errorf("a lease is live through its last second: %+v", exp)
	}
	// Put replaces the lease at an address and its index entries.
	tb.Put(Lease{Addr: ip("10.0.0.2"), HWType: 1, HWAddr: macA, Expires: 300})
	if _, ok := tb.ByClient(Client{HWType: 1, HWAddr: macB, ClientID: []byte("os-b")}); ok {
		t.Error("replaced lease still found by its client-id")
	}
	if l, _ := tb.ByClient(Client{HWType: 1, HWAddr: macA}); l.Addr != ip("10.0.0.2") {
		t.Errorf("newest lease of the MAC: %v", l.Addr)
	}
	if !tb.Delete(ip("10.0.0.2")) || tb.Delete(ip("10.0.0.2")) {
		t.Error("Delete")
	}
	if l, _ := tb.ByClient(Client{HWType: 1, HWAddr: macA}); l.Addr != ip("10.0.0.1") {
		t.Errorf("after delete: %v", l.Addr)
	}
	// The table keeps its own copies.
	l, _ := tb.ByAddr(ip("10.0.0.1"))
	l.HWAddr[0] = 0xff
	if again, _ := tb.ByAddr(ip("10.0.0.1")); again.HWAddr[0] != 0 {
		t.Error("ByAddr shares memory with the table")
	}
	all := tb.All()
	if len(all) != 2 || all[0].Addr != ip("10.0.0.1") || all[1].Addr != ip("10.0.0.3") {
		t.Errorf("All: %+v", all)
	}
}

func TestHashAndKey(t *testing.T) {
	if Hash(nil) != 1 || Hash([]byte{0, 0, 0}) != 1 {
		t.Error("a zero hash must become 1")
	}
	// dnsmasq's SDBM: j = c + (j << 6) + (j << 16) - j.
	if got := Hash([]byte{1, 2}); got != 2+(1<<6)+(1<<16)-1 {
		t.Errorf("Hash(1,2) = %d", got)
	}
	ib := Client{HWType: 32, ClientID: []byte{32, 1, 2, 3, 4}}
	if k := ib.HashKey(); string(k) != "\x01\x02\x03\x04" {
		t.Errorf("infiniband key %x", k)
	}
	other := Client{HWType: 32, ClientID: []byte{1, 1, 2, 3}}
	if k := other.HashKey(); len(k) != 4 {
		t.Errorf("client-id key %x", k)
	}
	if k := (Client{HWType: 1, HWAddr: macA, ClientID: []byte("abcd")}).HashKey(); string(k) != string(macA) {
		t.Errorf("MAC key %x", k)
	}
	if k := (Client{ClientID: []byte{1, 2, 3}}).HashKey(); len(k) != 0 {
		t.Errorf("short client-id gives key %x", k)
	}
	now := time.Unix(1000, 0)
	if ExpiresAt(now, 0xffffffff) != 0 || ExpiresAt(now, 60) != 1060 {
		t.Error("ExpiresAt")
	}
}
