package ipc

import (
	"fmt"
	"net/netip"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Bounds for area D's messages (filters, statistics, neighbour table).
const (
	// MaxNeighbours caps a NetState's neighbour table: 2,000 IPv6 entries
	// with Ethernet addresses fit under MaxMessageSize (the master trims a
	// table that does not).
	MaxNeighbours = 2000
	// MaxLocalNetworks caps the local networks of a NetState or DNSConfig.
	MaxLocalNetworks = 256
	// MaxStatsServers caps the per-server lines of a StatsReport.
	MaxStatsServers = 512
	maxMACLen       = 20 // the longest link-layer address the kernel reports (INFINIBAND_ALEN)
	maxFilterList   = 1024
)

// validateDNSFilters checks DNSConfig's area D fields.
func validateDNSFilters(c *ipcpb.DNSConfig) error {
	for _, list := range []struct {
		field string
		items []string
		check func(string) error
	}{
		{"bogus_nxdomain", c.GetBogusNxdomain(), prefixText},
		{"ignore_address", c.GetIgnoreAddress(), prefixText},
		{"rebind_domain_ok", c.GetRebindDomainOk(), domainText},
		{"local_networks", c.GetLocalNetworks(), prefixText},
	} {
		if len(list.items) > maxFilterList {
			return invalid("%s: %d entries, at most %d", list.field, len(list.items), maxFilterList)
		}
		for i, s := range list.items {
			if err := list.check(s); err != nil {
				return fmt.Errorf("%s[%d]: %w", list.field, i, err)
			}
		}
	}
	for i, t := range c.GetFilterRr() {
		if t == 0 || t > 65535 {
			return invalid("filter_rr[%d]: %d is not an RR type", i, t)
		}
	}
	if len(c.GetFilterRr()) > maxFilterList {
		return invalid("filter_rr: %d entries, at most %d", len(c.GetFilterRr()), maxFilterList)
	}
	if _, known := ipcpb.LocalService_name[int32(c.GetLocalService())]; !known {
		return invalid("local_service: %d is not a known mode", int32(c.GetLocalService()))
	}
	if cs := c.GetAddSubnet(); cs != nil {
		if err := noUnknown(cs); err != nil {
			return err
		}
		if err := validateSubnetSource("add_subnet.v4", cs.GetV4(), 32); err != nil {
			return err
		}
		if err := validateSubnetSource("add_subnet.v6", cs.GetV6(), 128); err != nil {
			return err
		}
	}
	return maxLen("version", c.GetVersion(), maxRoleLen*2)
}

func validateSubnetSource(field string, s *ipcpb.SubnetSource, plainMax uint32) error {
	if s == nil {
		return nil
	}
	if err := noUnknown(s); err != nil {
		return err
	}
	limit := plainMax
	switch len(s.GetAddress()) {
	case 0:
	case 4:
		limit = 32
	case 16:
		limit = 128
	default:
		return invalid("%s.address: %d bytes, want 4 or 16", field, len(s.GetAddress()))
	}
	if s.GetBits() > limit {
		return invalid("%s.bits: %d, at most %d", field, s.GetBits(), limit)
	}
	return nil
}

func domainText(s string) error {
	if s == "" {
		return invalid("empty domain")
	}
	return validateHostName(s)
}

func prefixText(s string) error {
	if len(s) > maxAddrTextLen {
		return invalid("%d bytes, at most %d", len(s), maxAddrTextLen)
	}
	if _, err := netip.ParsePrefix(s); err != nil {
		return invalid("%q is not ip/bits", s)
	}
	return nil
}

func validateStatsReport(r *ipcpb.StatsReport) error {
	if err := validateServers(r.GetServers(), nil); err != nil {
		return err
	}
	if n := len(r.GetCacheDump()); n > MaxCacheDumpEntries {
		return invalid("cache_dump: %d entries, at most %d", n, MaxCacheDumpEntries)
	}
	for i, e := range r.GetCacheDump() {
		if err := validateDumpEntry(e, "cache_dump", i); err != nil {
			return err
		}
	}
	return nil
}

// MaxCacheDumpEntries caps the cache dump entries of one StatsReport (a
// long dump comes in several).
const MaxCacheDumpEntries = 4096

func validateNetState(n *ipcpb.NetState) error {
	if len(n.GetLocalNetworks()) > MaxLocalNetworks {
		return invalid("local_networks: %d, at most %d", len(n.GetLocalNetworks()), MaxLocalNetworks)
	}
	for i, s := range n.GetLocalNetworks() {
		if err := prefixText(s); err != nil {
			return fmt.Errorf("local_networks[%d]: %w", i, err)
		}
	}
	if len(n.GetNeighbours()) > MaxNeighbours {
		return invalid("neighbours: %d, at most %d", len(n.GetNeighbours()), MaxNeighbours)
	}
	for i, nb := range n.GetNeighbours() {
		if nb == nil {
			return invalid("neighbours[%d]: nil", i)
		}
		if err := noUnknown(nb); err != nil {
			return fmt.Errorf("neighbours[%d]: %w", i, err)
		}
		if l := len(nb.GetAddress()); l != 4 && l != 16 {
			return invalid("neighbours[%d].address: %d bytes, want 4 or 16", i, l)
		}
		if l := len(nb.GetMac()); l == 0 || l > maxMACLen {
			return invalid("neighbours[%d].mac: %d bytes, want 1 to %d", i, l, maxMACLen)
		}
	}
	return nil
}
