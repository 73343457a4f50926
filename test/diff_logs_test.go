package test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The log-queries comparison of the differential harness
// (diffScenario.logs): both servers run with log-queries; after the
// queries, the lines each wrote about them are normalised and compared
// query by query. Only what must differ is normalised: the line prefix
// (program, pid, role), the servers' own addresses and their upstreams'
// addresses (each side has its own set), which become "%LISTEN%" and
// "%UPn%".

// Reasons of log differences several scenarios share.
const (
	reasonLogFollows = "the log lines follow the known differences of the answers (see known)"
)

// logKnown is a log line (normalised, as the failure report prints it)
// that one side writes and the other does not.
type logKnown struct {
	side   string // "moat" or "dnsmasq": who writes the line
	line   string
	kind   diffKind
	reason string
}

// queryLogLine matches the log-queries lines: "query[A] name from addr",
// "forwarded name to addr", and the answer lines whose first word says
// where the answer came from ("reply", "cached", "cached-stale",
// "config", a hosts file's path, "DHCP").
var queryLogLine = regexp.MustCompile(`^(query\[[^\]]+\] \S+ from |forwarded \S+ to |(reply|cached|cached-stale|config|DHCP|/\S+) \S+ is )`)

// extraPrefix is log-queries=extra's start of a line: serial number,
// client address and port.
var extraPrefix = regexp.MustCompile(`^\d+ (\S+)/\d+ `)

// logPrefix is the part of a line before the message: "dnsmasq[12]: " or
// moat's "moatd: dnsd[12]: ".
var logPrefix = regexp.MustCompile(`^(moatd: dnsd|dnsmasq)\[\d+\]: `)

// queryLog returns a side's log-queries lines, normalised, grouped by
// query (each group starts with its "query[...]" line). Lines about the
// harness's start-up probes are left out.
func (r *diffRun) queryLog(side int, out string) [][]string {
	s := r.side[side]
	var groups [][]string
	for _, raw := range strings.Split(out, "\n") {
		loc := logPrefix.FindStringIndex(raw)
		if loc == nil {
			continue
		}
		body := raw[loc[1]:]
		// log-queries=extra: "7 127.0.0.1/40123 query[A] ...". The
		// serial and the port differ by design; the address stays.
		mark := ""
		if m := extraPrefix.FindStringSubmatch(body); m != nil {
			mark, body = "["+m[1]+"] ", body[len(m[0]):]
		}
		if !queryLogLine.MatchString(body) || strings.Contains(body, "probe.difftool") {
			continue
		}
		line := r.normaliseLogLine(s, mark+body)
		// A query starts a group, unless it repeats the question that
		// started the last one: copies sent at once (+copies) interleave
		// their lines, so they are compared together.
		if strings.HasPrefix(body, "query[") {
			if n := len(groups); n == 0 || groups[n-1][0] != line {
				groups = append(groups, nil)
			}
		} else if len(groups) == 0 {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], line)
	}
	return groups
}

// loopProbe is a dns-loop-detect query name: a random uid in hex.
var loopProbe = regexp.MustCompile(`\b[0-9a-f]{8}\.test\b`)

func (r *diffRun) normaliseLogLine(s diffSide, line string) string {
	line = strings.ReplaceAll(line, r.dir, "%DIR%")
	line = loopProbe.ReplaceAllString(line, "%LOOP-PROBE%.test")
	words := strings.Fields(line)
	for i, w := range words {
		addr, rest, _ := strings.Cut(w, "#")
		if up, ok := strings.CutPrefix(addr, s.upNet+"."); ok {
			w = "%UP" + up + "%"
			if rest != "" {
				w += "#" + rest
			}
		} else if addr == s.listen {
			w = "%LISTEN%"
		}
		words[i] = w
	}
	return strings.Join(words, " ")
}

// compareLogs waits until both logs stop growing (moat's lines pass
// through its master, asynchronously), then compares them query by
// query, each query's lines as a multiset.
func (r *diffRun) compareLogs(sc diffScenario) {
	t := r.t
	var moat, dnsmasq [][]string
	stable, last := 0, ""
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && stable < 3; {
		time.Sleep(100 * time.Millisecond)
		moat, dnsmasq = r.queryLog(0, r.moat.out.String()), r.queryLog(1, r.dnsOut.String())
		now := fmt.Sprint(moat, dnsmasq)
		if now == last && len(moat) >= len(dnsmasq) {
			stable++
		} else {
			stable = 0
		}
		last = now
	}
	used := make([]bool, len(sc.logKnown))
	var report strings.Builder
	for i, pair := range alignQueries(moat, dnsmasq) {
		a, b := pair[0], pair[1]
		onlyA, onlyB := stringMultisetDiff(a, b)
		onlyA = explainLog(t, sc, used, "moat", onlyA)
		onlyB = explainLog(t, sc, used, "dnsmasq", onlyB)
		if len(onlyA)+len(onlyB) == 0 {
			continue
		}
		block := func(lines []string) string {
			if len(lines) == 0 {
				return "(nothing)"
			}
			return strings.Join(lines, "\n    ")
		}
		fmt.Fprintf(&report, "\nlogged differently (#%d):\n  moat only:\n    %s\n  dnsmasq only:\n    %s\n  moat:\n    %s\n  dnsmasq:\n    %s\n", i+1,
			block(onlyA), block(onlyB), block(a), block(b))
	}
	if report.Len() > 0 {
		t.Errorf("moat and dnsmasq log the queries differently (if on purpose, add a logKnown with the reason):%s", report.String())
	}
	// Unlike known answer differences, a known log line that did not
	// show is no failure: most are retries, which the comparison may
	// catch before or after they are logged.
	for i, k := range sc.logKnown {
		if !used[i] {
			t.Logf("known log difference %q (%s only) did not occur this time", k.line, k.side)
		}
	}
}

// explainLog drops the lines a known log difference of side explains.
func explainLog(t interface{ Logf(string, ...any) }, sc diffScenario, used []bool, side string, lines []string) []string {
	return slices.DeleteFunc(lines, func(l string) bool {
		for i, k := range sc.logKnown {
			if k.side == side && k.line == l {
				used[i] = true
				t.Logf("known log difference (%s): %s only: %q: %s", k.kind, side, l, k.reason)
				return true
			}
		}
		return false
	})
}

func stringMultisetDiff(x, y []string) (onlyX, onlyY []string) {
	count := map[string]int{}
	for _, s := range x {
		count[s]++
	}
	for _, s := range y {
		count[s]--
	}
	for _, s := range x {
		if count[s] > 0 {
			onlyX = append(onlyX, s)
			count[s]--
		}
	}
	for _, s := range y {
		if count[s] < 0 {
			onlyY = append(onlyY, s)
			count[s]++
		}
	}
	return onlyX, onlyY
}

// alignQueries pairs the two logs' query groups by their "query[...]"
// lines (a longest common subsequence), so that a query one side does
// not log at all shows as that, not as every later query differing.
func alignQueries(a, b [][]string) [][2][]string {
	head := func(g []string) string {
		if len(g) == 0 {
			return ""
		}
		return g[0]
	}
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if head(a[i]) == head(b[j]) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out [][2][]string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && head(a[i]) == head(b[j]):
			out = append(out, [2][]string{a[i], b[j]})
			i, j = i+1, j+1
		case j >= m || (i < n && lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, [2][]string{a[i], nil})
			i++
		default:
			out = append(out, [2][]string{nil, b[j]})
			j++
		}
	}
	return out
}
