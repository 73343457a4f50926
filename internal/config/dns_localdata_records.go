package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Handlers for the record options of LocalData, one per option, following
// dnsmasq 2.90's option.c; where dnsmasq silently accepts nonsense (two
// IPv4 addresses in one host-record, a CAA flags byte of 300, a dns-rr type
// above 65535) moat reports an error.

// setHostRecord: host-record=name[,name...],[ipv4],[ipv6][,ttl]. Fields
// may come in any order, as in dnsmasq: a field of digits is the TTL, an
// address is an address, anything else a name.
func setHostRecord(p *parser, v value, at location) error {
	parts := v.split(',')
	if len(parts) < 2 {
		return errors.New("want name[,name...],[IPv4],[IPv6][,TTL]")
	}
	r := HostRecord{Source: at.String()}
	for _, part := range parts {
		f := part.text
		if f == "" {
			continue // dnsmasq skips empty fields ("name,,::1")
		}
		if isDecimal(f) {
			if r.HasTTL {
				return fmt.Errorf("%q: a second TTL", f)
			}
			n, err := parseDecimal(f, maxTTL, "a TTL")
			if err != nil {
				return err
			}
			r.TTL, r.HasTTL = uint32(n), true
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			switch {
			case a.Zone() != "":
				return fmt.Errorf("%q: no zone allowed", f)
			case a.Is4() && r.V4.IsValid():
				return fmt.Errorf("%q: a second IPv4 address (use another host-record)", f)
			case a.Is4():
				r.V4 = a
			case r.V6.IsValid():
				return fmt.Errorf("%q: a second IPv6 address (use another host-record)", f)
			default:
				r.V6 = a
			}
			continue
		}
		name, err := localName(f, "host name")
		if err != nil {
			return err
		}
		r.Names = append(r.Names, name)
	}
	switch {
	case len(r.Names) == 0:
		return errors.New("no name")
	case !r.V4.IsValid() && !r.V6.IsValid():
		return errors.New("no address")
	}
	p.cfg.Local.HostRecords = append(p.cfg.Local.HostRecords, r)
	return nil
}

// setCNAME: cname=alias[,alias...],target[,ttl]. The last field is a TTL
// when it is a number and at least two fields precede it.
func setCNAME(p *parser, v value, at location) error {
	parts := v.split(',')
	if len(parts) < 2 {
		return errors.New("want alias[,alias...],target[,TTL]")
	}
	r := CNAME{Source: at.String()}
	if last := parts[len(parts)-1].text; len(parts) >= 3 && isDecimal(last) {
		n, err := parseDecimal(last, maxTTL, "a TTL")
		if err != nil {
			return err
		}
		r.TTL, r.HasTTL = uint32(n), true
		parts = parts[:len(parts)-1]
	}
	target, err := localName(parts[len(parts)-1].text, "CNAME target")
	if err != nil {
		return err
	}
	r.Target = target
	for _, part := range parts[:len(parts)-1] {
		alias, err := localName(part.text, "CNAME alias")
		if err != nil {
			return err
		}
		if src, dup := p.cnameSource(alias, r.Aliases); dup {
			return fmt.Errorf("duplicate CNAME %q (first at %s)", alias, src)
		}
		r.Aliases = append(r.Aliases, alias)
	}
	for _, alias := range r.Aliases {
		if chainLoops(p.cfg.Local.CNAMEs, r, alias) {
			return fmt.Errorf("CNAME loop involving %q", alias)
		}
	}
	p.cfg.Local.CNAMEs = append(p.cfg.Local.CNAMEs, r)
	return nil
}

// cnameSource finds an alias already defined, in earlier lines or earlier
// in this one.
func (p *parser) cnameSource(alias string, thisLine []string) (string, bool) {
	for _, a := range thisLine {
		if a == alias {
			return "this line", true
		}
	}
	for _, c := range p.cfg.Local.CNAMEs {
		for _, a := range c.Aliases {
			if a == alias {
				return c.Source, true
			}
		}
	}
	return "", false
}

