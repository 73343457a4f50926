package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/moatdns/moat/internal/dhcpopts"
)

// DHCPRange is one IPv4 dhcp-range:
//
//	[tag:<tag>,...][set:<tag>,]<start>[,<end>|static][,<netmask>[,<broadcast>]][,<lease time>]
type DHCPRange struct {
	Tags   Tags   // tag: filters: the range serves only clients with these tags
	SetTag string // set:<tag> (or a bare word): tag of clients served from this range; "" none
	Start  netip.Addr
	End    netip.Addr // == Start for a static range
	// Static ranges hand out only dhcp-host addresses of their subnet.
	Static    bool
	Netmask   netip.Addr // invalid: the interface's netmask
	Broadcast netip.Addr // invalid: derived from the netmask
	Lease     LeaseTime  // 0: DefaultLeaseTime
}

// LeaseOrDefault is the range's lease time, DefaultLeaseTime if none was given.
func (r DHCPRange) LeaseOrDefault() LeaseTime {
	if r.Lease == 0 {
		return DefaultLeaseTime
	}
	return r.Lease
}

// isRangeAddressText reports whether s holds only what dnsmasq accepts in
// an address (digits, hex letters, '.', ':' and spaces): the first field
// of a dhcp-range that is not a tag.
func isRangeAddressText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == ' ' || c == '.' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// setDHCPRange follows dnsmasq 2.90's --dhcp-range: leading fields that
// are not addresses are tags, then up to seven fields.
func setDHCPRange(p *parser, v value, _ location) error {
	var r DHCPRange
	fields := v.split(',')
	for len(fields) > 1 && !isRangeAddressText(fields[0].text) {
		f := fields[0]
		fields = fields[1:]
		if rest, ok := cutPrefix(f, "tag:"); ok || strings.HasPrefix(f.text, "net:") {
			if !ok {
				rest = f.slice(4, len(f.text))
			}
			if rest.text == "" {
				continue // dnsmasq ignores an empty tag: here
			}
			if err := checkTag(rest.text, false); err != nil {
				return err
			}
			r.Tags = append(r.Tags, rest.text)
			continue
		}
		if r.SetTag != "" {
			return errors.New("only one tag allowed (one set:<tag>; filters are tag:<tag>)")
		}
		name, _ := cutPrefix(f, "set:")
		if err := checkTag(name.text, true); err != nil {
			return err
		}
		r.SetTag = name.text
	}
	if len(fields) > 7 {
		return fmt.Errorf("%q: too many fields", v.text)
	}
	if len(fields) < 2 {
		if len(fields) == 1 && strings.Contains(fields[0].text, ":") {
			return fmt.Errorf("IPv6 range %q: %w", fields[0].text, dhcpopts.ErrNotSupportedV6)
		}
		return errors.New("bad dhcp-range: needs a start address and an end address or \"static\"")
	}
	start, ok := parseIPv4(fields[0].text)
	if !ok {
		if a, err := netip.ParseAddr(fields[0].text); err == nil && a.Is6() {
			// An ra-only range serves no DHCPv6 at all: say what it
			// needs, as libvirt's IPv6 networks write it.
			for _, f := range fields[1:] {
				if f.text == "ra-only" {
					return fmt.Errorf("IPv6 range starting at %s, ra-only (IPv6 router advertisements): %w", fields[0].text, dhcpopts.ErrNotSupportedV6)
				}
			}
			return fmt.Errorf("IPv6 range starting at %s: %w", fields[0].text, dhcpopts.ErrNotSupportedV6)
		}
		return fmt.Errorf("bad dhcp-range: %q is not an IPv4 address", fields[0].text)
	}
	r.Start, r.End = start, start
	switch end := fields[1].text; end {
	case "static":
		r.Static = true
	case "proxy":
		return notYet("proxy-DHCP (dhcp-range mode \"proxy\")")
	default:
		a, ok := parseIPv4(end)
		if !ok {
			return fmt.Errorf("bad dhcp-range: end %q is not an IPv4 address, \"static\" or \"proxy\"", end)
		}
		r.End = a
		if r.End.Less(r.Start) {
			r.Start, r.End = r.End, r.Start
		}
	}
	leasePos := 2
	if len(fields) > 2 && strings.Contains(fields[2].text, ".") {
		if mask, ok := parseIPv4(fields[2].text); ok {
			if !isNetmask(mask) {
				return fmt.Errorf("bad dhcp-range: %s is not a netmask", mask)
			}
			r.Netmask = mask
			leasePos = 3
			if !sameNet(r.Start, r.End, mask) {
				return fmt.Errorf("inconsistent DHCP range: %s and %s are not in one %s network", r.Start, r.End, mask)
			}
			if len(fields) > 3 && strings.Contains(fields[3].text, ".") {
				if b, ok := parseIPv4(fields[3].text); ok {
					r.Broadcast = b
					leasePos = 4
				}
			}
		}
	}
	switch rest := fields[leasePos:]; {
	case len(rest) > 1:
		return fmt.Errorf("bad dhcp-range: unexpected %q after the lease time", rest[1].text)
	case len(rest) == 0 || rest[0].text == "":
		// no lease time (dnsmasq accepts a trailing comma)
	case rest[0].text == "deprecated":
		return errors.New(`bad dhcp-range: "deprecated" applies only to IPv6 ranges`)
	default:
		l, err := parseLeaseTime(rest[0].text)
		if err != nil {
			return fmt.Errorf("bad dhcp-range: %w", err)
		}
		r.Lease = l
	}
	p.cfg.DHCP.Ranges = append(p.cfg.DHCP.Ranges, r)
	return nil
}

// isNetmask reports whether m is a contiguous IPv4 netmask.
func isNetmask(m netip.Addr) bool {
	b := m.As4()
	inv := ^(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	return inv&(inv+1) == 0
}

// sameNet reports whether a and b are in the same network under mask.
func sameNet(a, b, mask netip.Addr) bool {
	x, y, m := a.As4(), b.As4(), mask.As4()
	for i := range m {
		if x[i]&m[i] != y[i]&m[i] {
			return false
		}
	}
	return true
}

// rangeFields prints a DHCPRange in the form setDHCPRange reads.
func rangeFields(r DHCPRange) []string {
	var f []string
	for _, t := range r.Tags {
		f = append(f, "tag:"+t)
	}
	if r.SetTag != "" {
		f = append(f, "set:"+r.SetTag)
	}
	f = append(f, r.Start.String())
	if r.Static {
		f = append(f, "static")
	} else {
		f = append(f, r.End.String())
	}
	if r.Netmask.IsValid() {
		f = append(f, r.Netmask.String())
		if r.Broadcast.IsValid() {
			f = append(f, r.Broadcast.String())
		}
	}
	if r.Lease != 0 {
		f = append(f, r.Lease.String())
	}
	return f
}
