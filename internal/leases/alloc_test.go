package leases

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// pools parses "start,end[,netmask]" as the goldengen ranges.
func poolFromRange(t *testing.T, r string) *Pool {
	t.Helper()
	f := strings.Split(r, ",")
	p := &Pool{Start: ip(f[0]), End: ip(f[1])}
	if len(f) > 2 {
		p.Netmask = ip(f[2])
	}
	return p
}

// TestAllocMatchesDnsmasq: with no leases and no ping, dnsmasq 2.90
// offered these addresses to these MACs (testdata/dnsmasq-alloc*.txt,
// recorded with goldengen alloc); so must the allocator.
func TestAllocMatchesDnsmasq(t *testing.T) {
	for _, tc := range []struct {
		file       string
		sequential bool
	}{
		{"testdata/dnsmasq-alloc.txt", false},
		{"testdata/dnsmasq-alloc-sequential.txt", true},
	} {
		f, err := os.Open(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "#") || line == "" {
				continue
			}
			fields := strings.Fields(line)
			mac, err := net.ParseMAC(fields[1])
			if err != nil {
				t.Fatal(err)
			}
			a := &Allocator{Pools: []*Pool{poolFromRange(t, fields[0])}, Leases: NewTable(), Sequential: tc.sequential,
				Server: []netip.Addr{ip("10.77.0.1"), ip("192.168.0.1")}, Now: time.Unix(1e9, 0)}
			ch, err := a.Choose(Client{HWType: 1, HWAddr: mac}, nil, netip.Addr{}, nil)
			if err != nil || ch.Addr != ip(fields[2]) || ch.Source != FromPool || !ch.Ping {
				t.Errorf("%s: %+v, %v; dnsmasq offered %s", line, ch, err, fields[2])
			}
			n++
		}
		f.Close()
		if n < 3 {
			t.Errorf("%s: only %d lines", tc.file, n)
		}
	}
}

// world is a network 10.0.0.0/24 with a dynamic range .10-.19, a static
// range, the server at .1, and some hosts.
func world() *Allocator {
	return &Allocator{
		Pools: []*Pool{
			{Start: ip("10.0.0.10"), End: ip("10.0.0.19"), Netmask: ip("255.255.255.0")},
			{Start: ip("10.0.0.0"), End: ip("10.0.0.0"), Netmask: ip("255.255.255.0"), Static: true},
		},
		Leases: NewTable(),
		Hosts: []Host{
			{Name: "printer", HWAddrs: []HWAddr{{Addr: []byte{0xaa, 0, 0, 0, 0, 1}}}, Addr: ip("10.0.0.50")},
			{Name: "laptop", HWAddrs: []HWAddr{{Addr: []byte{0xbb, 0, 0, 0, 0, 1}}, {Addr: []byte{0xbb, 0, 0, 0, 0, 2}}}, Addr: ip("10.0.0.51")},
			{Name: "in-range", HWAddrs: []HWAddr{{Addr: []byte{0xcc, 0, 0, 0, 0, 1}}}, Addr: ip("10.0.0.12")},
			{Name: "elsewhere", HWAddrs: []HWAddr{{Addr: []byte{0xdd, 0, 0, 0, 0, 1}}}, Addr: ip("172.16.0.5")},
		},
		Server: []netip.Addr{ip("10.0.0.1")},
		Now:    time.Unix(1000, 0),
	}
}

func client(last byte) Client { return Client{HWType: 1, HWAddr: []byte{0x52, 0x54, 0, 0, 0, last}} }

