package leases

import (
	"bytes"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// HostIndex finds a client's dhcp-host among many (a dhcp-hostsfile of
// 100,000 hosts) without walking them all: a linear walk of that many
// hosts, each pass twice (tagged entries first), costs milliseconds per
// DHCP request. It is built once per host list and gives exactly the
// answer of dnsmasq's find_config (see Find). Hosts with a wildcard
// hardware address stay on a linear list: they are few.
//
// A HostIndex does not change once built; it may be used from several
// goroutines. The host list must not change while the index is in use.
type HostIndex struct {
	hosts []Host
	// Each map gives the newest (highest-numbered) host with the key;
	// the chains go on to older ones, as dnsmasq keeps dhcp-host lines
	// newest first. The chains are flat slices and the MAC keys arrays,
	// so that indexing 100,000 hosts allocates a few large blocks, not
	// one per host.
	byClientID map[string]int32 // hosts with a ClientID (even empty); chain idNext
	idNext     []int32          // per host
	byMAC      map[macKey]int32 // first node in macNodes of an exact hardware address
	macNodes   []macNode
	longMAC    []int32          // hosts with an exact address longer than a macKey, newest first
	byName     map[string]int32 // by foldKey(Name); chain nameNext
	nameNext   []int32          // per host
	wild       []int32          // hosts with a wildcard hardware address, newest first
}

// macKey is a hardware address as a map key (chaddr holds 16 bytes).
type macKey struct {
	n uint8
	b [16]byte
}

func makeMACKey(addr []byte) (macKey, bool) {
	var k macKey
	if len(addr) > len(k.b) {
		return k, false
	}
	k.n = uint8(len(addr))
	copy(k.b[:], addr)
	return k, true
}

// macNode is one host on a byMAC chain.
type macNode struct {
	host, next int32 // next: a node index, -1 at the end
}

// NewHostIndex indexes hosts. Find returns pointers into hosts.
func NewHostIndex(hosts []Host) *HostIndex {
	x := &HostIndex{hosts: hosts, byClientID: map[string]int32{}, idNext: make([]int32, len(hosts)),
		byMAC: make(map[macKey]int32, len(hosts)), byName: make(map[string]int32, len(hosts)),
		nameNext: make([]int32, len(hosts))}
	// Oldest first, each host pushed on the front of its chains: the
	// chains come out newest first.
	for i := range hosts {
		h, i32 := &hosts[i], int32(i)
		if h.ClientID != nil {
			x.idNext[i] = chainPush(x.byClientID, string(h.ClientID), i32)
		}
		if h.Name != "" {
			key := h.Name
			if !isFoldKey(key) {
				key = foldKey(key)
			}
			x.nameNext[i] = chainPush(x.byName, key, i32)
		}
		wild, long := false, false
		for _, p := range h.HWAddrs {
			if p.Wild != nil {
				wild = true
				continue
			}
			k, ok := makeMACKey(p.Addr)
			if !ok {
				long = true
				continue
			}
			head, found := x.byMAC[k]
			if found && x.macNodes[head].host == i32 {
				continue // a host listing one MAC twice
			}
			if !found {
				head = -1
			}
			x.byMAC[k] = int32(len(x.macNodes))
			x.macNodes = append(x.macNodes, macNode{host: i32, next: head})
		}
		if wild {
			x.wild = append(x.wild, i32)
		}
		if long {
			x.longMAC = append(x.longMAC, i32)
		}
	}
	slices.Reverse(x.wild)
	slices.Reverse(x.longMAC)
	return x
}

// chainPush puts host i at the front of key's chain in m and returns
// the host it goes before (-1: none).
func chainPush(m map[string]int32, key string, i int32) int32 {
	next, ok := m[key]
	if !ok {
		next = -1
	}
	m[key] = i
	return next
}

// Hosts returns the indexed host list.
func (x *HostIndex) Hosts() []Host { return x.hosts }

// Find returns the dhcp-host that applies to client c, or nil, as
// dnsmasq's find_config does. Entries are tried by client-id, then exact
// hardware address, then host name, then hardware address with wildcards
// (the fewest wildcard bytes wins); an entry must be usable (the caller's
// test: its address, if any, is on the client's network) and its tag
// filter must hold for tags. The whole search runs first over entries
// whose tags match (tagged entries win), then allowing untagged ones. As
// in dnsmasq, of two entries that match alike the later one wins.
//
// Set c.ClientID to nil to match by MAC only (dhcp-ignore-clid). dnsmasq
// also accepts a client-id that is a host's plus a leading zero byte
// (dhcpcd's ASCII client-ids), and so does Find.
func (x *HostIndex) Find(c Client, usable func(*Host) bool, tags TagSet) *Host {
	if i := x.FindIndex(c, usable, tags); i >= 0 {
		return &x.hosts[i]
	}
	return nil
}

// FindIndex is Find returning the host's index in the list, -1 for none.
func (x *HostIndex) FindIndex(c Client, usable func(*Host) bool, tags TagSet) int {
	if i := x.find(c, usable, tags, false); i >= 0 {
		return i
	}
	return x.find(c, usable, tags, true)
}

// FindHost is Find over hosts, for a list searched once or twice (it
// builds an index each time); a server builds a HostIndex.
func FindHost(hosts []Host, c Client, usable func(*Host) bool, tags TagSet) *Host {
	return NewHostIndex(hosts).Find(c, usable, tags)
}

func (x *HostIndex) find(c Client, usable func(*Host) bool, tags TagSet, tagNotNeeded bool) int {
	ok := func(i int32) bool {
		h := &x.hosts[i]
		return MatchTags(h.Tags, tags, tagNotNeeded) && (usable == nil || usable(h))
	}
	if id := c.ClientID; len(id) > 0 {
		// The host's id, or the host's id behind a zero byte: two
		// chains, walked together newest first. No host is on both (the
		// keys' lengths differ).
		a, b := chainHead(x.byClientID, string(id)), int32(-1)
		if id[0] == 0 {
			b = chainHead(x.byClientID, string(id[1:]))
		}
		for a >= 0 || b >= 0 {
			var i int32
			if a > b {
				i, a = a, x.idNext[a]
			} else {
				i, b = b, x.idNext[b]
			}
			if ok(i) {
				return int(i)
			}
		}
	}
	if len(c.HWAddr) > 0 {
		if k, short := makeMACKey(c.HWAddr); short {
			if n, found := x.byMAC[k]; found {
				for ; n >= 0; n = x.macNodes[n].next {
					if i := x.macNodes[n].host; x.hosts[i].HasMAC(c.HWType, c.HWAddr) && ok(i) {
						return int(i)
					}
				}
			}
		} else {
			for _, i := range x.longMAC {
				if x.hosts[i].HasMAC(c.HWType, c.HWAddr) && ok(i) {
					return int(i)
				}
			}
		}
	}
	if c.Hostname != "" {
		var buf [64]byte
		for i := chainHead(x.byName, string(appendFoldKey(buf[:0], c.Hostname))); i >= 0; i = x.nameNext[i] {
			if strings.EqualFold(x.hosts[i].Name, c.Hostname) && ok(i) {
				return int(i)
			}
		}
	}
	best, bestCount := -1, 0
	for _, i := range x.wild {
		if len(c.HWAddr) == 0 {
			break
		}
		if !ok(i) {
			continue
		}
		for _, p := range x.hosts[i].HWAddrs {
			if n := p.wildMatch(c.HWType, c.HWAddr); n > bestCount {
				best, bestCount = int(i), n
			}
		}
	}
	return best
}

// chainHead returns the first host of key's chain in m, -1 for none.
func chainHead(m map[string]int32, key string) int32 {
	if i, ok := m[key]; ok {
		return i
	}
	return -1
}

// isFoldKey reports whether s is its own foldKey (lower-case ASCII, as
// configured names are): no copy needed.
func isFoldKey(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b >= utf8.RuneSelf || 'A' <= b && b <= 'Z' {
			return false
		}
	}
	return true
}

