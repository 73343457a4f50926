package leases

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	a := world()
	c := client(1)
	other := client(2)
	a.Leases.Put(Lease{Addr: ip("10.0.0.14"), HWType: 1, HWAddr: other.HWAddr, Expires: 5000})
	a.Leases.Put(Lease{Addr: ip("10.0.0.15"), HWType: 1, HWAddr: c.HWAddr, Expires: 5000})
	printer := Client{HWType: 1, HWAddr: []byte{0xaa, 0, 0, 0, 0, 1}}
	printerHost := FindHost(a.Hosts, printer, nil, nil)
	for _, tc := range []struct {
		name string
		c    Client
		host *Host
		addr string
		want error
	}{
		{"renewal", c, nil, "10.0.0.15", nil},
		{"free address in range", c, nil, "10.0.0.16", nil},
		{"other network", c, nil, "192.168.1.5", ErrWrongNetwork},
		{"outside the ranges", c, nil, "10.0.0.99", ErrNotAvailable},
		{"the server", c, nil, "10.0.0.1", ErrNotAvailable},
		{"leased to another", c, nil, "10.0.0.14", ErrInUse},
		{"kept for a host", c, nil, "10.0.0.12", ErrReserved},
		{"own host address out of range", printer, printerHost, "10.0.0.50", nil},
		{"host must take its address", printer, printerHost, "10.0.0.16", ErrStaticAvailable},
	} {
		_, err := a.Check(tc.c, tc.host, ip(tc.addr), nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Moving to another address drops the old lease.
	g, err := a.Check(c, nil, ip("10.0.0.16"), nil)
	if err != nil || g.Drop == nil || g.Drop.Addr != ip("10.0.0.15") || g.Replaces != nil {
		t.Errorf("move: %+v %v", g, err)
	}
	// A laptop's second MAC abandons the first MAC's lease.
	wired := Client{HWType: 1, HWAddr: []byte{0xbb, 0, 0, 0, 0, 1}}
	wifi := Client{HWType: 1, HWAddr: []byte{0xbb, 0, 0, 0, 0, 2}}
	a.Leases.Put(Lease{Addr: ip("10.0.0.51"), HWType: 1, HWAddr: wired.HWAddr, Expires: 5000})
	g, err = a.Check(wifi, FindHost(a.Hosts, wifi, nil, nil), ip("10.0.0.51"), nil)
	if err != nil || g.Replaces == nil || g.Replaces.Addr != ip("10.0.0.51") {
		t.Errorf("second MAC: %+v %v", g, err)
	}
	// While the host address is leased to a stranger, the host may keep a
	// dynamic address.
	a.Leases.Put(Lease{Addr: ip("10.0.0.50"), HWType: 1, HWAddr: other.HWAddr, Expires: 5000})
	if _, err := a.Check(printer, printerHost, ip("10.0.0.16"), nil); err != nil {
		t.Errorf("host address taken: %v", err)
	}
}
