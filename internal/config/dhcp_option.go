package config

import (
	"strconv"
	"strings"

	"github.com/moatdns/moat/internal/dhcpopts"
)

// DHCPOption is one dhcp-option or dhcp-option-force: the option, its
// tags and encapsulation, and its value as sent (see dhcpopts.Spec).
type DHCPOption struct {
	dhcpopts.Spec
	// Force (dhcp-option-force): send the option even when the client
	// does not ask for it.
	Force bool
}

func setDHCPOption(p *parser, v value, _ location) error {
	return addDHCPOption(p, v, false)
}

func setDHCPOptionForce(p *parser, v value, _ location) error {
	return addDHCPOption(p, v, true)
}

func addDHCPOption(p *parser, v value, force bool) error {
	s, err := parseOptionSpec(v, false)
	if err != nil {
		return err
	}
	p.cfg.DHCP.Options = append(p.cfg.DHCP.Options, DHCPOption{Spec: s, Force: force})
	return nil
}

// setDHCPMatch: dhcp-match=set:<tag>,<option>|option:<name>|vi-encap:<n>[,<value>].
func setDHCPMatch(p *parser, v value, _ location) error {
	s, err := parseOptionSpec(v, true)
	if err != nil {
		return err
	}
	p.cfg.DHCP.Matches = append(p.cfg.DHCP.Matches, s)
	return nil
}

// parseOptionSpec parses and checks the tags of an option spec.
func parseOptionSpec(v value, match bool) (dhcpopts.Spec, error) {
	s, err := dhcpopts.ParseSpec(dhcpopts.Value{Text: v.text, Quoted: v.quoted}, match)
	if err != nil {
		return dhcpopts.Spec{}, err
	}
	for _, t := range s.Tags {
		if err := checkTag(t, match); err != nil {
			return dhcpopts.Spec{}, err
		}
	}
	if len(s.Tags) == 0 {
		s.Tags = nil
	}
	return s, nil
}

// specText prints an option spec in the form ParseSpec reads.
func specText(s dhcpopts.Spec) string {
	var f []string
	for i, t := range s.Tags {
		if s.Context == dhcpopts.Match && i == 0 {
			f = append(f, "set:"+t)
		} else {
			f = append(f, "tag:"+t)
		}
	}
	switch s.Context {
	case dhcpopts.Vendor:
		f = append(f, "vendor:"+quoteDHCPField(s.VendorClass))
	case dhcpopts.Encap:
		f = append(f, "encap:"+strconv.Itoa(int(s.Encap)))
	case dhcpopts.VIEncap:
		f = append(f, "vi-encap:"+strconv.FormatUint(uint64(s.Enterprise), 10))
	case dhcpopts.Match:
		if s.NoOption {
			f = append(f, "vi-encap:"+strconv.FormatUint(uint64(s.Enterprise), 10))
		}
	}
	switch {
	case s.NoOption:
	case s.Name != "":
		f = append(f, "option:"+s.Name)
	default:
		f = append(f, strconv.Itoa(int(s.Code)))
	}
	if s.Encoded.Kind != dhcpopts.KindEmpty {
		f = append(f, optionValueText(s))
	}
	return strings.Join(f, ",")
}

// optionValueText writes an option value so that it reads back the
// same: a literal string in quotes (all but its commas, which dnsmasq
// would not split anyway), other strings quoted only where the line
// syntax needs it, and everything else as it is.
func optionValueText(s dhcpopts.Spec) string {
	switch {
	case s.Literal:
		parts := strings.Split(s.Value, ",")
		for i, p := range parts {
			parts[i] = forceQuote(p)
		}
		return strings.Join(parts, ",")
	case s.Encoded.Kind == dhcpopts.KindString && needsQuotes(s.Value):
		return forceQuote(s.Value)
	}
	return s.Value
}
