package dhcpserver

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/config"
)

// BenchmarkDORA is one 4-way exchange (DISCOVER, OFFER, REQUEST, commit,
// ACK) of a new client in a /16 that fills up to 50,000 leases, then
// starts again with renewing clients: decoding with dhcpv4.FromBytes as
// the worker does, no ping. Kea (memfile) serves about 13,000 of these a
// second on this machine, fsync included. The MACs are scattered, as
// real clients' are.
func BenchmarkDORA(b *testing.B) {
	benchDORA(b, func(n uint32) uint32 { return n * 2654435761 })
}

// BenchmarkDORASequentialMACs is the same with MACs that count up, as a
// load generator's may: dnsmasq's hash puts such clients on consecutive
// addresses, and its search for a free address (leases.Allocator, as
// dnsmasq's address_allocate) walks the whole run of earlier clients.
func BenchmarkDORASequentialMACs(b *testing.B) {
	benchDORA(b, func(n uint32) uint32 { return n })
}

func benchDORA(b *testing.B, mac func(uint32) uint32) {
	benchDORAWith(b, nil, mac)
}

func benchDORAWith(b *testing.B, adjust func(*Settings), mac func(uint32) uint32) {
	e := newEngineWith(b, adjust, "--dhcp-range=10.1.0.1,10.1.255.254,255.255.0.0,1h", "--no-ping", "--dhcp-lease-max=100000")
	iface := &Interface{Name: "eth0", Index: 2, Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.0.1/16")}}
	disc := msg{typ: discoverT, bcast: true, opts: []opt{prl(1, 3, 6, 12, 15, 28, 42)}}.bytes()
	req := msg{typ: requestT, bcast: true, opts: []opt{prl(1, 3, 6, 12, 15, 28, 42), requested("10.1.0.1"), serverID("10.1.0.1")}}.bytes()
	reqAddr := len(req) - 1 - 6 - 6 + 2 // option 50's data
	now := time.Unix(1_700_000_000, 0)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		n := uint32(i % 50000)
		for _, p := range [][]byte{disc, req} {
			binary.BigEndian.PutUint32(p[4:], uint32(i))
			binary.BigEndian.PutUint32(p[offChaddr+2:], mac(n))
		}
		d, err := dhcpv4.FromBytes(disc)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := e.Handle(Inbound{Packet: d, Interface: iface, Src: addrPort("0.0.0.0:68"), Dst: ip("255.255.255.255")}, now)
		if len(out) != 1 {
			b.Fatalf("no offer for client %d", n)
		}
		copy(req[reqAddr:reqAddr+4], out[0].Packet[offYiaddr:offYiaddr+4])
		d, err = dhcpv4.FromBytes(req)
		if err != nil {
			b.Fatal(err)
		}
		_, acts := e.Handle(Inbound{Packet: d, Interface: iface, Src: addrPort("0.0.0.0:68"), Dst: ip("255.255.255.255")}, now)
		if len(acts) != 1 || acts[0].Kind != Commit {
			b.Fatalf("client %d: actions %s", n, actionKinds(acts))
		}
		if len(e.Committed(acts[0].ID, true, now)) != 1 {
			b.Fatal("no ACK")
		}
	}
}

// BenchmarkDecode is the decoding share of BenchmarkDORA (per packet).
func BenchmarkDecode(b *testing.B) {
	p := msg{typ: requestT, bcast: true, opts: []opt{prl(1, 3, 6, 12, 15, 28, 42), requested("10.1.0.1"), serverID("10.1.0.1")}}.bytes()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dhcpv4.FromBytes(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDORABigHostsFile is BenchmarkDORA with a dhcp-hostsfile of
// 100,000 hosts (none of them the benchmark's clients, so every lookup
// searches the whole list): what the dhcp-host index saves per request.
func BenchmarkDORABigHostsFile(b *testing.B) {
	const n = 100_000
	hosts := make([]config.DHCPHost, n)
	for i := range hosts {
		hosts[i] = config.DHCPHost{
			HWAddrs: []config.HWAddr{{Type: 1, Addr: []byte{0x06, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}}},
			Addr:    netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}),
			Name:    fmt.Sprintf("h%d", i),
		}
	}
	benchDORAWith(b, func(s *Settings) { s.Hosts = hosts }, func(n uint32) uint32 { return n * 2654435761 })
}