// chainLoops follows the CNAME chain from alias through the existing
// records and next; a chain longer than the number of records is a loop.
func chainLoops(existing []CNAME, next CNAME, alias string) bool {
	targetOf := func(name string) (string, bool) {
		for _, a := range next.Aliases {
			if a == name {
				return next.Target, true
			}
		}
		for _, c := range existing {
			for _, a := range c.Aliases {
				if a == name {
					return c.Target, true
				}
			}
		}
		return "", false
	}
	name := alias
	for range len(existing) + 2 {
		t, ok := targetOf(name)
		if !ok {
			return false
		}
		if t == alias {
			return true
		}
		name = t
	}
	return true
}

// setSRV: srv-host=_service._proto[.domain][,target[,port[,priority[,weight]]]].
func setSRV(p *parser, v value, at location) error {
	parts := v.split(',')
	if len(parts) > 5 {
		return errors.New("too many fields (want name,target,port,priority,weight)")
	}
	name, err := localName(parts[0].text, "SRV name")
	if err != nil {
		return err
	}
	r := SRV{Name: name, Port: 1, Source: at.String()}
	if len(parts) > 1 {
		if r.Target, err = targetName(parts[1].text, "SRV target"); err != nil {
			return err
		}
	}
	fields := []*uint16{&r.Port, &r.Priority, &r.Weight}
	words := []string{"port number", "priority", "weight"}
	for i, part := range parts[min(len(parts), 2):] {
		n, err := parseDecimal(part.text, 65535, "a "+words[i])
		if err != nil {
			return fmt.Errorf("invalid %s: %w", words[i], err)
		}
		*fields[i] = uint16(n)
	}
	p.cfg.Local.SRVs = append(p.cfg.Local.SRVs, r)
	return nil
}

// setTXT: txt-record=name[,text...]; quotes protect commas in a text.
func setTXT(p *parser, v value, at location) error {
	parts := v.split(',')
	name, err := localName(parts[0].text, "TXT name")
	if err != nil {
		return err
	}
	r := TXT{Name: name, Source: at.String()}
	for _, part := range parts[1:] {
		r.Strings = append(r.Strings, part.text)
	}
	p.cfg.Local.TXTs = append(p.cfg.Local.TXTs, r)
	return nil
}

// setMX: mx-host=name[[,target],preference]. The man page's form is used
// for two fields: "name,5" is preference 5 (dnsmasq 2.90 takes it for a
// target named "5").
func setMX(p *parser, v value, at location) error {
	parts := v.split(',')
	if len(parts) > 3 {
		return errors.New("too many fields (want name,target,preference)")
	}
	name, err := localName(parts[0].text, "MX name")
	if err != nil {
		return err
	}
	r := MX{Name: name, Pref: 1, Source: at.String()}
	var target, pref *value
	switch rest := parts[1:]; len(rest) {
	case 1:
		if isDecimal(rest[0].text) {
			pref = &rest[0]
		} else {
			target = &rest[0]
		}
	case 2:
		target, pref = &rest[0], &rest[1]
	}
	if target != nil {
		if r.Target, err = targetName(target.text, "MX target"); err != nil {
			return err
		}
		r.HasTarget = true
	}
	if pref != nil {
		n, err := parseDecimal(pref.text, 65535, "an MX preference")
		if err != nil {
			return fmt.Errorf("bad MX preference: %w", err)
		}
		r.Pref = uint16(n)
	}
	p.cfg.Local.MXs = append(p.cfg.Local.MXs, r)
	return nil
}

// setPTR: ptr-record=name[,target]; no target answers the root name.
func setPTR(p *parser, v value, at location) error {
	parts := v.split(',')
	if len(parts) > 2 {
		return errors.New("too many fields (want name,target)")
	}
	name, err := localName(parts[0].text, "PTR name")
	if err != nil {
		return err
	}
	r := PTR{Name: name, Source: at.String()}
	if len(parts) == 2 {
		if r.Target, err = targetName(parts[1].text, "PTR target"); err != nil {
			return err
		}
	}
	p.cfg.Local.PTRs = append(p.cfg.Local.PTRs, r)
	return nil
}

