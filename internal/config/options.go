package config

import (
	"fmt"
	"sort"
	"strings"
)

// ArgKind says whether an option takes a value.
type ArgKind int

const (
	// ArgNone: a flag; "name=value" is an error.
	ArgNone ArgKind = iota
	// ArgRequired: "name=value" in files; "--name=value" or "--name value"
	// on the command line.
	ArgRequired
	// ArgOptional: "name" or "name=value"; on the command line only
	// "--name=value" attaches a value (getopt_long rules).
	ArgOptional
)

func (k ArgKind) String() string {
	switch k {
	case ArgNone:
		return "none"
	case ArgRequired:
		return "required"
	case ArgOptional:
		return "optional"
	}
	return fmt.Sprintf("ArgKind(%d)", int(k))
}

// OptionInfo describes one option for --help and the man page.
type OptionInfo struct {
	Name  string  // long name, as in files: "port"
	Short rune    // short letter on the command line ('p'), 0 for none
	Arg   ArgKind // whether it takes a value
	// ShortArg reports whether the short form takes a value; dnsmasq's
	// short options take one whenever the long form may (-c 150 but
	// --cache-size=150), except -q and -1, which take none.
	ShortArg    bool
	Meta        string // placeholder for the value in help: "<port>"
	Help        string // one line
	Implemented bool   // false: recognised, rejected as "unsupported option"
	Moat        bool   // moat's own option, not dnsmasq's
	// CommandLineOnly options are actions (test, help, ...), an error in files.
	CommandLineOnly bool
	// Once: dnsmasq's single-valued options. Giving one twice on the
	// command line, or twice in files, is an error; one given in a file
	// overrides the command line (dnsmasq reads files after the command
	// line).
	Once bool
	// Needs names the subsystem moat has not built yet that an
	// unimplemented option needs (NeedsDHCPv6, ...); "" when none is
	// named. The error for the option says so.
	Needs string
	// Inert options are accepted so that the configurations using them
	// keep working, but moat does not act on them (enable-dbus, dnssec,
	// ipset...): Config.Warnings says so at start and in --test, and the
	// help text says what happens instead.
	Inert bool
}

// The subsystems moat has not built yet, named in Needs and in the error
// for an option that needs one.
const (
	NeedsDHCPv6    = "DHCPv6"
	NeedsRA        = "IPv6 router advertisements"
	NeedsTFTP      = "TFTP"
	NeedsDHCPRelay = "DHCP relaying"
)

// option is one row of the table: its description plus how to apply it.
type option struct {
	OptionInfo
	apply handler // nil for options moat does not implement yet
	// exactOnly: an alternative spelling (filter-aaaa) that a shortened
	// --name on the command line never selects.
	exactOnly bool
}

// handler applies one occurrence of an option to the parser's Config.
// It returns what is wrong with the value, without location or option
// name (the caller adds both).
type handler func(p *parser, v value, at location) error

// opt starts a table row for a dnsmasq option moat does not implement.
func opt(name string, short rune, arg ArgKind, meta, help string) option {
	return option{OptionInfo: OptionInfo{Name: name, Short: short, Arg: arg, Meta: meta, Help: help}}
}

// does marks the row implemented by h.
func (o option) does(h handler) option {
	o.apply = h
	o.Implemented = true
	return o
}

// needs marks an unimplemented row as waiting for a subsystem moat has not
// built yet.
func (o option) needs(subsystem string) option { o.Needs = subsystem; return o }

// inert marks an implemented row that moat accepts without acting on it.
func (o option) inert() option { o.Inert = true; return o }

// once marks a single-valued option (dnsmasq's ARG_ONE).
func (o option) once() option { o.Once = true; return o }

// cmdLineOnly marks an action that files may not contain.
func (o option) cmdLineOnly() option { o.CommandLineOnly = true; return o }

// moat marks one of moat's own options.
func (o option) moat() option { o.Moat = true; return o }

// dnsmasqShortOptions is dnsmasq 2.90's getopt string (OPTSTRING in
// option.c): a letter followed by ':' takes a value.
const dnsmasqShortOptions = "951yZDNLERKzowefnbvhdkqr:m:p:c:l:s:i:t:u:g:a:x:S:C:A:T:H:Q:I:B:F:G:O:M:X:V:U:j:P:J:W:Y:2:4:6:7:8:0:3:"

var (
	byName  map[string]*option
	byShort map[rune]*option
)

func init() {
	takesArg := map[rune]bool{}
	for i, c := range dnsmasqShortOptions {
		if c == ':' {
			continue
		}
		takesArg[c] = i+1 < len(dnsmasqShortOptions) && dnsmasqShortOptions[i+1] == ':'
	}
	byName = make(map[string]*option, len(table))
	byShort = map[rune]*option{}
	for i := range table {
		o := &table[i]
		if _, dup := byName[o.Name]; dup {
			panic("config: option " + o.Name + " twice in the table")
		}
		byName[o.Name] = o
		if o.Short != 0 {
			if _, dup := byShort[o.Short]; dup {
				panic("config: short option " + string(o.Short) + " twice in the table")
			}
			byShort[o.Short] = o
			o.ShortArg = takesArg[o.Short]
		}
	}
}

// Options returns every option moat recognises, dnsmasq's in dnsmasq's
// table order followed by moat's own.
func Options() []OptionInfo {
	out := make([]OptionInfo, len(table))
	for i := range table {
		out[i] = table[i].OptionInfo
	}
	return out
}

// lookupLong finds a command-line long option by exact name or, as GNU
// getopt_long allows, by an unambiguous prefix.
func lookupLong(name string) (*option, error) {
	if o, ok := byName[name]; ok {
		return o, nil
	}
	var matches []string
	if name != "" {
		for n, o := range byName {
			if strings.HasPrefix(n, name) && !o.exactOnly {
				matches = append(matches, n)
			}
		}
	}
	switch len(matches) {
	case 0:
		return nil, errUnknownOption
	case 1:
		return byName[matches[0]], nil
	}
	sort.Strings(matches)
	return nil, fmt.Errorf("ambiguous option; could be %s", strings.Join(matches, ", "))
}
