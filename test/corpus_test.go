package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// The corpus test: `moatd --test` and `dnsmasq --test` on every
// configuration file of ../shared/corpus/dnsmasq-conf (see its README.md),
// compared. moat must reject what dnsmasq rejects, at the same line; its
// every error must read FILE:LINE: OPTION: ... and name the option on that
// line; and a file dnsmasq accepts may fail only on options (or forms)
// that need a subsystem moat has not built yet (DHCPv6, router
// advertisements, TFTP, DHCP relaying), named in the error. moatd --test's
// warnings (options accepted but not acted on) are checked too. The table
// of verdicts goes into
// docs/compatibility.md with -update.

// corpusRoot is the corpus, relative to this package.
const corpusRoot = "../../shared/corpus/dnsmasq-conf"

// deliberateAccepts are option names dnsmasq 2.90 rejects and moat
// accepts on purpose, each with the name dnsmasq knows it by. The
// dnsmasq run of a file gets the stock name, so that the rest of the file
// is still checked against dnsmasq.
var deliberateAccepts = map[string]struct{ stock, reason string }{
	"filter-aaaa": {"filter-AAAA", "OpenWrt's patched dnsmasq spells it so, and its generated configurations contain it (issue 3)"},
}

// hostSpecific are other text the verdict of which depends on the host
// the corpus was written on; both programs get the replacement.
var hostSpecific = []struct{ file, old, new, reason string }{
	{"networkmanager/dns-plugin.conf", "server=fe80::1%wlan0", "server=fe80::1%lo",
		"dnsmasq resolves a link-local server's scope interface while parsing, and fails where there is no wlan0 (the README expects it)"},
}

// corpusFile is one file of the corpus with what both programs said.
type corpusFile struct {
	rel         string
	path        string // the prepared copy moat read
	config      bool   // a configuration file (else a companion: hosts, leases, UCI...)
	neutralised []string
	dnsmasq     dnsmasqVerdict
	moat        moatVerdict
	problems    []string // what makes the test fail for this file
}

// dnsmasqVerdict is what dnsmasq says of a file. dnsmasq stops at the
// first bad line, so the test comments each one out and asks again, to
// learn every line it rejects.
type dnsmasqVerdict struct {
	ok          bool
	rejected    []dnsmasqRejection
	other       string   // a rejection without a line ("cannot read ...")
	substituted []string // deliberate-accept lines renamed for dnsmasq
}

type dnsmasqRejection struct {
	file string // the prepared copy the line is in
	line int
	msg  string
}

// rejects reports whether dnsmasq rejects that line.
func (v dnsmasqVerdict) rejects(file string, line int) bool {
	return slices.ContainsFunc(v.rejected, func(r dnsmasqRejection) bool { return r.file == file && r.line == line })
}

type moatVerdict struct {
	ok       bool
	errors   []moatError
	warnings []string // "OPTIONS: message" of each "moatd: warning: " line
	raw      string
}

// moatError is one line of moatd --test's output.
type moatError struct {
	file   string
	line   int
	option string
	msg    string
	kind   string // unsupported, not-yet, pending, rejected
}