func TestChooseOrder(t *testing.T) {
	a := world()
	printer := Client{HWType: 1, HWAddr: []byte{0xaa, 0, 0, 0, 0, 1}}
	host := FindHost(a.Hosts, printer, nil, nil)
	ch, err := a.Choose(printer, host, ip("10.0.0.15"), nil)
	if err != nil || ch.Addr != ip("10.0.0.50") || ch.Source != FromHost || !ch.Ping {
		t.Errorf("static: %+v %v", ch, err)
	}

	// Existing lease beats the requested address, and needs no ping.
	c := client(7)
	a.Leases.Put(Lease{Addr: ip("10.0.0.17"), HWType: 1, HWAddr: c.HWAddr, Expires: 2000})
	ch, err = a.Choose(c, nil, ip("10.0.0.15"), nil)
	if err != nil || ch.Addr != ip("10.0.0.17") || ch.Source != FromLease || ch.Ping {
		t.Errorf("lease: %+v %v", ch, err)
	}
	// An expired lease is not the client's any more; the requested address is free.
	a.Now = time.Unix(3000, 0)
	ch, err = a.Choose(c, nil, ip("10.0.0.15"), nil)
	if err != nil || ch.Addr != ip("10.0.0.15") || ch.Source != FromRequest || !ch.Ping {
		t.Errorf("requested: %+v %v", ch, err)
	}
	a.Now = time.Unix(1000, 0)

	// A requested address leased to someone else, kept for a host, out of
	// range, or the server's, is not given: the hash decides.
	for _, req := range []string{"10.0.0.17", "10.0.0.12", "10.0.0.30", "10.0.0.1", "192.168.9.9"} {
		ch, err = a.Choose(client(8), nil, ip(req), nil)
		if err != nil || ch.Source != FromPool || ch.Addr == ip(req) {
			t.Errorf("request %s: %+v %v", req, ch, err)
		}
	}

	// A lease on an address now kept for a dhcp-host is not reused.
	other := client(9)
	a.Leases.Put(Lease{Addr: ip("10.0.0.12"), HWType: 1, HWAddr: other.HWAddr, Expires: 2000})
	ch, _ = a.Choose(other, nil, netip.Addr{}, nil)
	if ch.Addr == ip("10.0.0.12") || ch.Source != FromPool {
		t.Errorf("lease on a kept address reused: %+v", ch)
	}
	// And its host does not get the address while another client has it.
	inRange := Client{HWType: 1, HWAddr: []byte{0xcc, 0, 0, 0, 0, 1}}
	ch, _ = a.Choose(inRange, FindHost(a.Hosts, inRange, nil, nil), netip.Addr{}, nil)
	if ch.Addr == ip("10.0.0.12") {
		t.Errorf("host address given while leased to another client: %+v", ch)
	}

	// A host address off the network is ignored.
	far := Client{HWType: 1, HWAddr: []byte{0xdd, 0, 0, 0, 0, 1}}
	ch, _ = a.Choose(far, FindHost(a.Hosts, far, nil, nil), netip.Addr{}, nil)
	if ch.Source != FromPool {
		t.Errorf("off-network host address: %+v", ch)
	}
}

// TestChooseSeveralMACs: a laptop with two MACs in one dhcp-host keeps its
// address when it moves from one interface to the other.
func TestChooseSeveralMACs(t *testing.T) {
	a := world()
	wired := Client{HWType: 1, HWAddr: []byte{0xbb, 0, 0, 0, 0, 1}}
	wifi := Client{HWType: 1, HWAddr: []byte{0xbb, 0, 0, 0, 0, 2}}
	a.Leases.Put(Lease{Addr: ip("10.0.0.51"), HWType: 1, HWAddr: wired.HWAddr, Expires: 5000})
	ch, err := a.Choose(wifi, FindHost(a.Hosts, wifi, nil, nil), netip.Addr{}, nil)
	if err != nil || ch.Addr != ip("10.0.0.51") || ch.Source != FromHost || ch.Replaces == nil || ch.Replaces.Addr != ip("10.0.0.51") {
		t.Errorf("second MAC: %+v %v", ch, err)
	}
	// The wired MAC renewing its own lease: no ping, nothing replaced.
	ch, _ = a.Choose(wired, FindHost(a.Hosts, wired, nil, nil), netip.Addr{}, nil)
	if ch.Addr != ip("10.0.0.51") || ch.Ping || ch.Replaces != nil {
		t.Errorf("own lease: %+v", ch)
	}
}

func TestChooseBusyAndConflict(t *testing.T) {
	a := world()
	c := client(1)
	first, _ := a.Choose(c, nil, netip.Addr{}, nil)
	busy := map[netip.Addr]bool{first.Addr: true}
	a.Busy = func(addr netip.Addr, _ uint32) bool { return busy[addr] }
	second, _ := a.Choose(c, nil, netip.Addr{}, nil)
	if second.Addr == first.Addr {
		t.Fatalf("busy address offered again: %v", second.Addr)
	}
	// A ping reply moves the hash seed on (dnsmasq's addr_epoch).
	epoch := second.Pool.epoch
	second.Pool.Conflict()
	if second.Pool.epoch != epoch+1 {
		t.Error("Conflict does not move the epoch")
	}
	// Everything busy: no address.
	a.Busy = func(netip.Addr, uint32) bool { return true }
	if _, err := a.Choose(c, nil, netip.Addr{}, nil); !errors.Is(err, ErrNoAddress) {
		t.Errorf("full range: %v", err)
	}
	if _, err := a.Choose(Client{}, nil, netip.Addr{}, nil); !errors.Is(err, ErrNoUniqueID) {
		t.Errorf("no MAC: %v", err)
	}
}