// setNAPTR: naptr-record=name,order,preference,flags,service,regexp[,replacement].
func setNAPTR(p *parser, v value, at location) error {
	parts := v.split(',')
	if len(parts) < 6 || len(parts) > 7 {
		return errors.New("want name,order,preference,flags,service,regexp[,replacement]")
	}
	name, err := localName(parts[0].text, "NAPTR name")
	if err != nil {
		return err
	}
	r := NAPTR{Name: name, Source: at.String(), Flags: parts[3].text, Service: parts[4].text, Regexp: parts[5].text}
	order, err := parseDecimal(parts[1].text, 65535, "an order")
	if err != nil {
		return fmt.Errorf("bad NAPTR order: %w", err)
	}
	pref, err := parseDecimal(parts[2].text, 65535, "a preference")
	if err != nil {
		return fmt.Errorf("bad NAPTR preference: %w", err)
	}
	r.Order, r.Pref = uint16(order), uint16(pref)
	for _, s := range []string{r.Flags, r.Service, r.Regexp} {
		if len(s) > 255 {
			return fmt.Errorf("%.20q...: a NAPTR string is at most 255 bytes", s)
		}
	}
	if len(parts) == 7 {
		if r.Replacement, err = targetName(parts[6].text, "NAPTR replacement"); err != nil {
			return err
		}
	}
	p.cfg.Local.NAPTRs = append(p.cfg.Local.NAPTRs, r)
	return nil
}

// setCAA: caa-record=name,flags,tag,value.
func setCAA(p *parser, v value, at location) error {
	parts := v.split(',')
	if len(parts) != 4 {
		return errors.New("want name,flags,tag,value")
	}
	name, err := localName(parts[0].text, "CAA name")
	if err != nil {
		return err
	}
	flags, err := parseDecimal(parts[1].text, 255, "a flags byte")
	if err != nil {
		return fmt.Errorf("bad CAA flags: %w", err)
	}
	tag := parts[2].text
	if tag == "" || len(tag) > 255 {
		return fmt.Errorf("%q: a CAA tag is 1 to 255 bytes", tag)
	}
	p.cfg.Local.CAAs = append(p.cfg.Local.CAAs, CAA{Name: name, Flags: uint8(flags), Tag: tag, Value: parts[3].text, Source: at.String()})
	return nil
}

// setRR: dns-rr=name,type[,hex]; the hex may separate bytes with ':' or
// spaces ("01:23:45", "01 23 45", "012345").
func setRR(p *parser, v value, at location) error {
	name, rest, found := v.cut(',')
	if !found {
		return errors.New("want name,type[,hex data]")
	}
	typeText, data, _ := rest.cut(',')
	n, err := localName(name.text, "RR name")
	if err != nil {
		return err
	}
	t, err := parseDecimal(typeText.text, 65535, "an RR type number")
	if err != nil {
		return err
	}
	if t == 0 {
		return errors.New("type 0 is not an RR type")
	}
	raw, err := parseHexData(data.text)
	if err != nil {
		return err
	}
	p.cfg.Local.RRs = append(p.cfg.Local.RRs, RR{Name: n, Type: uint16(t), Data: raw, Source: at.String()})
	return nil
}

// parseHexData reads dns-rr data: groups separated by ':' or spaces, each
// one hex digit (one byte) or an even number of digits.
func parseHexData(s string) ([]byte, error) {
	var out []byte
	for _, group := range strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ' ' }) {
		if len(group) == 1 {
			group = "0" + group
		}
		if len(group)%2 != 0 {
			return nil, fmt.Errorf("%q: odd number of hex digits", group)
		}
		b, err := hex.DecodeString(group)
		if err != nil {
			return nil, fmt.Errorf("%q is not hex data", group)
		}
		out = append(out, b...)
	}
	if len(out) > 65535 {
		return nil, errors.New("more than 65535 bytes of data")
	}
	return out, nil
}
