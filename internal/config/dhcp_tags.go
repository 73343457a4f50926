package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moatdns/moat/internal/dhcpopts"
)

// ClassKind says which client data a DHCPClassMatch looks at.
type ClassKind uint8

const (
	VendorClass ClassKind = iota // dhcp-vendorclass: option 60, substring match
	UserClass                    // dhcp-userclass: option 77, substring match
	CircuitID                    // dhcp-circuitid: relay agent option 82.1, exact match
	RemoteID                     // dhcp-remoteid: relay agent option 82.2, exact match
)

var classOptionNames = [...]string{"dhcp-vendorclass", "dhcp-userclass", "dhcp-circuitid", "dhcp-remoteid"}

// OptionName is the configuration option that makes this kind of match.
func (k ClassKind) OptionName() string { return classOptionNames[k] }

// DHCPClassMatch sets Tag for clients whose data of Kind matches Data.
type DHCPClassMatch struct {
	Kind ClassKind
	Tag  string
	Data []byte
	// Hex: the circuit or remote id was written as colon-separated hex.
	Hex bool
}

// DHCPMACMatch is dhcp-mac=set:<tag>,<hwaddr pattern>.
type DHCPMACMatch struct {
	Tag  string
	Addr HWAddr
}

// DHCPNameMatch is dhcp-name-match=set:<tag>,<name>[*]: set Tag when the
// client supplies Name (any name starting with it if Wildcard).
type DHCPNameMatch struct {
	Tag      string
	Name     string
	Wildcard bool
}

// DHCPTagIf is tag-if: set every tag of Set when all of Tags are set
// ("!x": x is not set; a final '*' matches any tag with that prefix).
type DHCPTagIf struct {
	Set  Tags
	Tags Tags
}

// setTagName reads the "set:<tag>" (or bare tag) field that starts
// dhcp-vendorclass, dhcp-mac and the like. dnsmasq strips only "set:":
// "tag:x" would name a tag "tag:x", so moat refuses it.
func setTagName(f value) (string, error) {
	name, _ := cutPrefix(f, "set:")
	if strings.HasPrefix(name.text, "tag:") {
		return "", fmt.Errorf("%q: the tag to set is written set:<tag>", f.text)
	}
	if err := checkTag(name.text, true); err != nil {
		return "", err
	}
	return name.text, nil
}

func setDHCPVendorClass(p *parser, v value, _ location) error {
	return addClassMatch(p, v, VendorClass)
}
func setDHCPUserClass(p *parser, v value, _ location) error { return addClassMatch(p, v, UserClass) }
func setDHCPCircuitID(p *parser, v value, _ location) error { return addClassMatch(p, v, CircuitID) }
func setDHCPRemoteID(p *parser, v value, _ location) error  { return addClassMatch(p, v, RemoteID) }

// addClassMatch: set:<tag>,<data>. The data is one field: a comma inside
// it must be quoted. A circuit or remote id of hex digits and colons is
// read as hex bytes.
func addClassMatch(p *parser, v value, kind ClassKind) error {
	tagField, rest, found := v.cut(',')
	if !found {
		return fmt.Errorf("needs set:<tag>,<%s>", strings.TrimPrefix(kind.OptionName(), "dhcp-"))
	}
	tag, err := setTagName(tagField)
	if err != nil {
		return err
	}
	if kind == VendorClass {
		if _, ok := cutPrefix(rest, "enterprise:"); ok {
			return fmt.Errorf("enterprise:<number> (IPv6 vendor classes): %w", dhcpopts.ErrNotSupportedV6)
		}
	}
	if hasUnquoted(rest, ',') {
		return fmt.Errorf("%q: only one class (quote a comma that belongs to it)", rest.text)
	}
	m := DHCPClassMatch{Kind: kind, Tag: tag, Data: []byte(rest.text)}
	if (kind == CircuitID || kind == RemoteID) && isHexID(rest) {
		b, err := parseClientIDHex(rest.text)
		if err != nil {
			return err
		}
		m.Data, m.Hex = b, true
	}
	if len(m.Data) > 255 {
		return errors.New("longer than an option can be (255 bytes)")
	}
	p.cfg.DHCP.Classes = append(p.cfg.DHCP.Classes, m)
	return nil
}

// isHexID is dnsmasq's test for a hex relay agent id: unquoted hex digits
// and colons only, with at least one of each.
func isHexID(v value) bool {
	dig, colon := false, false
	for i := 0; i < len(v.text); i++ {
		c := v.text[i]
		switch {
		case v.isQuoted(i):
			return false
		case c >= '0' && c <= '9' || isHexLetterByte(c):
			dig = true
		case c == ':':
			colon = true
		default:
			return false
		}
	}
	return dig && colon
}

