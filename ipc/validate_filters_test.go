package ipc

import (
	"fmt"
	"strings"
	"testing"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func TestValidateFilterMessagesRejects(t *testing.T) {
	cfg := func(edit func(c *ipcpb.DNSConfig)) *ipcpb.Envelope {
		c := &ipcpb.DNSConfig{}
		edit(c)
		return &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: c}}
	}
	mac := []byte{2, 0, 0, 0, 0, 1}
	tooManyNeighbours := make([]*ipcpb.Neighbour, MaxNeighbours+1)
	for i := range tooManyNeighbours {
		tooManyNeighbours[i] = &ipcpb.Neighbour{Address: []byte{10, 0, byte(i >> 8), byte(i)}, Mac: mac}
	}
	tests := []struct {
		name string
		m    *ipcpb.Envelope
		want string
	}{
		{"bad prefix", cfg(func(c *ipcpb.DNSConfig) { c.BogusNxdomain = []string{"1.2.3.4"} }), `bogus_nxdomain[0]: "1.2.3.4" is not ip/bits`},
		{"prefix too long", cfg(func(c *ipcpb.DNSConfig) { c.IgnoreAddress = []string{"1.2.3.4/33"} }), "ignore_address[0]"},
		{"empty rebind domain", cfg(func(c *ipcpb.DNSConfig) { c.RebindDomainOk = []string{""} }), "rebind_domain_ok[0]: empty domain"},
		{"long label", cfg(func(c *ipcpb.DNSConfig) { c.RebindDomainOk = []string{strings.Repeat("a", 64) + ".lan"} }), "label of 64 bytes"},
		{"rr type 0", cfg(func(c *ipcpb.DNSConfig) { c.FilterRr = []uint32{0} }), "filter_rr[0]: 0 is not an RR type"},
		{"rr type too big", cfg(func(c *ipcpb.DNSConfig) { c.FilterRr = []uint32{65536} }), "filter_rr[0]: 65536"},
		{"unknown local service", cfg(func(c *ipcpb.DNSConfig) { c.LocalService = 9 }), "local_service: 9"},
		{"subnet bits", cfg(func(c *ipcpb.DNSConfig) {
			c.AddSubnet = &ipcpb.ClientSubnet{V4: &ipcpb.SubnetSource{Bits: 33}}
		}), "add_subnet.v4.bits: 33, at most 32"},
		{"subnet address size", cfg(func(c *ipcpb.DNSConfig) {
			c.AddSubnet = &ipcpb.ClientSubnet{V6: &ipcpb.SubnetSource{Address: []byte{1}}}
		}), "add_subnet.v6.address: 1 bytes"},
		{"subnet bits for a fixed v4 address", cfg(func(c *ipcpb.DNSConfig) {
			c.AddSubnet = &ipcpb.ClientSubnet{V6: &ipcpb.SubnetSource{Bits: 64, Address: []byte{1, 2, 3, 4}}}
		}), "add_subnet.v6.bits: 64, at most 32"},
		{"report server address", &ipcpb.Envelope{Msg: &ipcpb.Envelope_StatsReport{StatsReport: &ipcpb.StatsReport{
			Servers: []*ipcpb.ServerStats{{Address: "nonsense"}},
		}}}, `servers[0].address: "nonsense"`},
		{"report too many servers", &ipcpb.Envelope{Msg: &ipcpb.Envelope_StatsReport{StatsReport: &ipcpb.StatsReport{
			Servers: make([]*ipcpb.ServerStats, MaxStatsServers+1),
		}}}, "servers: 513, at most 512"},
		{"dump entry with a control character", &ipcpb.Envelope{Msg: &ipcpb.Envelope_StatsReport{StatsReport: &ipcpb.StatsReport{
			CacheDump: []*ipcpb.CacheDumpEntry{{Name: "a\nfake log line", Flags: "4F"}},
		}}}, `cache_dump[0].name`},
		{"dump entry flags too long", &ipcpb.Envelope{Msg: &ipcpb.Envelope_StatsReport{StatsReport: &ipcpb.StatsReport{
			CacheDump: []*ipcpb.CacheDumpEntry{{Name: "a", Flags: "4F          x"}},
		}}}, `cache_dump[0].flags`},
		{"dump nil entry", &ipcpb.Envelope{Msg: &ipcpb.Envelope_StatsReport{StatsReport: &ipcpb.StatsReport{
			CacheDump: []*ipcpb.CacheDumpEntry{nil},
		}}}, `cache_dump[0]: nil`},
		{"neighbour address", &ipcpb.Envelope{Msg: &ipcpb.Envelope_NetState{NetState: &ipcpb.NetState{
			Neighbours: []*ipcpb.Neighbour{{Address: []byte{1, 2, 3}, Mac: mac}},
		}}}, "neighbours[0].address: 3 bytes"},
		{"neighbour without mac", &ipcpb.Envelope{Msg: &ipcpb.Envelope_NetState{NetState: &ipcpb.NetState{
			Neighbours: []*ipcpb.Neighbour{{Address: []byte{1, 2, 3, 4}}},
		}}}, "neighbours[0].mac: 0 bytes"},
		{"too many neighbours", &ipcpb.Envelope{Msg: &ipcpb.Envelope_NetState{NetState: &ipcpb.NetState{Neighbours: tooManyNeighbours}}}, "neighbours: 2001, at most 2000"},
		{"bad local network", &ipcpb.Envelope{Msg: &ipcpb.Envelope_NetState{NetState: &ipcpb.NetState{LocalNetworks: []string{"x"}}}}, `local_networks[0]: "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestNeighbourTableFits: a full neighbour table of IPv6 entries with
// Ethernet addresses still fits one message (the master trims larger tables
// to fit).
func TestNeighbourTableFits(t *testing.T) {
	ns := &ipcpb.NetState{}
	for i := range MaxNeighbours {
		a := make([]byte, 16)
		a[0], a[14], a[15] = 0xfd, byte(i>>8), byte(i)
		ns.Neighbours = append(ns.Neighbours, &ipcpb.Neighbour{Address: a, Mac: make([]byte, 6)})
	}
	for i := range MaxLocalNetworks {
		ns.LocalNetworks = append(ns.LocalNetworks, fmt.Sprintf("fd00:1234:5678:%x::/64", i))
	}
	a, b := newConnPair(t)
	if err := a.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_NetState{NetState: ns}}); err != nil {
		t.Fatalf("send a full neighbour table: %v", err)
	}
	got, _, err := b.Recv()
	if err != nil || len(got.GetNetState().GetNeighbours()) != MaxNeighbours {
		t.Fatalf("recv: %v", err)
	}
}
