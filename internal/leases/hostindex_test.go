package leases

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// hostGen builds host lists and clients from a byte source, from small
// pools of values so that hosts collide (one MAC on several hosts, a
// client-id with and without dhcpcd's zero byte, names that differ only
// in case or by the Kelvin sign).
type hostGen struct{ next func() byte }

func (g hostGen) pick(n int) int { return int(g.next()) % n }

var (
	genMACs = [][]byte{
		{2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 1, 1}, {2, 0}, {}, {2, 0, 0, 0, 0, 1, 9},
		make([]byte, 17), append(make([]byte, 16), 1), // longer than chaddr: not indexed
	}
	genIDs   = [][]byte{nil, {}, []byte("a"), []byte("\x00a"), []byte("b"), {0}, {0, 0}, {1, 2, 0, 0, 0, 0, 1}}
	genNames = []string{"", "a", "A", "k", "K", "\u212a", "s", "\u017f", "\xff", "\xfe", "\ufffd", "host", "HoSt", "b"}
	genTags  = [][]string{nil, {"x"}, {"!x"}, {"x", "y"}, {"#y"}, {"y", "!x"}}
)

func (g hostGen) hwAddr() HWAddr {
	p := HWAddr{Type: []uint8{0, 1, 6}[g.pick(3)], Addr: genMACs[g.pick(len(genMACs))]}
	if g.pick(3) == 0 && len(p.Addr) > 0 {
		p.Wild = make([]bool, len(p.Addr))
		for i := range p.Wild {
			p.Wild[i] = g.pick(2) == 0
		}
	}
	return p
}

func (g hostGen) hosts() []Host {
	hosts := make([]Host, g.pick(24))
	for i := range hosts {
		h := &hosts[i]
		for range g.pick(3) {
			h.HWAddrs = append(h.HWAddrs, g.hwAddr())
		}
		h.ClientID = genIDs[g.pick(len(genIDs))]
		h.Name = genNames[g.pick(len(genNames))]
		h.Tags = genTags[g.pick(len(genTags))]
		if g.pick(2) == 0 {
			h.Addr = netip.AddrFrom4([4]byte{10, 0, 0, byte(g.pick(4))})
		}
	}
	return hosts
}

func (g hostGen) client() (Client, TagSet) {
	c := Client{HWType: []uint8{0, 1, 6}[g.pick(3)], ClientID: genIDs[g.pick(len(genIDs))],
		Hostname: genNames[g.pick(len(genNames))]}
	if g.pick(4) > 0 {
		c.HWAddr = genMACs[g.pick(len(genMACs))]
	}
	tags := []TagSet{nil, NewTagSet("x"), NewTagSet("y"), NewTagSet("x", "y")}[g.pick(4)]
	return c, tags
}

// usableEven is a usable test: hosts without an address, or with an
// even last byte.
func usableEven(h *Host) bool { return !h.Addr.IsValid() || h.Addr.As4()[3]%2 == 0 }

// compareIndex checks HostIndex against findHostLinear for one host
// list and a few clients, and Host.Matches / MatchesNamed against the
// linear walk over one host.
func compareIndex(t *testing.T, g hostGen) {
	t.Helper()
	hosts := g.hosts()
	x := NewHostIndex(hosts)
	name := func(h *Host) string {
		for i := range hosts {
			if h == &hosts[i] {
				return fmt.Sprintf("host %d", i)
			}
		}
		return fmt.Sprintf("%p", h)
	}
	for range 8 {
		c, tags := g.client()
		for _, usable := range []func(*Host) bool{nil, usableEven} {
			want := findHostLinear(hosts, c, usable, tags)
			if got := x.Find(c, usable, tags); got != want {
				t.Fatalf("client %+v tags %v usable %v in %+v: index %s, linear %s", c, tags, usable != nil, hosts, name(got), name(want))
			}
		}
		named := false
		for i := range hosts {
			h := &hosts[i]
			want := findHostLinear(hosts[i:i+1], c, nil, tags) != nil
			if got := h.Matches(c, tags); got != want {
				t.Fatalf("client %+v tags %v, host %+v: Matches %v, linear %v", c, tags, *h, got, want)
			}
			named = named || want && h.Name != "" && strings.EqualFold(h.Name, c.Hostname)
		}
		if got := x.MatchesNamed(c.Hostname, c, tags); got != named {
			t.Fatalf("client %+v tags %v in %+v: MatchesNamed %v, want %v", c, tags, hosts, got, named)
		}
	}
}