func isHexLetterByte(c byte) bool { return c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// setDHCPMAC: dhcp-mac=set:<tag>,<MAC address, with * wildcards>.
func setDHCPMAC(p *parser, v value, _ location) error {
	tagField, rest, found := v.cut(',')
	if !found {
		return errors.New("needs set:<tag>,<MAC address>")
	}
	tag, err := setTagName(tagField)
	if err != nil {
		return err
	}
	hw, err := parseHWAddr(rest.text, true)
	if err != nil {
		return err
	}
	p.cfg.DHCP.MACs = append(p.cfg.DHCP.MACs, DHCPMACMatch{Tag: tag, Addr: hw})
	return nil
}

// setDHCPNameMatch: dhcp-name-match=set:<tag>,<name>[*].
func setDHCPNameMatch(p *parser, v value, _ location) error {
	tagField, rest, found := v.cut(',')
	if !found || rest.text == "" {
		return errors.New("needs set:<tag>,<name>[*]")
	}
	tag, err := setTagName(tagField)
	if err != nil {
		return err
	}
	m := DHCPNameMatch{Tag: tag, Name: rest.text}
	if strings.HasSuffix(m.Name, "*") {
		m.Name, m.Wildcard = strings.TrimSuffix(m.Name, "*"), true
	}
	for i := 0; i < len(m.Name); i++ {
		if c := m.Name[i]; c <= ' ' || c >= 0x7f || c == ',' || c == '"' || c == '*' {
			return fmt.Errorf("%q is not a host name (character %q)", rest.text, c)
		}
	}
	p.cfg.DHCP.NameMatches = append(p.cfg.DHCP.NameMatches, m)
	return nil
}

// setTagIf: tag-if=set:<tag>[,set:<tag>...][,tag:<tag>...], in any order.
func setTagIf(p *parser, v value, _ location) error {
	var t DHCPTagIf
	for _, f := range v.split(',') {
		if name, ok := cutPrefix(f, "set:"); ok {
			if err := checkTag(name.text, true); err != nil {
				return fmt.Errorf("bad tag-if: %w", err)
			}
			t.Set = append(t.Set, name.text)
			continue
		}
		name, ok := cutPrefix(f, "tag:")
		if !ok {
			return fmt.Errorf("bad tag-if: %q is neither set:<tag> nor tag:<tag>", f.text)
		}
		if err := checkTag(name.text, false); err != nil {
			return fmt.Errorf("bad tag-if: %w", err)
		}
		t.Tags = append(t.Tags, name.text)
	}
	if len(t.Set) == 0 {
		return errors.New("bad tag-if: nothing to set (needs set:<tag>)")
	}
	p.cfg.DHCP.TagIfs = append(p.cfg.DHCP.TagIfs, t)
	return nil
}

// parseTagList reads the tags of dhcp-ignore and the like: "tag:x",
// "net:x" or a bare "x". An absent value is the empty list.
func parseTagList(v value) (Tags, error) {
	if !v.given {
		return nil, nil
	}
	var out Tags
	for _, f := range v.split(',') {
		name, ok := cutPrefix(f, "tag:")
		if !ok {
			name, _ = cutPrefix(f, "net:")
		}
		if err := checkTag(name.text, false); err != nil {
			return nil, err
		}
		out = append(out, name.text)
	}
	return out, nil
}

func setDHCPIgnore(p *parser, v value, _ location) error {
	t, err := parseTagList(v)
	if err != nil {
		return err
	}
	p.cfg.DHCP.Ignore = append(p.cfg.DHCP.Ignore, t)
	return nil
}

func setDHCPIgnoreNames(p *parser, v value, _ location) error {
	t, err := parseTagList(v)
	if err != nil {
		return err
	}
	p.cfg.DHCP.IgnoreNames = append(p.cfg.DHCP.IgnoreNames, t)
	return nil
}

func setDHCPGenerateNames(p *parser, v value, _ location) error {
	t, err := parseTagList(v)
	if err != nil {
		return err
	}
	p.cfg.DHCP.GenerateNames = append(p.cfg.DHCP.GenerateNames, t)
	return nil
}

func setDHCPBroadcast(p *parser, v value, _ location) error {
	t, err := parseTagList(v)
	if err != nil {
		return err
	}
	p.cfg.DHCP.Broadcast = append(p.cfg.DHCP.Broadcast, t)
	return nil
}