func TestChooseFillsRange(t *testing.T) {
	a := world()
	got := map[netip.Addr]bool{}
	for i := 0; i < 9; i++ { // .10-.19 less .12 (kept for a host)
		c := client(byte(100 + i))
		ch, err := a.Choose(c, nil, netip.Addr{}, nil)
		if err != nil || got[ch.Addr] || !a.Pools[0].contains(ch.Addr) || ch.Addr == ip("10.0.0.12") {
			t.Fatalf("client %d: %+v %v", i, ch, err)
		}
		got[ch.Addr] = true
		a.Leases.Put(Lease{Addr: ch.Addr, HWType: 1, HWAddr: c.HWAddr, Expires: 5000})
	}
	if _, err := a.Choose(client(200), nil, netip.Addr{}, nil); !errors.Is(err, ErrNoAddress) {
		t.Errorf("range should be full: %v", err)
	}
}

func TestChooseSequential(t *testing.T) {
	a := world()
	a.Sequential = true
	var order []string
	for i := byte(0); i < 3; i++ {
		c := client(i)
		ch, err := a.Choose(c, nil, netip.Addr{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, ch.Addr.String())
		a.Leases.Put(Lease{Addr: ch.Addr, HWType: 1, HWAddr: c.HWAddr, Expires: 5000})
	}
	// .12 is kept for a dhcp-host.
	if got := strings.Join(order, " "); got != "10.0.0.10 10.0.0.11 10.0.0.13" {
		t.Errorf("sequential: %s", got)
	}
	// A declined address makes the next choice skip one free address.
	a.Pools[0].Conflict()
	ch, _ := a.Choose(client(9), nil, netip.Addr{}, nil)
	if ch.Addr != ip("10.0.0.15") || a.Pools[0].epoch != 0 {
		t.Errorf("after a conflict: %v (epoch %d)", ch.Addr, a.Pools[0].epoch)
	}
}

func TestChooseTaggedRanges(t *testing.T) {
	a := &Allocator{
		Pools: []*Pool{
			{Start: ip("10.0.0.10"), End: ip("10.0.0.19")},
			{Start: ip("10.0.0.100"), End: ip("10.0.0.109"), Tags: []string{"voip"}},
		},
		Leases: NewTable(), Now: time.Unix(1000, 0),
	}
	ch, _ := a.Choose(client(1), nil, netip.Addr{}, NewTagSet("voip"))
	if !a.Pools[1].contains(ch.Addr) {
		t.Errorf("tagged client got %v, not the tagged range", ch.Addr)
	}
	ch, _ = a.Choose(client(1), nil, netip.Addr{}, nil)
	if !a.Pools[0].contains(ch.Addr) {
		t.Errorf("untagged client got %v", ch.Addr)
	}
	// A requested address in a range whose tags the client lacks is refused.
	ch, _ = a.Choose(client(1), nil, ip("10.0.0.105"), nil)
	if ch.Source != FromPool || a.Pools[1].contains(ch.Addr) {
		t.Errorf("request in a tagged range: %+v", ch)
	}
}

// TestChooseClassC: addresses ending in .0 and .255 in 192.0.0.0/3 are
// never handed out (dnsmasq's Windows workaround).
func TestChooseClassC(t *testing.T) {
	a := &Allocator{Pools: []*Pool{{Start: ip("192.168.0.254"), End: ip("192.168.1.1")}}, Leases: NewTable(), Now: time.Unix(1, 0)}
	seen := map[netip.Addr]bool{}
	for i := byte(0); i < 2; i++ {
		c := client(i)
		ch, err := a.Choose(c, nil, netip.Addr{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen[ch.Addr] = true
		a.Leases.Put(Lease{Addr: ch.Addr, HWType: 1, HWAddr: c.HWAddr, Expires: 5000})
	}
	if !seen[ip("192.168.0.254")] || !seen[ip("192.168.1.1")] {
		t.Errorf("got %v", seen)
	}
	if _, err := a.Choose(client(9), nil, netip.Addr{}, nil); !errors.Is(err, ErrNoAddress) {
		t.Errorf("only .254 and .1 are usable: %v", err)
	}
}
