package masterd

import (
	"bytes"
	"math"
	"strconv"
	"strings"
)

// The Prometheus text exposition format (version 0.0.4), written by hand:
// "# HELP" and "# TYPE" once per family, before its samples, all of a
// family's samples together; label values escaped (backslash, double
// quote, newline); HELP text escaped (backslash, newline).

// metricsContentType is the exposition format's media type.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// label is one name="value" pair.
type label struct{ name, value string }

// exposition builds one scrape's text.
type exposition struct {
	b    bytes.Buffer
	seen map[string]bool
}

// family starts a metric family; a family started twice is a bug, and
// panics in tests (the strict parser would refuse the output too).
func (e *exposition) family(name, typ, help string) {
	if e.seen == nil {
		e.seen = map[string]bool{}
	}
	if e.seen[name] {
		panic("metrics: family " + name + " written twice")
	}
	e.seen[name] = true
	e.b.WriteString("# HELP " + name + " " + escapeHelp(help) + "\n")
	e.b.WriteString("# TYPE " + name + " " + typ + "\n")
}

// sample writes one sample line.
func (e *exposition) sample(name string, labels []label, value float64) {
	e.b.WriteString(name)
	if len(labels) > 0 {
		e.b.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				e.b.WriteByte(',')
			}
			e.b.WriteString(l.name + `="` + escapeLabelValue(l.value) + `"`)
		}
		e.b.WriteByte('}')
	}
	e.b.WriteByte(' ')
	e.b.WriteString(formatSampleValue(value))
	e.b.WriteByte('\n')
}

// single writes a family of one unlabelled sample.
func (e *exposition) single(name, typ, help string, value float64) {
	e.family(name, typ, help)
	e.sample(name, nil, value)
}

// histogram writes one labelled histogram's samples (the family must be
// started): buckets holds per-bucket counts for bounds and one more for
// +Inf; the bucket lines are cumulative, as the format requires.
func (e *exposition) histogram(name string, labels []label, bounds []float64, buckets []uint64, sum float64) {
	var cum uint64
	for i, n := range buckets {
		cum += n
		le := "+Inf"
		if i < len(bounds) {
			le = formatSampleValue(bounds[i])
		}
		e.sample(name+"_bucket", append(append([]label(nil), labels...), label{"le", le}), float64(cum))
	}
	e.sample(name+"_sum", labels, sum)
	e.sample(name+"_count", labels, float64(cum))
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabelValue(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string       { return helpEscaper.Replace(s) }

// formatSampleValue writes a float as the format reads it (Go's
// ParseFloat syntax, with +Inf, -Inf and NaN spelled so).
func formatSampleValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
