package test

import (
	"fmt"
	"sort"
	"strings"
)

// knownDiffTable renders every scenario's known differences as the
// Markdown table of docs/compatibility.md, one row per query and reason.
func knownDiffTable() string {
	diffMu.Lock()
	scenarios := append([]diffScenario(nil), diffScenarios...)
	diffMu.Unlock()
	sort.SliceStable(scenarios, func(i, j int) bool { return scenarios[i].name < scenarios[j].name })
	var b strings.Builder
	b.WriteString("| scenario | query | fields | kind | reason |\n|---|---|---|---|---|\n")
	row := func(scenario string, ks []knownDiff) {
		for i := 0; i < len(ks); {
			j := i + 1
			fields := []string{ks[i].field}
			for j < len(ks) && ks[j].query == ks[i].query && ks[j].kind == ks[i].kind && ks[j].reason == ks[i].reason {
				fields = append(fields, ks[j].field)
				j++
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s |\n", scenario, ks[i].query, strings.Join(fields, ", "), ks[i].kind, strings.ReplaceAll(ks[i].reason, "|", `\|`))
			i = j
		}
	}
	row("(every scenario)", globalKnown)
	for _, sc := range scenarios {
		row(sc.name, sc.known)
		// Log lines one side writes alone (log-queries), one row per
		// reason.
		for i := 0; i < len(sc.logKnown); {
			k := sc.logKnown[i]
			lines := []string{k.side + ": `" + k.line + "`"}
			j := i + 1
			for j < len(sc.logKnown) && sc.logKnown[j].reason == k.reason && sc.logKnown[j].kind == k.kind {
				lines = append(lines, sc.logKnown[j].side+": `"+sc.logKnown[j].line+"`")
				j++
			}
			fmt.Fprintf(&b, "| %s | %s | log | %s | %s |\n", sc.name, strings.Join(lines, "<br>"), k.kind, strings.ReplaceAll(k.reason, "|", `\|`))
			i = j
		}
		if sc.noLogs != "" {
			fmt.Fprintf(&b, "| %s | (all) | log not compared | deliberate | %s |\n", sc.name, strings.ReplaceAll(sc.noLogs, "|", `\|`))
		}
	}
	return b.String()
}
