package dhcpopts

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Spec is one parsed dhcp-option, dhcp-option-force or dhcp-match value:
//
//	[tag:<tag>,...][encap:<opt>,|vi-encap:<enterprise>,|vendor:[<class>],]<opt>|option:<name>[,<value>]
type Spec struct {
	// Tags are the tag filters, without their "tag:" prefix; "!x" means
	// "x not set". As in dnsmasq, a bare word and "set:x" also count as
	// tags here (for dhcp-match the single tag is the one to set).
	Tags []string
	// Context is TopLevel, or the encapsulation given by vendor:, encap:
	// or vi-encap:; Match for dhcp-match.
	Context Context
	// VendorClass is the class of vendor:<class> (may be empty: every
	// client), Encap the option of encap:<opt>, Enterprise the number of
	// vi-encap:<enterprise>.
	VendorClass string
	Encap       uint8
	Enterprise  uint32
	// Code is the option number; for "dhcp-match=set:x,vi-encap:<n>"
	// with no option it is 0 and NoOption is set.
	Code     uint8
	NoOption bool
	// Name is the name after "option:" as the table spells it, "" when
	// the option was given by number.
	Name string
	// Value is the text after the option number (nothing quoted is
	// kept: see Literal).
	Value string
	// Literal: the value reads as written only in quotes (a string that
	// would otherwise be a number, addresses or hex). Writing every
	// character of Value except commas inside quotes gives it back.
	Literal bool
	// Encoded is the value as it goes on the wire.
	Encoded Encoded
}

// ErrNotSupportedV6 marks the DHCPv6 forms (option6:) that moat does not
// implement yet.
var ErrNotSupportedV6 = errors.New("not supported yet (DHCPv6)")

// ParseSpec parses a dhcp-option value (match: a dhcp-match value) as
// dnsmasq 2.90's parse_dhcp_opt does: leading tag, vendor:, encap: and
// vi-encap: words, then the option number or option:<name>, then the
// value (everything after the next unquoted comma). Commas and spaces
// inside quotes do not separate.
func ParseSpec(v Value, match bool) (Spec, error) {
	var s Spec
	if match {
		s.Context = Match
	}
	wrapped := false
	rest := v
	for {
		tok, after, more := cutValue(rest)
		text := tok.Text
		switch {
		case text != "" && allDigits(text) && !tok.anyQuoted():
			n, err := strconv.ParseUint(text, 10, 16)
			if err != nil || n == 0 || n > 255 {
				return Spec{}, fmt.Errorf("bad dhcp-option: option number %s (must be 1 to 255)", text)
			}
			s.Code = uint8(n)
		case tok.hasPrefix("option:"):
			o, ok := ByName(text[len("option:"):])
			if !ok || tok.anyQuoted() {
				return Spec{}, fmt.Errorf("bad dhcp-option: unknown option name %q (see moatd --help dhcp)", text[len("option:"):])
			}
			if o.Internal && !match {
				return Spec{}, fmt.Errorf("bad dhcp-option: %s is set by the server itself", o.Name)
			}
			s.Code, s.Name = o.Code, o.Name
		case tok.hasPrefix("option6:"):
			return Spec{}, fmt.Errorf("%q: %w", text, ErrNotSupportedV6)
		case tok.hasPrefix("vendor:"):
			if match || wrapped {
				return Spec{}, errors.New("inappropriate vendor:<class> (not in dhcp-match, and not with encap: or vi-encap:)")
			}
			wrapped = true
			s.Context, s.VendorClass = Vendor, text[len("vendor:"):]
			rest = after
			if !more {
				return Spec{}, errors.New("bad dhcp-option: no option number follows vendor:<class>")
			}
			continue
		case tok.hasPrefix("encap:"):
			n, err := strconv.ParseUint(text[len("encap:"):], 10, 8)
			if match || wrapped || err != nil || n == 0 || n == 255 || tok.anyQuoted() {
				return Spec{}, fmt.Errorf("inappropriate %s (needs an option number 1 to 254, and no vendor:, vi-encap: or dhcp-match)", text)
			}
			wrapped = true
			s.Context, s.Encap = Encap, uint8(n)
			rest = after
			if !more {
				return Spec{}, errors.New("bad dhcp-option: no option number follows encap:<option>")
			}
			continue
		case tok.hasPrefix("vi-encap:"):
			n, err := strconv.ParseUint(text[len("vi-encap:"):], 10, 32)
			if wrapped || err != nil || tok.anyQuoted() {
				return Spec{}, fmt.Errorf("inappropriate %s (needs an enterprise number)", text)
			}
			wrapped = true
			s.Enterprise = uint32(n)
			if match {
				// dhcp-match=set:x,vi-encap:<n>[,<value>] has no
				// option number.
				s.NoOption = true
				return finishSpec(s, after, more)
			}
			s.Context = VIEncap
			rest = after
			if !more {
				return Spec{}, errors.New("bad dhcp-option: no option number follows vi-encap:<enterprise>")
			}
			continue
		default:
			// A tag filter: "tag:x", "net:x", "set:x" or a bare word
			// (dnsmasq matches these prefixes with case).
			name := text
			for _, p := range []string{"tag:", "net:", "set:"} {
				if tok.hasPrefix(p) {
					name = text[len(p):]
					break
				}
			}
			s.Tags = append(s.Tags, name)
			rest = after
			if !more {
				return Spec{}, errors.New("bad dhcp-option: no option number")
			}
			continue
		}
		return finishSpec(s, after, more)
	}
}

