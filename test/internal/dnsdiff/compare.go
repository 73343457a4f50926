package dnsdiff

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Diff is one field on which two replies differ. A and B are the two
// sides' values as text (several lines for record sets: the records only
// that side has).
type Diff struct {
	Field string
	A, B  string
}

// Fields compared, in report order. Scenarios name them in known
// differences.
const (
	FieldReply      = "reply" // one side answered, the other did not (or neither usably, differently)
	FieldOpcode     = "opcode"
	FieldRcode      = "rcode"
	FieldFlags      = "flags"
	FieldQuestion   = "question"
	FieldAnswer     = "answer"
	FieldAuthority  = "authority"
	FieldAdditional = "additional"
	FieldTTL        = "ttl"
	FieldEDNS       = "edns"
	// FieldUpstream: which questions reached the upstream servers, how
	// often, over which transport. FieldUpstreamFlags: with the same
	// questions, the header bits and EDNS they carried.
	FieldUpstream      = "upstream"
	FieldUpstreamFlags = "upstream-flags"
)

// AllFields lists every field in report order.
var AllFields = []string{FieldReply, FieldOpcode, FieldRcode, FieldFlags, FieldQuestion,
	FieldAnswer, FieldAuthority, FieldAdditional, FieldTTL, FieldEDNS, FieldUpstream, FieldUpstreamFlags}

// Compare returns the fields on which a and b differ under q's rules.
func Compare(q Query, a, b Result) []Diff {
	var diffs []Diff
	if a.Err != "" || b.Err != "" {
		if a.Err != b.Err {
			diffs = append(diffs, Diff{FieldReply, orNone(a.Err, "a reply"), orNone(b.Err, "a reply")})
		}
		// Without a reply on one side nothing else can be compared
		// except what reached the upstream servers.
		return append(diffs, compareUpstream(q, a, b)...)
	}
	scalar := func(field, x, y string) {
		if x != y {
			diffs = append(diffs, Diff{field, x, y})
		}
	}
	scalar(FieldOpcode, a.Opcode, b.Opcode)
	scalar(FieldRcode, a.Rcode, b.Rcode)
	scalar(FieldFlags, strings.Join(a.Flags, " "), strings.Join(b.Flags, " "))
	scalar(FieldQuestion, strings.Join(a.Question, "\n"), strings.Join(b.Question, "\n"))
	var ttlLines [2][]string
	for _, s := range []struct {
		field string
		x, y  []RR
	}{
		{FieldAnswer, a.Answer, b.Answer},
		{FieldAuthority, a.Authority, b.Authority},
		{FieldAdditional, a.Additional, b.Additional},
	} {
		onlyA, onlyB, ttlA, ttlB := compareRRs(s.x, s.y, q.TTL)
		if len(onlyA)+len(onlyB) > 0 {
			diffs = append(diffs, Diff{s.field, strings.Join(onlyA, "\n"), strings.Join(onlyB, "\n")})
		}
		ttlLines[0] = append(ttlLines[0], ttlA...)
		ttlLines[1] = append(ttlLines[1], ttlB...)
	}
	if len(ttlLines[0]) > 0 {
		diffs = append(diffs, Diff{FieldTTL, strings.Join(ttlLines[0], "\n"), strings.Join(ttlLines[1], "\n")})
	}
	scalar(FieldEDNS, a.EDNS.String(), b.EDNS.String())
	return append(diffs, compareUpstream(q, a, b)...)
}

