package leases

import (
	"bytes"
	"net/netip"
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