func TestCorpus(t *testing.T) {
	if _, err := os.Stat(corpusRoot); err != nil {
		testutil.Unavailable(t, "the corpus is not beside the repository: "+err.Error())
	}
	requireDnsmasq(t)
	var files []*corpusFile
	err := filepath.WalkDir(corpusRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(corpusRoot, path)
		if rel == "README.md" {
			return nil
		}
		files = append(files, &corpusFile{rel: rel, config: isConfigName(rel)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("found only %d files in %s", len(files), corpusRoot)
	}
	tmp := t.TempDir()
	for _, f := range files {
		if !f.config {
			continue
		}
		t.Run(f.rel, func(t *testing.T) {
			f.check(t, tmp)
			for _, p := range f.problems {
				t.Error(p)
			}
		})
	}
	table := corpusTable(files)
	t.Logf("corpus verdicts:\n%s", table)
	t.Logf("e2e: corpus: %s", corpusSummary(files))
	updateOrCheckDoc(t, "corpus", table, false)
}

// isConfigName tells configuration files from their companions by name,
// as the README's table does: configurations have ".conf" in their names.
func isConfigName(rel string) bool {
	return strings.Contains(filepath.Base(rel), ".conf")
}

// check prepares the file, runs both programs and judges.
func (f *corpusFile) check(t *testing.T, tmp string) {
	path, notes := prepareCorpusFile(t, tmp, f.rel)
	f.neutralised = notes
	v := &f.dnsmasq
	for range 20 {
		ok, rej, other := runDnsmasqTest(t, path)
		if ok || rej == nil {
			v.other = other
			break
		}
		opt := optionOnLine(t, rej.file, rej.line)
		if acc, ok := deliberateAccepts[opt]; ok {
			v.substituted = append(v.substituted, fmt.Sprintf("line %d: %s (dnsmasq 2.90 rejects it; moat accepts it: %s)", rej.line, opt, acc.reason))
			editLine(t, rej.file, rej.line, func(line string) string {
				_, value, hasValue := strings.Cut(line, "=")
				if hasValue {
					return acc.stock + "=" + value
				}
				return acc.stock
			})
			continue
		}
		v.rejected = append(v.rejected, *rej)
		editLine(t, rej.file, rej.line, func(line string) string { return "# " + line })
	}
	v.ok = len(v.rejected) == 0 && v.other == ""
	// moat reads the prepared file without dnsmasq's renames.
	path, _ = prepareCorpusFile(t, tmp, f.rel)
	f.path = path
	f.moat = runMoatTest(t, path)
	f.judge(t)
}

var includeLine = regexp.MustCompile(`^(\s*(?:--)?(conf-file|conf-dir)\s*=\s*)([^,\s]*)(.*)$`)

// prepareCorpusFile copies a corpus file into tmp, pointing its conf-file
// and conf-dir lines (which dnsmasq and moat read while parsing) at files
// that exist: the companion of the same name in the file's corpus
// directory (OpenWrt's rfc6761.conf), else an empty file or directory; the
// README describes the syntax status with these lines neutralised. Line
// numbers do not change. It returns the copy's path and what it changed.
func prepareCorpusFile(t *testing.T, tmp, rel string) (string, []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpusRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(tmp, "empty")
	if err := os.MkdirAll(filepath.Join(empty, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(empty, "empty.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var notes []string
	for i, line := range lines {
		for _, h := range hostSpecific {
			if h.file == rel && strings.TrimSpace(line) == h.old {
				lines[i] = h.new
				notes = append(notes, fmt.Sprintf("line %d: %s -> %s (%s)", i+1, h.old, h.new, h.reason))
			}
		}
		m := includeLine.FindStringSubmatch(line)
		if m == nil || m[3] == "" || m[3] == "/dev/null" {
			continue
		}
		target := filepath.Join(empty, "empty.conf")
		if m[2] == "conf-dir" {
			target = filepath.Join(empty, "dir")
		}
		companion := filepath.Join(filepath.Dir(rel), filepath.Base(m[3]))
		if st, err := os.Stat(filepath.Join(corpusRoot, companion)); err == nil && !st.IsDir() && m[2] == "conf-file" && companion != rel {
			target, _ = prepareCorpusFile(t, tmp, companion)
		}
		lines[i] = m[1] + target + m[4]
		notes = append(notes, fmt.Sprintf("line %d: %s=%s -> %s", i+1, m[2], m[3], relToTmp(tmp, target)))
	}
	out := filepath.Join(tmp, "corpus", rel)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return out, notes
}

func relToTmp(tmp, path string) string {
	if rel, err := filepath.Rel(filepath.Join(tmp, "corpus"), path); err == nil && !strings.HasPrefix(rel, "..") {
		return "corpus " + rel
	}
	if strings.HasSuffix(path, "dir") {
		return "an empty directory"
	}
	return "an empty file"
}

// runCheck runs a --test command with a time limit.
func runCheck(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: no verdict within 20s", name, args)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return strings.TrimSpace(string(out)), err
}

var dnsmasqAtLine = regexp.MustCompile(`^dnsmasq: (.*) at line (\d+) of (.*)$`)

// runDnsmasqTest runs dnsmasq --test once: OK, or the line it rejects,
// or its message when the rejection names no line.
func runDnsmasqTest(t *testing.T, path string) (bool, *dnsmasqRejection, string) {
	out, err := runCheck(t, "dnsmasq", "--test", "-C", path)
	if err == nil {
		if !strings.Contains(out, "syntax check OK") {
			t.Fatalf("dnsmasq --test -C %s: exit 0 without saying OK: %q", path, out)
		}
		return true, nil, ""
	}
	m := dnsmasqAtLine.FindStringSubmatch(out)
	if m == nil {
		return false, nil, out
	}
	n, _ := strconv.Atoi(m[2])
	return false, &dnsmasqRejection{file: m[3], line: n, msg: m[1]}, ""
}

var moatErrorLine = regexp.MustCompile(`^(.+?):(\d+): ("(?:[^"\\]|\\.)*"|[^\s:"]+): (.+)$`)

func runMoatTest(t *testing.T, path string) moatVerdict {
	out, err := runCheck(t, moatdBin, "--test", "-C", path)
	v := moatVerdict{ok: err == nil, raw: out}
	var rest []string
	for _, line := range strings.Split(out, "\n") {
		if w, ok := strings.CutPrefix(line, "moatd: warning: "); ok {
			v.warnings = append(v.warnings, w)
			continue
		}
		rest = append(rest, line)
	}
	if v.ok {
		if !strings.Contains(out, "syntax check OK") {
			t.Fatalf("moatd --test -C %s: exit 0 without saying OK: %q", path, out)
		}
		return v
	}
	for _, line := range rest {
		line = strings.TrimPrefix(line, "moatd: ")
		m := moatErrorLine.FindStringSubmatch(line)
		if m == nil {
			v.errors = append(v.errors, moatError{msg: line, kind: "imprecise"})
			continue
		}
		n, _ := strconv.Atoi(m[2])
		opt := m[3]
		if u, err := strconv.Unquote(opt); err == nil {
			opt = u
		}
		v.errors = append(v.errors, moatError{file: m[1], line: n, option: opt, msg: m[4]})
	}
	return v
}

// optionOnLine returns the option name a configuration line gives.
func optionOnLine(t *testing.T, path string, n int) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	line := strings.TrimPrefix(strings.TrimSpace(lines[n-1]), "--")
	name, _, _ := strings.Cut(line, "=")
	return strings.TrimSpace(name)
}

// editLine rewrites line n of a prepared file (dnsmasq's copy).
func editLine(t *testing.T, path string, n int, edit func(string) string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		t.Fatalf("%s has no line %d", path, n)
	}
	lines[n-1] = edit(lines[n-1])
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// judge classifies moat's errors and records every rule broken.
func (f *corpusFile) judge(t *testing.T) {
	fail := func(format string, args ...any) { f.problems = append(f.problems, fmt.Sprintf(format, args...)) }
	if !f.dnsmasq.ok && f.moat.ok {
		fail("dnsmasq 2.90 rejects this file (%s) and moat accepts it", f.dnsmasq.describe())
	}
	for i := range f.moat.errors {
		e := &f.moat.errors[i]
		if e.kind == "imprecise" {
			fail("moat's error %q does not read FILE:LINE: OPTION: message", e.msg)
			continue
		}
		if got := optionOnLine(t, e.file, e.line); got != e.option {
			fail("moat's error %s:%d names option %q, but that line gives %q", e.file, e.line, e.option, got)
		}
		_, accepted := deliberateAccepts[e.option]
		switch {
		case strings.HasPrefix(e.msg, "unsupported option"):
			e.kind = "unsupported"
		case strings.Contains(e.msg, "not supported yet"):
			e.kind = "not-yet"
		case accepted && e.msg == "unknown option":
			e.kind = "pending"
		default:
			e.kind = "rejected"
		}
		// Issue 6: a line dnsmasq accepts may fail only for a subsystem
		// moat has not built (DHCPv6, RA, TFTP...), and the error must
		// say which.
		if e.kind != "pending" && e.unbuilt() == "" && !f.dnsmasq.rejects(e.file, e.line) {
			fail("moat rejects %s:%d (%s: %s), which dnsmasq 2.90 accepts: only options and forms that need a subsystem moat has not built yet (DHCPv6, router advertisements, TFTP, DHCP relaying) may fail, and the error must name it", e.file, e.line, e.option, e.msg)
		}
	}
	if f.moat.ok {
		for _, p := range f.warningProblems(t) { // corpus_warn_test.go
			fail("%s", p)
		}
	}
	for _, r := range f.dnsmasq.rejected {
		if !slices.ContainsFunc(f.moat.errors, func(e moatError) bool { return e.file == r.file && e.line == r.line }) {
			fail("dnsmasq 2.90 rejects line %d (%s); moat's errors do not include that line: %q", r.line, r.msg, f.moat.raw)
		}
	}
}

// describe says what dnsmasq rejects.
func (v dnsmasqVerdict) describe() string {
	var parts []string
	for _, r := range v.rejected {
		parts = append(parts, fmt.Sprintf("line %d: %s", r.line, r.msg))
	}
	if v.other != "" {
		parts = append(parts, v.other)
	}
	return strings.Join(parts, "; ")
}

// corpusTable renders the verdicts and a per-option summary.
func corpusTable(files []*corpusFile) string {
	var b strings.Builder
	b.WriteString("| file | dnsmasq 2.90 | moat | what moat does not accept yet |\n|---|---|---|---|\n")
	pending := map[string]map[string]bool{} // option -> files
	labelArea := map[string]string{}
	var companions []string
	counts := map[string]int{}
	for _, f := range files {
		if !f.config {
			companions = append(companions, f.rel)
			continue
		}
		d := "accepts"
		if !f.dnsmasq.ok {
			d = "rejects " + f.dnsmasq.describe()
		}
		if len(f.dnsmasq.substituted) > 0 {
			d += " (after " + strings.Join(f.dnsmasq.substituted, "; ") + ")"
		}
		m := "accepts"
		if len(f.moat.warnings) > 0 {
			m += ", warns: " + warnedOptions(f.moat.warnings)
		}
		var why []string
		byArea := map[string][]string{}
		if !f.moat.ok {
			m = "rejects"
			seen := map[string]bool{}
			for _, e := range f.moat.errors {
				label := e.option
				switch e.kind {
				case "not-yet":
					label = e.option + " (" + notYetForm(e.msg) + ")"
				case "pending":
					label = e.option + " (spelling to accept)"
				case "rejected":
					why = append(why, fmt.Sprintf("line %d: %s: %s", e.line, e.option, e.msg))
					continue
				case "imprecise":
					why = append(why, "imprecise error: "+e.msg)
					continue
				}
				if seen[label] {
					continue
				}
				seen[label] = true
				area := e.area()
				labelArea[label] = area
				byArea[area] = append(byArea[area], label)
				if pending[label] == nil {
					pending[label] = map[string]bool{}
				}
				pending[label][f.rel] = true
			}
		}
		for _, area := range slices.Sorted(maps.Keys(byArea)) {
			why = append(why, area+": "+strings.Join(byArea[area], ", "))
		}
		counts[fmt.Sprintf("%t/%t", f.dnsmasq.ok, f.moat.ok)]++
		cell := strings.Join(why, "; ")
		if len(f.problems) > 0 {
			cell = "**TEST FAILS**: " + strings.Join(f.problems, "; ") + "; " + cell
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", f.rel, mdEscape(d), m, mdEscape(cell))
	}
	fmt.Fprintf(&b, "\n%d configuration files: dnsmasq 2.90 accepts %d, moat accepts %d of those; both reject %d; moat accepts %d that dnsmasq rejects.\n",
		counts["true/true"]+counts["true/false"]+counts["false/true"]+counts["false/false"],
		counts["true/true"]+counts["true/false"], counts["true/true"], counts["false/false"], counts["false/true"])
	b.WriteString("\nWhat moat does not accept yet, by area (files that use it):\n\n| area | option or form | files |\n|---|---|---|\n")
	labels := slices.Collect(maps.Keys(pending))
	slices.SortFunc(labels, func(x, y string) int {
		ax, ay := labelArea[x], labelArea[y]
		if ax != ay {
			return strings.Compare(ax, ay)
		}
		if d := len(pending[y]) - len(pending[x]); d != 0 {
			return d
		}
		return strings.Compare(x, y)
	})
	for _, l := range labels {
		fmt.Fprintf(&b, "| %s | %s | %d |\n", labelArea[l], mdEscape(l), len(pending[l]))
	}
	b.WriteString("\nLines pointed elsewhere before both programs read the files:\n\n")
	for _, f := range files {
		for _, n := range f.neutralised {
			fmt.Fprintf(&b, "- %s %s\n", f.rel, mdEscape(n))
		}
	}
	fmt.Fprintf(&b, "\nNot configuration files (companions: hosts and dhcp-hostsfile entries, leases, UCI, notes), not run: %s.\n",
		strings.Join(companions, ", "))
	return b.String()
}

// notYetForm names the form of a "not supported yet" error without the
// value that showed it: `"@wlan0": the @interface form not supported yet`
// gives "the @interface form", `IPv6 range starting at ::: not supported
// yet (DHCPv6)` gives "DHCPv6".
func notYetForm(msg string) string {
	const marker = "not supported yet"
	if i := strings.Index(msg, marker); i >= 0 {
		if why := strings.Trim(strings.TrimSpace(msg[i+len(marker):]), "()"); why != "" {
			return why
		}
		msg = msg[:i]
	}
	if strings.HasPrefix(msg, `"`) {
		if _, rest, ok := strings.Cut(msg, `": `); ok {
			msg = rest
		}
	}
	return strings.TrimSpace(msg)
}

func mdEscape(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// compatibilityDoc is the document the generated sections live in.
const compatibilityDoc = "../docs/compatibility.md"

// updateOrCheckDoc rewrites the generated section name of
// docs/compatibility.md with -update; otherwise it compares, and a stale
// section fails the test when strict (else it is only logged: the corpus
// table changes whenever someone implements an option).
func updateOrCheckDoc(t *testing.T, name, content string, strict bool) {
	t.Helper()
	data, err := os.ReadFile(compatibilityDoc)
	if err != nil {
		t.Fatalf("read %s: %v", compatibilityDoc, err)
	}
	begin := fmt.Sprintf("<!-- BEGIN GENERATED: %s -->\n", name)
	end := fmt.Sprintf("<!-- END GENERATED: %s -->", name)
	i := bytes.Index(data, []byte(begin))
	j := bytes.Index(data, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q section", compatibilityDoc, strings.TrimSpace(begin), end)
	}
	current := string(data[i+len(begin) : j])
	if current == content {
		return
	}
	if *update {
		out := append(append(append([]byte{}, data[:i+len(begin)]...), content...), data[j:]...)
		if err := os.WriteFile(compatibilityDoc, out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the %s section of %s", name, compatibilityDoc)
		return
	}
	msg := fmt.Sprintf("the %s section of %s is out of date: run go test ./test -run '%s' -update", name, compatibilityDoc, t.Name())
	if strict {
		t.Error(msg)
	} else {
		t.Log(msg)
	}
}

// TestCompatibilityDoc keeps the list of known differences in
// docs/compatibility.md equal to the scenarios', and the option-status
// section equal to the option table (go test ./test -run
// CompatibilityDoc -update rewrites both).
func TestCompatibilityDoc(t *testing.T) {
	updateOrCheckDoc(t, "differences", knownDiffTable(), true)
	updateOrCheckDoc(t, "option-status", optionStatusTable(), true) // corpus_warn_test.go
}