func compareUpstream(q Query, a, b Result) []Diff {
	if q.IgnoreUpstream {
		return nil
	}
	questions := func(lines []string) []string {
		out := make([]string, len(lines))
		for i, l := range lines {
			out[i], _, _ = strings.Cut(l, " | ")
		}
		return out
	}
	field := FieldUpstream
	onlyA, onlyB := multisetDiff(questions(a.Upstream), questions(b.Upstream))
	if len(onlyA)+len(onlyB) == 0 {
		field = FieldUpstreamFlags
		onlyA, onlyB = multisetDiff(a.Upstream, b.Upstream)
	}
	if len(onlyA)+len(onlyB) == 0 {
		return nil
	}
	return []Diff{{field, orNone(strings.Join(onlyA, "\n"), "(nothing more)"), orNone(strings.Join(onlyB, "\n"), "(nothing more)")}}
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

// compareRRs compares two record sets as multisets of record texts, then
// the TTLs of the records both have (pairing equal texts in TTL order).
func compareRRs(x, y []RR, rule TTLRule) (onlyX, onlyY, ttlX, ttlY []string) {
	byText := func(rrs []RR) map[string][]uint32 {
		m := map[string][]uint32{}
		for _, rr := range rrs {
			m[rr.Text] = append(m[rr.Text], rr.TTL)
		}
		return m
	}
	mx, my := byText(x), byText(y)
	texts := map[string]bool{}
	for t := range mx {
		texts[t] = true
	}
	for t := range my {
		texts[t] = true
	}
	for _, t := range slices.Sorted(maps.Keys(texts)) {
		tx, ty := mx[t], my[t]
		slices.Sort(tx)
		slices.Sort(ty)
		for i := len(ty); i < len(tx); i++ {
			onlyX = append(onlyX, withTTL(t, tx[i]))
		}
		for i := len(tx); i < len(ty); i++ {
			onlyY = append(onlyY, withTTL(t, ty[i]))
		}
		if rule.Ignore {
			continue
		}
		for i := 0; i < min(len(tx), len(ty)); i++ {
			d := int64(tx[i]) - int64(ty[i])
			if d < 0 {
				d = -d
			}
			if d > int64(rule.Tolerance) {
				ttlX = append(ttlX, withTTL(t, tx[i]))
				ttlY = append(ttlY, withTTL(t, ty[i]))
			}
		}
	}
	return onlyX, onlyY, ttlX, ttlY
}

// withTTL puts the TTL back into a canonical record text ("name 0 IN ...").
func withTTL(text string, ttl uint32) string {
	name, rest, ok := strings.Cut(text, " 0 ")
	if !ok {
		return fmt.Sprintf("%s (ttl %d)", text, ttl)
	}
	return fmt.Sprintf("%s %d %s", name, ttl, rest)
}

func multisetDiff(x, y []string) (onlyX, onlyY []string) {
	count := map[string]int{}
	for _, s := range x {
		count[s]++
	}
	for _, s := range y {
		count[s]--
	}
	for _, s := range slices.Sorted(maps.Keys(count)) {
		for n := count[s]; n > 0; n-- {
			onlyX = append(onlyX, s)
		}
		for n := count[s]; n < 0; n++ {
			onlyY = append(onlyY, s)
		}
	}
	return onlyX, onlyY
}

func (e *EDNS) String() string {
	if e == nil {
		return "no OPT"
	}
	s := fmt.Sprintf("version %d, udp %d", e.Version, e.UDPSize)
	if e.DO {
		s += ", do"
	}
	if len(e.Options) > 0 {
		s += ", options " + strings.Join(e.Options, " ")
	}
	return s
}

// Lines renders a result the way dig would, for reports.
func (r Result) Lines() []string {
	if r.Err != "" {
		return []string{";; no reply: " + r.Err}
	}
	lines := []string{fmt.Sprintf(";; %s %s, flags: %s, %d bytes", r.Opcode, r.Rcode, strings.Join(r.Flags, " "), r.Size)}
	if r.EDNS != nil {
		lines = append(lines, ";; EDNS: "+r.EDNS.String())
	}
	for _, q := range r.Question {
		lines = append(lines, ";; QUESTION: "+q)
	}
	for _, s := range []struct {
		name string
		rrs  []RR
	}{{"ANSWER", r.Answer}, {"AUTHORITY", r.Authority}, {"ADDITIONAL", r.Additional}} {
		if len(s.rrs) == 0 {
			continue
		}
		lines = append(lines, ";; "+s.name+":")
		for _, rr := range s.rrs {
			lines = append(lines, withTTL(rr.Text, rr.TTL))
		}
	}
	for _, u := range r.Upstream {
		lines = append(lines, ";; upstream asked: "+u)
	}
	return lines
}

// SideBySide renders two results in two columns under the given titles.
func SideBySide(titleA, titleB string, a, b Result) string {
	const width = 64
	la, lb := a.Lines(), b.Lines()
	cell := func(s string) string {
		if len(s) > width {
			return s[:width-1] + "~"
		}
		return s + strings.Repeat(" ", width-len(s))
	}
	var sb strings.Builder
	sb.WriteString(cell(titleA) + " | " + titleB + "\n")
	sb.WriteString(strings.Repeat("-", width) + "-+-" + strings.Repeat("-", width) + "\n")
	for i := 0; i < max(len(la), len(lb)); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		sb.WriteString(cell(x) + " | " + y + "\n")
	}
	return sb.String()
}