// finishSpec encodes the value that follows the option.
func finishSpec(s Spec, value Value, more bool) (Spec, error) {
	if match := s.Context == Match; match && len(s.Tags) != 1 {
		return Spec{}, errors.New("illegal dhcp-match: it needs exactly one set:<tag>")
	}
	if !more {
		value = Value{}
	}
	typ := Unknown
	if s.Name != "" || s.Context == TopLevel || s.Context == Match {
		typ = TypeOf(s.Code)
	}
	ctx := s.Context
	enc, err := Encode(s.Code, typ, ctx, value)
	if err != nil {
		return Spec{}, err
	}
	s.Value, s.Encoded = value.Text, enc
	if enc.Kind == KindDomains {
		// Keep the names as dnsmasq split them, without the spaces
		// around the commas.
		names, _ := splitNames(value)
		s.Value = strings.Join(names, ",")
	}
	if value.anyQuoted() {
		plain, err := Encode(s.Code, typ, ctx, PlainValue(s.Value))
		s.Literal = err != nil || plain.Kind != enc.Kind || !bytes.Equal(plain.Data, enc.Data)
	}
	return s, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cutValue splits v at the first unquoted comma, trimming unquoted
// spaces around both parts, as dnsmasq's split does.
func cutValue(v Value) (before, after Value, found bool) {
	for i := 0; i < len(v.Text); i++ {
		if v.Text[i] == ',' && !v.quoted(i) {
			return v.slice(0, i).trim(), v.slice(i+1, len(v.Text)).trim(), true
		}
	}
	return v.trim(), Value{}, false
}

// hasPrefix reports whether v starts with p, unquoted (dnsmasq hides
// quoted characters, so a quoted keyword is no keyword).
func (v Value) hasPrefix(p string) bool {
	if !strings.HasPrefix(v.Text, p) {
		return false
	}
	for i := range p {
		if v.quoted(i) {
			return false
		}
	}
	return true
}

func (v Value) slice(from, to int) Value {
	out := Value{Text: v.Text[from:to]}
	if v.Quoted != nil {
		out.Quoted = v.Quoted[from:to]
	}
	return out
}

func (v Value) trim() Value {
	from, to := 0, len(v.Text)
	for from < to && v.Text[from] == ' ' && !v.quoted(from) {
		from++
	}
	for to > from && v.Text[to-1] == ' ' && !v.quoted(to-1) {
		to--
	}
	return v.slice(from, to)
}
