package leases

import (
	"bytes"
	"strings"
)

// findHostLinear is FindHost as it was before HostIndex, kept as the
// reference the index must agree with: a walk of every host, each pass.
// It returns the dhcp-host that applies to client c, or nil, as
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
// (dhcpcd's ASCII client-ids), and so does findHostLinear.
func findHostLinear(hosts []Host, c Client, usable func(*Host) bool, tags TagSet) *Host {
	if h := findHostLinearPass(hosts, c, usable, tags, false); h != nil {
		return h
	}
	return findHostLinearPass(hosts, c, usable, tags, true)
}

func findHostLinearPass(hosts []Host, c Client, usable func(*Host) bool, tags TagSet, tagNotNeeded bool) *Host {
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
