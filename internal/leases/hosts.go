package leases

import (
	"bytes"
	"net/netip"
	"strings"
)

// HWAddr is a hardware address pattern of a dhcp-host.
type HWAddr struct {
	Type uint8  // ARP hardware type; 0 matches any
	Addr []byte // at most MaxHWAddr bytes
	Wild []bool // per byte of Addr: matches anything; nil when none
}

// exactly reports whether the pattern, without wildcards, is this
// client's address (dnsmasq's config_has_mac).
func (h HWAddr) exactly(typ uint8, addr []byte) bool {
	return h.Wild == nil && (h.Type == 0 || h.Type == typ) && bytes.Equal(h.Addr, addr)
}

// wildMatch returns 1 + the number of non-wildcard bytes that match, or
// 0 when the pattern does not match (dnsmasq's memcmp_masked).
func (h HWAddr) wildMatch(typ uint8, addr []byte) int {
	if h.Wild == nil || len(h.Addr) != len(addr) || (h.Type != 0 && h.Type != typ) {
		return 0
	}
	n := 1
	for i, b := range h.Addr {
		if h.Wild[i] {
			continue
		}
		if b != addr[i] {
			return 0
		}
		n++
	}
	return n
}

// Host is what the allocator needs of one dhcp-host (or /etc/ethers, or
// dhcp-hostsfile) entry.
type Host struct {
	HWAddrs        []HWAddr
	ClientID       []byte     // nil for none
	IgnoreClientID bool       // id:*: the client's client-id is ignored
	Name           string     // unqualified host name; "" none
	Addr           netip.Addr // the reserved address; invalid none
	Tags           []string   // tag: filters
	Ignore         bool       // never answer this host
}

// HasMAC reports whether one of the host's exact (wildcard-free)
// hardware addresses is typ/addr: a dhcp-host listing several MACs lets a
// lease move between them.
func (h *Host) HasMAC(typ uint8, addr []byte) bool {
	for _, p := range h.HWAddrs {
		if p.exactly(typ, addr) {
			return true
		}
	}
	return false
}

// FindHost returns the dhcp-host that applies to client c, or nil, as
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
// (dhcpcd's ASCII client-ids), and so does FindHost.
func FindHost(hosts []Host, c Client, usable func(*Host) bool, tags TagSet) *Host {
	if h := findHost(hosts, c, usable, tags, false); h != nil {
		return h
	}
	return findHost(hosts, c, usable, tags, true)
}

func findHost(hosts []Host, c Client, usable func(*Host) bool, tags TagSet, tagNotNeeded bool) *Host {
	ok := func(h *Host) bool {
		return MatchTags(h.Tags, tags, tagNotNeeded) && (usable == nil || usable(h))
	}
	// dnsmasq keeps dhcp-host lines newest first.
	for i := len(hosts) - 1; i >= 0 && len(c.ClientID) > 0; i-- {
		h := &hosts[i]
		if h.ClientID == nil || !ok(h) {
			continue
		}
		id := c.ClientID
		if bytes.Equal(h.ClientID, id) || (id[0] == 0 && bytes.Equal(h.ClientID, id[1:])) {
			return h
		}
	}
	for i := len(hosts) - 1; i >= 0 && len(c.HWAddr) > 0; i-- {
		if h := &hosts[i]; h.HasMAC(c.HWType, c.HWAddr) && ok(h) {
			return h
		}
	}
	for i := len(hosts) - 1; i >= 0 && c.Hostname != ""; i-- {
		if h := &hosts[i]; h.Name != "" && strings.EqualFold(h.Name, c.Hostname) && ok(h) {
			return h
		}
	}
	var best *Host
	bestCount := 0
	for i := len(hosts) - 1; i >= 0 && len(c.HWAddr) > 0; i-- {
		h := &hosts[i]
		if !ok(h) {
			continue
		}
		for _, p := range h.HWAddrs {
			if n := p.wildMatch(c.HWType, c.HWAddr); n > bestCount {
				best, bestCount = h, n
			}
		}
	}
	return best
}
