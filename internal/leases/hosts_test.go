package leases

import (
	"net/netip"
	"testing"
)

func TestFindHost(t *testing.T) {
	wild := HWAddr{Addr: []byte{0, 0x11, 0x22, 0, 0, 0}, Wild: []bool{false, false, false, true, true, true}}
	wilder := HWAddr{Addr: []byte{0, 0x11, 0, 0, 0, 0}, Wild: []bool{false, false, true, true, true, true}}
	hosts := []Host{
		{Name: "byid", ClientID: []byte("client-1"), Addr: ip("10.0.0.1")},
		{Name: "bymac", HWAddrs: []HWAddr{{Addr: macA}}, Addr: ip("10.0.0.2")},
		{Name: "laptop", HWAddrs: []HWAddr{{Addr: macB}, {Addr: []byte{0xaa, 0, 0, 0, 0, 1}}}, Addr: ip("10.0.0.3")},
		{Name: "wild", HWAddrs: []HWAddr{wild}},
		{Name: "wilder", HWAddrs: []HWAddr{wilder}},
		{Name: "tagged", HWAddrs: []HWAddr{{Addr: macA}}, Tags: []string{"lab"}},
		{Name: "named", Addr: ip("10.0.0.9")},
		{Name: "token-ring", HWAddrs: []HWAddr{{Type: 6, Addr: []byte{1, 2, 3, 4, 5, 6}}}},
		{Name: "byid-later", ClientID: []byte("client-2")},
		{Name: "byid-again", ClientID: []byte("client-2")},
	}
	for _, tc := range []struct {
		name string
		c    Client
		tags TagSet
		want string
	}{
		{"client-id before MAC", Client{HWType: 1, HWAddr: macA, ClientID: []byte("client-1")}, nil, "byid"},
		{"dhcpcd's zero-prefixed client-id", Client{HWType: 1, HWAddr: macA, ClientID: []byte("\x00client-1")}, nil, "byid"},
		{"MAC", Client{HWType: 1, HWAddr: macA}, nil, "bymac"},
		{"tagged entries win", Client{HWType: 1, HWAddr: macA}, NewTagSet("lab"), "tagged"},
		{"second MAC of a host", Client{HWType: 1, HWAddr: []byte{0xaa, 0, 0, 0, 0, 1}}, nil, "laptop"},
		{"fewest wildcards", Client{HWType: 1, HWAddr: []byte{0, 0x11, 0x22, 9, 9, 9}}, nil, "wild"},
		{"wider wildcard", Client{HWType: 1, HWAddr: []byte{0, 0x11, 0x99, 9, 9, 9}}, nil, "wilder"},
		{"by name", Client{HWType: 1, HWAddr: []byte{9, 9, 9, 9, 9, 9}, Hostname: "NAMED"}, nil, "named"},
		{"hardware type", Client{HWType: 1, HWAddr: []byte{1, 2, 3, 4, 5, 6}}, nil, ""},
		{"token ring", Client{HWType: 6, HWAddr: []byte{1, 2, 3, 4, 5, 6}}, nil, "token-ring"},
		{"later line wins", Client{ClientID: []byte("client-2")}, nil, "byid-again"},
		{"nobody", Client{HWType: 1, HWAddr: []byte{9, 9, 9, 9, 9, 9}}, nil, ""},
	} {
		h := FindHost(hosts, tc.c, nil, tc.tags)
		got := ""
		if h != nil {
			got = h.Name
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// usable: a host whose address is off the client's network is skipped.
	onNet := func(h *Host) bool {
		return !h.Addr.IsValid() || netip.MustParsePrefix("10.0.0.0/31").Contains(h.Addr) || h.Addr == ip("10.0.0.2")
	}
	if h := FindHost(hosts, Client{HWType: 1, HWAddr: macB}, onNet, nil); h == nil || h.Name != "wild" {
		t.Errorf("off-network host used, or no fallback to the wildcard entry: %+v", h)
	}
	if h := FindHost(hosts, Client{HWType: 1, HWAddr: macA}, onNet, nil); h == nil || h.Name != "bymac" {
		t.Errorf("on-network host: %+v", h)
	}
}
