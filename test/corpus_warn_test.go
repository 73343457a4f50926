package test

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moatdns/moat/internal/config"
)

// What the corpus test allows moat to refuse in a file dnsmasq accepts
// (issue 6): options and forms that need a subsystem moat has not built,
// each error naming it; and what it must warn about: the options it
// accepts without acting on them.

var needsSubsystem = regexp.MustCompile(`^unsupported option: needs (.+), which moat does not have yet$`)

// unbuilt names the subsystem a refusal waits for, "" when the error
// names none (then the refusal of a line dnsmasq accepts is a failure).
func (e moatError) unbuilt() string {
	switch e.kind {
	case "unsupported":
		if m := needsSubsystem.FindStringSubmatch(e.msg); m != nil {
			return m[1]
		}
	case "not-yet":
		if strings.HasSuffix(e.msg, "not supported yet (DHCPv6)") {
			return config.NeedsDHCPv6
		}
	}
	return ""
}

// area groups the refusals for the report: the subsystem, else "other".
func (e moatError) area() string {
	if u := e.unbuilt(); u != "" {
		return u
	}
	return "other"
}

// warnedOptions is the table cell for moat's warnings: the options each
// names.
func warnedOptions(warnings []string) string {
	var opts []string
	for _, w := range warnings {
		o, _, _ := strings.Cut(w, ": ")
		opts = append(opts, o)
	}
	return strings.Join(opts, "; ")
}

// warningProblems checks that moatd --test warned about every inert
// option the file gives (enable-dbus, dnssec, ipset...).
func (f *corpusFile) warningProblems(t *testing.T) []string {
	if f.path == "" {
		return nil
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	inert := map[string]bool{}
	for _, o := range config.Options() {
		if o.Inert && !strings.HasPrefix(o.Name, "quiet-") { // quiet-dhcp6 and quiet-ra change nothing: no warning
			inert[o.Name] = true
		}
	}
	var problems []string
	for i := range strings.Split(string(data), "\n") {
		opt := optionOnLine(t, f.path, i+1)
		if !inert[opt] {
			continue
		}
		if !slices.ContainsFunc(f.moat.warnings, func(w string) bool { return warningNames(w, opt) }) {
			problems = append(problems, fmt.Sprintf("line %d gives %s, which moat accepts without acting on it, and moatd --test gave no warning naming it (warnings: %q)", i+1, opt, f.moat.warnings))
		}
	}
	return problems
}

// warningNames reports whether a warning's option list ("dnssec,
// trust-anchor (2): ...", "enable-ubus=dnsmasq: ...") names opt.
func warningNames(w, opt string) bool {
	list, _, _ := strings.Cut(w, ": ")
	for _, item := range strings.Split(list, ", ") {
		name, _, _ := strings.Cut(item, "=")
		name, _, _ = strings.Cut(name, " (")
		if name == opt {
			return true
		}
	}
	return false
}

// corpusSummary is one line for the test log: the counts, and what still
// keeps files dnsmasq accepts from being accepted, by subsystem.
func corpusSummary(files []*corpusFile) string {
	var configs, dnsmasqOK, bothOK int
	byArea := map[string]map[string]bool{}
	for _, f := range files {
		if !f.config {
			continue
		}
		configs++
		if !f.dnsmasq.ok {
			continue
		}
		dnsmasqOK++
		if f.moat.ok {
			bothOK++
		}
		for _, e := range f.moat.errors {
			if byArea[e.area()] == nil {
				byArea[e.area()] = map[string]bool{}
			}
			byArea[e.area()][e.option] = true
		}
	}
	var parts []string
	for _, a := range slices.Sorted(maps.Keys(byArea)) {
		parts = append(parts, a+": "+strings.Join(slices.Sorted(maps.Keys(byArea[a])), " "))
	}
	return fmt.Sprintf("%d configuration files, dnsmasq accepts %d, moat accepts %d of them; still refused: %s",
		configs, dnsmasqOK, bothOK, strings.Join(parts, "; "))
}

// optionStatusTable is the generated section "option-status" of
// docs/compatibility.md, from the option table itself: the dnsmasq
// options moat accepts without acting on them, and those it refuses
// because they need a subsystem it has not built.
func optionStatusTable() string {
	var b strings.Builder
	b.WriteString("| option | status |\n|---|---|\n")
	opts := config.Options()
	for _, o := range opts {
		if o.Inert {
			fmt.Fprintf(&b, "| %s | accepted, not acted on: %s |\n", o.Name, mdEscape(o.Help))
		}
	}
	bySubsystem := map[string][]string{}
	for _, o := range opts {
		if o.Needs != "" {
			bySubsystem[o.Needs] = append(bySubsystem[o.Needs], o.Name)
		}
	}
	for _, s := range slices.Sorted(maps.Keys(bySubsystem)) {
		fmt.Fprintf(&b, "| %s | refused: needs %s, which moat does not have yet |\n", strings.Join(bySubsystem[s], ", "), s)
	}
	b.WriteString("| the IPv6 forms of dhcp-range, dhcp-host, dhcp-option and dhcp-option-force | refused: \"not supported yet (DHCPv6)\" |\n")
	var other []string
	for _, o := range opts {
		if !o.Implemented && o.Needs == "" {
			other = append(other, o.Name)
		}
	}
	fmt.Fprintf(&b, "| %s | refused: \"unsupported option\" (not in any configuration of the corpus) |\n", strings.Join(other, ", "))
	return b.String()
}