// TestHostIndexMatchesLinear compares the index with the linear walk
// on random host lists and clients.
func TestHostIndexMatchesLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	g := hostGen{next: func() byte { return byte(rng.Uint32()) }}
	for range 5000 {
		compareIndex(t, g)
	}
}

func FuzzHostIndex(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x10\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	f.Add([]byte("\x17\x02\x00\x00\x02\x03\x05\x01\x02\x02\x00\x01\x00\x03\x04\x02\x01\x05\x02\x00\x01\x02\x03"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pos := 0
		g := hostGen{next: func() byte {
			if pos >= len(data) {
				return 0
			}
			pos++
			return data[pos-1]
		}}
		compareIndex(t, g)
	})
}

func TestFoldKey(t *testing.T) {
	names := []string{"", "a", "A", "k", "K", "\u212a", "s", "S", "\u017f", "\xff", "\xfe", "\ufffd", "Host", "hOST",
		"\u00c5", "\u00e5", "\u212b", "\u03a3", "\u03c3", "\u03c2", "ss", "\u00df", "a\xffb", "a\ufffdb"}
	for _, a := range names {
		for _, b := range names {
			if eq, same := strings.EqualFold(a, b), foldKey(a) == foldKey(b); eq != same {
				t.Errorf("%q, %q: EqualFold %v, same key %v", a, b, eq, same)
			}
		}
	}
}

// bigHosts is a dhcp-hostsfile of n hosts: one MAC, an address and a
// name each, as such files usually are.
func bigHosts(n int) []Host {
	hosts := make([]Host, n)
	for i := range hosts {
		mac := []byte{6, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(mac[2:], uint32(i))
		hosts[i] = Host{HWAddrs: []HWAddr{{Type: 1, Addr: mac}}, Name: fmt.Sprintf("h%d", i),
			Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})}
	}
	return hosts
}

// BenchmarkFindHost looks up, among 100,000 hosts, a client that has
// none (the whole list searched; a new client's usual case) and one
// found by MAC, by the linear walk (before) and with HostIndex (after).
func BenchmarkFindHost(b *testing.B) {
	hosts := bigHosts(100_000)
	x := NewHostIndex(hosts)
	clients := map[string]Client{
		"unknown": {HWType: 1, HWAddr: []byte{2, 9, 9, 9, 9, 9}, ClientID: []byte{1, 2, 9, 9, 9, 9, 9}, Hostname: "laptop"},
		"byMAC":   {HWType: 1, HWAddr: hosts[50_000].HWAddrs[0].Addr, ClientID: []byte{1, 6, 0, 0, 0, 0xc3, 0x50}},
	}
	for _, name := range []string{"unknown", "byMAC"} {
		c := clients[name]
		b.Run("linear/"+name, func(b *testing.B) {
			for b.Loop() {
				findHostLinear(hosts, c, usableEven, nil)
			}
		})
		b.Run("index/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				x.Find(c, usableEven, nil)
			}
		})
	}
}

// BenchmarkNewHostIndex is the index's cost, paid once per host list
// (at start and on every reload).
func BenchmarkNewHostIndex(b *testing.B) {
	hosts := bigHosts(100_000)
	b.ReportAllocs()
	for b.Loop() {
		NewHostIndex(hosts)
	}
}
