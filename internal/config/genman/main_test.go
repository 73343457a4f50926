package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moatdns/moat/internal/config"
)

const manDir = "../../../man"

// TestManPagesCurrent fails when a committed man page differs from what
// the option table (or man/moatctl.table) gives now: run `make docs`.
func TestManPagesCurrent(t *testing.T) {
	pages, err := render(manDir)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range pages {
		got, err := os.ReadFile(filepath.Join(manDir, name))
		if err != nil {
			t.Errorf("%s: %v (run make docs)", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("man/%s is stale: run make docs (go run ./internal/config/genman -dir man)", name)
		}
	}
}

// TestMoatdPageFromTable: every option of the table is in the page, with
// its short letter, and nothing that would break troff.
func TestMoatdPageFromTable(t *testing.T) {
	var b bytes.Buffer
	if err := config.WriteManPage(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, o := range config.Options() {
		if !strings.Contains(page, `\-\-`+strings.ReplaceAll(o.Name, "-", `\-`)) {
			t.Errorf("option %s missing", o.Name)
		}
		if o.Short != 0 && o.Implemented && !strings.Contains(page, `\fB\-`+string(o.Short)+`\fR`) {
			t.Errorf("short option -%c of %s missing", o.Short, o.Name)
		}
	}
	for i, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, "'") || (strings.HasPrefix(line, ".") && !strings.HasPrefix(line, `.\"`) && !knownMacro(line)) {
			t.Errorf("line %d starts with a control character: %q", i+1, line)
		}
	}
	for _, want := range []string{".SH SIGNALS", "SIGUSR2", "Needs TFTP", "DNSSEC"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func knownMacro(line string) bool {
	for _, m := range []string{".TH ", ".SH ", ".TP", ".B ", ".BR ", ".I ", ".PP"} {
		if strings.HasPrefix(line, m) {
			return true
		}
	}
	return false
}

func TestMoatctlTable(t *testing.T) {
	if _, err := readCommands(strings.NewReader("# only a comment\n")); err == nil {
		t.Error("an empty table was accepted")
	}
	if _, err := readCommands(strings.NewReader("status only two\tfields\n")); err == nil {
		t.Error("a line with two fields was accepted")
	}
	cmds, err := readCommands(strings.NewReader("status\t\tShow it.\nleases\t[ADDR]\tList them.\n"))
	if err != nil || len(cmds) != 2 || cmds[1].args != "[ADDR]" {
		t.Errorf("got %v, %v", cmds, err)
	}
	var b bytes.Buffer
	if err := writeMoatctlPage(&b, strings.NewReader(".dot\t\t-x\n")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `.B \&.dot`) || !strings.Contains(b.String(), `\-x`) {
		t.Errorf("not escaped:\n%s", b.String())
	}
}

// TestMoatctlTableMatchesVerbs: the page lists exactly moatctl's verbs,
// read from its source (a main package cannot be imported).
func TestMoatctlTableMatchesVerbs(t *testing.T) {
	src, err := os.ReadFile("../../../cmd/moatctl/main.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`var verbs = \[\]string\{([^}]*)\}`).FindSubmatch(src)
	if m == nil {
		t.Fatal("cmd/moatctl/main.go has no `var verbs = []string{...}`")
	}
	var verbs []string
	for _, v := range strings.Split(string(m[1]), ",") {
		verbs = append(verbs, strings.Trim(strings.TrimSpace(v), `"`))
	}
	table, err := os.Open(filepath.Join(manDir, "moatctl.table"))
	if err != nil {
		t.Fatal(err)
	}
	defer table.Close()
	cmds, err := readCommands(table)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cmds {
		names = append(names, c.name)
	}
	if strings.Join(names, " ") != strings.Join(verbs, " ") {
		t.Errorf("man/moatctl.table lists %v, moatctl has %v", names, verbs)
	}
}
