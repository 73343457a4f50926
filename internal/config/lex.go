package config

import (
	"errors"
	"strings"
)

// value is an option's value. In files, text inside double quotes is
// protected: dnsmasq "hides" quoted spaces, commas, colons and dots so
// that option parsers do not split on them, and restores them before use.
// quoted marks those bytes so split can do the same.
type value struct {
	text   string
	quoted []bool // per byte of text; nil when nothing was quoted
	given  bool   // false for a bare "name" with no '=' at all
}

func plainValue(s string) value { return value{text: s, given: true} }

func (v value) isQuoted(i int) bool { return v.quoted != nil && v.quoted[i] }

func (v value) slice(from, to int) value {
	out := value{text: v.text[from:to], given: true}
	if v.quoted != nil {
		out.quoted = v.quoted[from:to]
	}
	return out
}

// trimSpaces strips unquoted spaces at both ends, as dnsmasq's split does.
func (v value) trimSpaces() value {
	from, to := 0, len(v.text)
	for from < to && v.text[from] == ' ' && !v.isQuoted(from) {
		from++
	}
	for to > from && v.text[to-1] == ' ' && !v.isQuoted(to-1) {
		to--
	}
	return v.slice(from, to)
}

// cut splits at the first unquoted sep, trimming unquoted spaces around
// it (dnsmasq's split_chr).
func (v value) cut(sep byte) (before, after value, found bool) {
	for i := 0; i < len(v.text); i++ {
		if v.text[i] == sep && !v.isQuoted(i) {
			return v.slice(0, i).trimSpaces(), v.slice(i+1, len(v.text)).trimSpaces(), true
		}
	}
	return v, value{}, false
}

// split splits at every unquoted sep (dnsmasq's repeated split()). An
// empty value gives one empty element.
func (v value) split(sep byte) []value {
	var out []value
	for {
		before, after, found := v.cut(sep)
		out = append(out, before)
		if !found {
			return out
		}
		v = after
	}
}

// Line limits: dnsmasq reads lines with fgets into a MAXDNAME (1025) byte
// buffer, so a longer line is silently cut in two; moat reports it.
const maxLineBytes = 1024

var errMissingQuote = errors.New(`missing closing '"'`)

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// lexLine applies dnsmasq's rules (read_file in option.c) to one line:
// a '"' opens a quoted section, in which \" \\ \t \n \r \b \e are escapes
// and everything else is literal; outside quotes, whitespace becomes a
// space and a '#' at the start of the line or after whitespace starts a
// comment. The result has leading and trailing spaces removed.
func lexLine(line string) (text string, quoted []bool, err error) {
	var out []byte
	var q []bool
	anyQuoted := false
	white := true
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '"' {
			anyQuoted = true
			closed := false
			for i++; i < len(line); i++ {
				c = line[i]
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' && i+1 < len(line) {
					if r, ok := quoteEscape(line[i+1]); ok {
						c = r
						i++
					}
				}
				out = append(out, c)
				q = append(q, true)
			}
			if !closed {
				return "", nil, errMissingQuote
			}
			// Like dnsmasq, the character after the closing quote is
			// taken literally even if it is another '"', and the
			// comment rule sees the whitespace state from before the
			// quoted section.
			i++
			if i == len(line) {
				break
			}
			c = line[i]
		}
		switch {
		case isSpace(c):
			out = append(out, ' ')
			q = append(q, false)
			white = true
		case white && c == '#':
			i = len(line)
		default:
			out = append(out, c)
			q = append(q, false)
			white = false
		}
	}
	v := value{text: string(out)}
	if anyQuoted {
		v.quoted = q
	}
	v = v.trimSpaces()
	return v.text, v.quoted, nil
}

func quoteEscape(c byte) (byte, bool) {
	switch c {
	case '"', '\\':
		return c, true
	case 't':
		return '\t', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 'b':
		return '\b', true
	case 'e':
		return '\033', true
	}
	return 0, false
}

// splitOption splits a lexed line into name and value at the first '='
// (quoted or not, as in dnsmasq), dropping spaces around it.
func splitOption(text string, quoted []bool) (name string, v value) {
	whole := value{text: text, quoted: quoted}
	eq := strings.IndexByte(text, '=')
	if eq < 0 {
		return text, value{}
	}
	name = strings.TrimRight(text[:eq], " ")
	v = whole.slice(eq+1, len(text))
	for len(v.text) > 0 && v.text[0] == ' ' && !v.isQuoted(0) {
		v = v.slice(1, len(v.text))
	}
	return name, v
}
