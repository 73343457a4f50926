// Package hosts owns hosts-file data: parsing /etc/hosts-format bytes into
// entries (the master reads the files; workers never open them) and the
// read-only name table dnsd answers A, AAAA and PTR queries from.
//
// Parsing follows dnsmasq 2.90: '#' starts a comment anywhere on a line, an
// unparsable address skips the line ("bad address at FILE line N"), an
// unacceptable name skips only that name ("bad name at FILE line N"), names
// are stored lower-case without a trailing dot, and an address with no
// names is ignored silently.
package hosts

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// Entry is one line of a hosts file that carried a valid address and at
// least one valid name.
type Entry struct {
	Addr netip.Addr
	// Names are lower-case, without a trailing dot; the first is the
	// canonical name (answered for PTR).
	Names []string
	// Source names the file, for log-queries ("/etc/hosts").
	Source string
	// Line is the 1-based line number in Source.
	Line int
}

// Problem is a line or name that Parse skipped, worded as dnsmasq logs it.
type Problem struct {
	Source string
	Line   int
	// What is "bad address" or "bad name".
	What string
	// Token is the offending text (not part of dnsmasq's message, but
	// useful in moat's log).
	Token string
}

func (p Problem) Error() string {
	return fmt.Sprintf("%s at %s line %d (%q)", p.What, p.Source, p.Line, p.Token)
}

// Limits that keep a hostile or broken file from costing unbounded memory
// in the master and in dnsd.
const (
	MaxNameLen  = 253 // presentation length without the trailing dot
	MaxLabelLen = 63
)

// Parse reads hosts-file bytes. source is the file name used in entries and
// problems. Parse never fails as a whole: like dnsmasq it skips what it
// cannot use and reports each skip.
func Parse(source string, data []byte) ([]Entry, []Problem) {
	var entries []Entry
	var problems []Problem
	line := 0
	for len(data) > 0 {
		line++
		var text []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			text, data = data[:i], data[i+1:]
		} else {
			text, data = data, nil
		}
		if i := bytes.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		fields := bytes.Fields(text)
		if len(fields) == 0 {
			continue
		}
		addr, ok := parseAddr(string(fields[0]))
		if !ok {
			problems = append(problems, Problem{Source: source, Line: line, What: "bad address", Token: string(fields[0])})
			continue
		}
		var names []string
		for _, f := range fields[1:] {
			name, ok := CanonicalName(string(f))
			if !ok {
				problems = append(problems, Problem{Source: source, Line: line, What: "bad name", Token: string(f)})
				continue
			}
			names = append(names, name)
		}
		if len(names) == 0 {
			continue
		}
		entries = append(entries, Entry{Addr: addr, Names: names, Source: source, Line: line})
	}
	return entries, problems
}

// parseAddr accepts what inet_pton accepts: dotted-quad IPv4 or IPv6
// (IPv4-mapped IPv6 stays IPv6 and is answered as AAAA, as dnsmasq does),
// without a zone.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// CanonicalName validates a hosts-file or configured name and returns it
// lower-case without a trailing dot. dnsmasq is permissive about the
// characters in a name (it accepts '_', '*', '!'); it rejects control
// characters and over-long labels. moat also rejects empty labels and
// non-ASCII (dnsmasq would convert the latter with IDN; moat leaves that to
// the master's config layer), because neither can ever match a query.
func CanonicalName(s string) (string, bool) {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > MaxNameLen {
		return "", false
	}
	label := 0
	lower := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
			continue
		case c <= ' ' || c >= 0x7f || presentationSpecial(c):
			// Whitespace cannot occur (Fields split on it); controls,
			// DEL, non-ASCII, and characters that DNS presentation
			// format escapes (a query could only name them escaped, so
			// the entry could never match) are refused.
			return "", false
		case 'A' <= c && c <= 'Z':
			lower = false
		}
		label++
		if label > MaxLabelLen {
			return "", false
		}
	}
	if label == 0 {
		return "", false
	}
	if !lower {
		s = strings.ToLower(s)
	}
	return s, true
}

// presentationSpecial reports the characters miekg/dns escapes in a
// name's presentation form (besides '.').
func presentationSpecial(c byte) bool {
	switch c {
	case '\\', '\'', '@', ';', '(', ')', '"':
		return true
	}
	return false
}
