// Package promtext is a small, strict reader of the Prometheus text
// exposition format (0.0.4), for tests of moat's /metrics: it refuses
// what a lenient scraper would let pass (a sample before its TYPE, a
// family split in two, a bad escape, a histogram whose buckets do not
// add up), so that a mistake in the hand-written exposition fails a test.
package promtext

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Sample is one sample line.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Family is one metric family: its HELP, TYPE and samples, in order.
type Family struct {
	Name, Help, Type string
	Samples          []Sample
}

// Get returns the value of the sample with exactly these labels.
func (f *Family) Get(labels map[string]string) (float64, bool) {
	for _, s := range f.Samples {
		if equalLabels(s.Labels, labels) {
			return s.Value, true
		}
	}
	return 0, false
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	types      = map[string]bool{"counter": true, "gauge": true, "histogram": true, "summary": true, "untyped": true}
)

// maxLine bounds one line.
const maxLine = 64 << 10

// Parse reads an exposition. Every family must have HELP then TYPE
// before its samples, and its samples together; counters end in _total;
// histograms have cumulative buckets ending in le="+Inf" equal to _count.
func Parse(r io.Reader) (map[string]*Family, error) {
	fams := map[string]*Family{}
	var cur *Family
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fail := func(format string, args ...any) error {
			return fmt.Errorf("line %d %q: %s", n, line, fmt.Sprintf(format, args...))
		}
		switch {
		case line == "":
			return nil, fail("empty line")
		case strings.HasPrefix(line, "# HELP "):
			name, help, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			if !metricName.MatchString(name) {
				return nil, fail("bad metric name")
			}
			if fams[name] != nil {
				return nil, fail("family %s seen before", name)
			}
			text, err := unescape(help, false)
			if err != nil {
				return nil, fail("%v", err)
			}
			if cur != nil {
				if err := check(cur); err != nil {
					return nil, err
				}
			}
			cur = &Family{Name: name, Help: text}
			fams[name] = cur
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			if cur == nil || cur.Name != name || cur.Type != "" || len(cur.Samples) > 0 {
				return nil, fail("TYPE not right after the family's HELP")
			}
			if !types[typ] {
				return nil, fail("unknown type")
			}
			cur.Type = typ
		case strings.HasPrefix(line, "#"):
			return nil, fail("comment that is neither HELP nor TYPE")
		default:
			s, err := parseSample(line)
			if err != nil {
				return nil, fail("%v", err)
			}
			if cur == nil || cur.Type == "" || !belongs(cur, s.Name) {
				return nil, fail("sample outside its family's HELP and TYPE")
			}
			cur.Samples = append(cur.Samples, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		if err := check(cur); err != nil {
			return nil, err
		}
	}
	return fams, nil
}

func belongs(f *Family, name string) bool {
	if f.Type == "histogram" {
		return name == f.Name+"_bucket" || name == f.Name+"_sum" || name == f.Name+"_count"
	}
	return name == f.Name
}

// check tests a complete family.
func check(f *Family) error {
	if f.Type == "" {
		return fmt.Errorf("family %s: no TYPE", f.Name)
	}
	if f.Type == "counter" && !strings.HasSuffix(f.Name, "_total") {
		return fmt.Errorf("counter %s: name does not end in _total", f.Name)
	}
	seen := map[string]bool{}
	for _, s := range f.Samples {
		key := s.Name + labelKey(s.Labels)
		if seen[key] {
			return fmt.Errorf("family %s: sample %s twice", f.Name, key)
		}
		seen[key] = true
		if f.Type == "counter" && (s.Value < 0 || math.IsNaN(s.Value)) {
			return fmt.Errorf("counter %s: value %v", f.Name, s.Value)
		}
	}
	if f.Type == "histogram" {
		return checkHistogram(f)
	}
	return nil
}

func labelKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	for i := range keys { // few labels: insertion sort
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	var b strings.Builder
	for _, k := range keys {
		b.WriteString("," + k + "=" + strconv.Quote(l[k]))
	}
	return b.String()
}

// checkHistogram: per label set, buckets rise, end at +Inf, and +Inf
// equals _count; _sum is present.
func checkHistogram(f *Family) error {
	type series struct {
		last      float64
		inf       float64
		hasInf    bool
		count     float64
		hasCount  bool
		hasSum    bool
		lastBound float64
	}
	all := map[string]*series{}
	get := func(l map[string]string) *series {
		rest := map[string]string{}
		for k, v := range l {
			if k != "le" {
				rest[k] = v
			}
		}
		k := labelKey(rest)
		if all[k] == nil {
			all[k] = &series{lastBound: math.Inf(-1)}
		}
		return all[k]
	}
	for _, s := range f.Samples {
		sr := get(s.Labels)
		switch s.Name {
		case f.Name + "_bucket":
			le, ok := s.Labels["le"]
			if !ok {
				return fmt.Errorf("histogram %s: bucket without le", f.Name)
			}
			bound, err := strconv.ParseFloat(le, 64)
			if err != nil || bound <= sr.lastBound || sr.hasInf {
				return fmt.Errorf("histogram %s: bucket le=%q out of order", f.Name, le)
			}
			if s.Value < sr.last {
				return fmt.Errorf("histogram %s: buckets not cumulative at le=%q", f.Name, le)
			}
			sr.last, sr.lastBound = s.Value, bound
			if math.IsInf(bound, 1) {
				sr.inf, sr.hasInf = s.Value, true
			}
		case f.Name + "_count":
			sr.count, sr.hasCount = s.Value, true
		case f.Name + "_sum":
			sr.hasSum = true
		}
	}
	for k, sr := range all {
		if !sr.hasInf || !sr.hasCount || !sr.hasSum || sr.inf != sr.count {
			return fmt.Errorf("histogram %s%s: needs le=\"+Inf\" equal to _count, and _sum", f.Name, k)
		}
	}
	return nil
}

// parseSample reads `name{a="x",b="y"} value` (no timestamp).
func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	s.Name = line[:i]
	if !metricName.MatchString(s.Name) {
		return s, fmt.Errorf("bad metric name %q", s.Name)
	}
	rest := line[i:]
	if strings.HasPrefix(rest, "{") {
		rest = rest[1:]
		for {
			eq := strings.IndexByte(rest, '=')
			if eq < 0 {
				return s, fmt.Errorf("label without '='")
			}
			name := rest[:eq]
			if !labelName.MatchString(name) {
				return s, fmt.Errorf("bad label name %q", name)
			}
			if _, dup := s.Labels[name]; dup {
				return s, fmt.Errorf("label %q twice", name)
			}
			rest = rest[eq+1:]
			if !strings.HasPrefix(rest, `"`) {
				return s, fmt.Errorf("label value not quoted")
			}
			end := closingQuote(rest)
			if end < 0 {
				return s, fmt.Errorf("label value not closed")
			}
			v, err := unescape(rest[1:end], true)
			if err != nil {
				return s, err
			}
			s.Labels[name] = v
			rest = rest[end+1:]
			if strings.HasPrefix(rest, ",") {
				rest = rest[1:]
				continue
			}
			if !strings.HasPrefix(rest, "}") {
				return s, fmt.Errorf("labels not closed")
			}
			rest = rest[1:]
			break
		}
	}
	if !strings.HasPrefix(rest, " ") || strings.Count(rest, " ") != 1 {
		return s, fmt.Errorf("want exactly one space before the value, and no timestamp")
	}
	v, err := strconv.ParseFloat(rest[1:], 64)
	if err != nil && rest[1:] != "+Inf" && rest[1:] != "-Inf" && rest[1:] != "NaN" {
		return s, fmt.Errorf("bad value %q", rest[1:])
	}
	s.Value = v
	return s, nil
}

// closingQuote finds the quote ending a label value that starts at s[0].
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// unescape reads the format's escapes: \\ and \n, and \" in label values.
func unescape(s string, label bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) {
				return "", fmt.Errorf("dangling backslash")
			}
			i++
			switch s[i] {
			case '\\':
				b.WriteByte('\\')
			case 'n':
				b.WriteByte('\n')
			case '"':
				if !label {
					return "", fmt.Errorf(`\" outside a label value`)
				}
				b.WriteByte('"')
			default:
				return "", fmt.Errorf("unknown escape \\%c", s[i])
			}
		case c == '"' && label:
			return "", fmt.Errorf("unescaped quote")
		case c == '\n':
			return "", fmt.Errorf("raw newline")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
