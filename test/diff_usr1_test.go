package test

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// SIGUSR1 in the differential harness (the "!sigusr1" action): both
// servers get the signal and write their statistics and, with
// log-queries, their cache dump; the two are compared (lines one side
// writes alone on purpose are the scenario's logKnown).
//
//   - the statistics lines: the TCP connections exactly, the rest by
//     shape (every other number is N: the counters differ by design,
//     dnsmasq's TCP children do not count into them, moat's do), without
//     dnsmasq's DNSSEC and memory-pool lines, which moat has no use for;
//   - the cache dump's header, and its entries by name, data and flags
//     (not the expiry, a second apart between the two servers), without
//     dnsmasq's entries for hosts and configuration records and its
//     non-terminal names (flags I, H, C and "!"), which are not in
//     moat's cache (docs/compatibility.md).

// usr1OnlyDnsmasq are the statistics lines only dnsmasq writes.
var usr1OnlyDnsmasq = regexp.MustCompile(`^(DNSSEC per-|pool memory in use )`)

var usr1Number = regexp.MustCompile(`\d+`)

// usr1Block is a side's SIGUSR1 output after the last "time N" line:
// the statistics lines (normalised) and the dump entries.
func (r *diffRun) usr1Block(side int, out string) (stats, header, entries []string) {
	s := r.side[side]
	var msgs []string
	for _, raw := range strings.Split(out, "\n") {
		var msg string
		switch {
		case side == 0:
			_, m, ok := strings.Cut(raw, "moatd: master[")
			if !ok {
				continue
			}
			_, msg, ok = strings.Cut(m, "]: ")
			if !ok {
				continue
			}
		default:
			loc := logPrefix.FindStringIndex(raw)
			if loc == nil {
				continue
			}
			msg = raw[loc[1]:]
		}
		if strings.HasPrefix(msg, "time ") {
			msgs = nil // the last report counts
		}
		msgs = append(msgs, msg)
	}
	for _, m := range msgs {
		switch {
		case strings.HasPrefix(m, "socket filter counters"):
			// moat only (issue 5); the master logs it while dnsd's dump
			// is on its way, so it can land among the entries.
			continue
		case strings.HasPrefix(m, "Host ") || strings.HasPrefix(m, "-----"):
			header = append(header, strings.TrimRight(m, " "))
		case len(header) > 0 && len(m) >= 82:
			// name (30) data (40) flags (10) expires (24) [source]
			name, data, flags := strings.TrimSpace(m[:30]), strings.TrimSpace(m[31:71]), m[72:82]
			if strings.ContainsAny(flags[3:4]+flags[7:9], "IHC") || flags[0] == '!' {
				continue // local data and non-terminals: dnsmasq only
			}
			entries = append(entries, name+" | "+data+" | "+strings.TrimRight(flags, " "))
		case len(header) == 0 && (strings.HasPrefix(m, "time ") || strings.Contains(m, "queries") || strings.HasPrefix(m, "cache size") ||
			strings.HasPrefix(m, "child processes") || strings.HasPrefix(m, "server ") || usr1OnlyDnsmasq.MatchString(m)):
			if usr1OnlyDnsmasq.MatchString(m) {
				continue
			}
			m = strings.ReplaceAll(r.normaliseLogLine(s, strings.ReplaceAll(m, "#", " #")), " #", "#")
			stats = append(stats, usr1Shape(m))
		}
	}
	slices.Sort(entries)
	return stats, header, entries
}

// sigusr1 sends SIGUSR1 to both servers and compares what they log.
func (r *diffRun) sigusr1() {
	t := r.t
	for _, p := range []*os.Process{r.moat.cmd.Process, r.dnsmasq.Process} {
		if err := p.Signal(syscall.SIGUSR1); err != nil {
			t.Fatalf("SIGUSR1: %v", err)
		}
	}
	var ms, mh, me, ds, dh, de []string
	// Both write at once; moat's lines pass through its master.
	waitFor(t, 5*time.Second, "both servers' SIGUSR1 output", func() bool {
		ms, mh, me = r.usr1Block(0, r.moat.out.String())
		ds, dh, de = r.usr1Block(1, r.dnsOut.String())
		return len(mh) == 2 && len(dh) == 2 && len(ms) > 0 && len(ds) > 0
	})
	time.Sleep(300 * time.Millisecond) // the rest of the dump
	ms, mh, me = r.usr1Block(0, r.moat.out.String())
	ds, dh, de = r.usr1Block(1, r.dnsOut.String())
	var report strings.Builder
	used := make([]bool, len(r.sc.logKnown))
	diff := func(what string, a, b []string) {
		onlyA, onlyB := stringMultisetDiff(a, b)
		onlyA = explainLog(t, r.sc, used, "moat", onlyA)
		onlyB = explainLog(t, r.sc, used, "dnsmasq", onlyB)
		if len(onlyA)+len(onlyB) > 0 {
			fmt.Fprintf(&report, "\n%s:\n  moat only:\n    %s\n  dnsmasq only:\n    %s\n", what,
				strings.Join(onlyA, "\n    "), strings.Join(onlyB, "\n    "))
		}
	}
	diff("statistics lines", ms, ds)
	diff("cache dump header", mh, dh)
	diff("cache dump entries", me, de)
	if report.Len() > 0 {
		t.Errorf("SIGUSR1 output differs:%s", report.String())
	}
	t.Logf("SIGUSR1: %d statistics lines and %d cache entries alike", len(ms), len(me))
}

// usr1Exact are the statistics lines whose numbers are compared.
var usr1Exact = regexp.MustCompile(`^(queries for authoritative|child processes for TCP requests)`)

// usr1Shape keeps the numbers of a statistics line both servers must
// agree on and turns the others into N.
func usr1Shape(m string) string {
	if !usr1Exact.MatchString(m) {
		return usr1Number.ReplaceAllString(m, "N")
	}
	for _, tail := range []string{"max allowed ", "avg. latency "} {
		if i := strings.Index(m, tail); i >= 0 {
			m = m[:i+len(tail)] + usr1Number.ReplaceAllString(m[i+len(tail):], "N")
		}
	}
	return m
}