// foldKey returns a key equal for two names exactly when
// strings.EqualFold says they are equal: each rune replaced by the
// smallest rune of its case-folding orbit (so "K", "k" and the Kelvin
// sign share one), invalid UTF-8 by U+FFFD as EqualFold reads it, except
// that an orbit holding an ASCII letter gives the lower-case letter: a
// configured (lower-case ASCII) name is its own key.
func foldKey(s string) string {
	var buf [64]byte
	return string(appendFoldKey(buf[:0], s))
}

func appendFoldKey(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			for _, r := range s {
				dst = utf8.AppendRune(dst, foldRune(r))
			}
			return dst
		}
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		dst = append(dst, b)
	}
	return dst
}

// foldRune returns the rune that stands for r's case-folding orbit:
// the ASCII lower-case letter in it, else the smallest.
func foldRune(r rune) rune {
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	if 'A' <= least && least <= 'Z' {
		return least + 'a' - 'A'
	}
	return least
}

// MatchesNamed reports whether a host named name (case aside) would be
// found for c on its own: its tag filter holds for tags (or it has
// none) and c's client-id, hardware address or host name matches it.
// That is FindHost over a list of that one host, with no usable test.
func (x *HostIndex) MatchesNamed(name string, c Client, tags TagSet) bool {
	if name == "" {
		return false
	}
	var buf [64]byte
	for i := chainHead(x.byName, string(appendFoldKey(buf[:0], name))); i >= 0; i = x.nameNext[i] {
		if h := &x.hosts[i]; strings.EqualFold(h.Name, name) && h.Matches(c, tags) {
			return true
		}
	}
	return false
}

// Matches reports whether h, alone, would be found for c: FindHost over
// a list of one host, with no usable test.
func (h *Host) Matches(c Client, tags TagSet) bool {
	if !MatchTags(h.Tags, tags, true) {
		return false
	}
	if id := c.ClientID; len(id) > 0 && h.ClientID != nil &&
		(bytes.Equal(h.ClientID, id) || id[0] == 0 && bytes.Equal(h.ClientID, id[1:])) {
		return true
	}
	if len(c.HWAddr) > 0 {
		for _, p := range h.HWAddrs {
			if p.exactly(c.HWType, c.HWAddr) || p.wildMatch(c.HWType, c.HWAddr) > 0 {
				return true
			}
		}
	}
	return c.Hostname != "" && h.Name != "" && strings.EqualFold(h.Name, c.Hostname)
}
