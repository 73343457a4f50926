// Command genman writes moat's man pages: man/moatd.8 from
// internal/config's option table (the parser's own), and man/moatctl.8
// from the command table man/moatctl.table. `make docs` runs it; its test
// fails when a committed page is stale.
//
//	go run ./internal/config/genman -dir man
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moatdns/moat/internal/config"
)

func main() {
	dir := flag.String("dir", "man", "directory of moatctl.table and the pages written")
	flag.Parse()
	if err := generate(*dir); err != nil {
		fmt.Fprintf(os.Stderr, "genman: %v\n", err)
		os.Exit(1)
	}
}

// generate writes both pages into dir.
func generate(dir string) error {
	pages, err := render(dir)
	if err != nil {
		return err
	}
	for name, data := range pages {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// render returns each page's bytes by file name.
func render(dir string) (map[string][]byte, error) {
	var moatd bytes.Buffer
	if err := config.WriteManPage(&moatd); err != nil {
		return nil, fmt.Errorf("moatd.8: %w", err)
	}
	table, err := os.Open(filepath.Join(dir, "moatctl.table"))
	if err != nil {
		return nil, fmt.Errorf("moatctl.8: %w", err)
	}
	defer table.Close()
	var moatctl bytes.Buffer
	if err := writeMoatctlPage(&moatctl, table); err != nil {
		return nil, fmt.Errorf("moatctl.8: %w", err)
	}
	return map[string][]byte{"moatd.8": moatd.Bytes(), "moatctl.8": moatctl.Bytes()}, nil
}

type command struct{ name, args, help string }

// readCommands reads the table: NAME<TAB>ARGUMENTS<TAB>HELP lines; '#'
// starts a comment line.
func readCommands(r io.Reader) ([]command, error) {
	var out []command
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[0] == "" || f[2] == "" {
			return nil, fmt.Errorf("moatctl.table line %d: want NAME<TAB>ARGUMENTS<TAB>HELP", n)
		}
		out = append(out, command{f[0], f[1], f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read moatctl.table: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("moatctl.table lists no command")
	}
	return out, nil
}

func writeMoatctlPage(w io.Writer, table io.Reader) error {
	cmds, err := readCommands(table)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(`.\" Generated from man/moatctl.table by internal/config/genman (make docs).
.\" Do not edit: change the table and regenerate.
.TH MOATCTL 8 "" "moat" "System Manager's Manual"
.SH NAME
moatctl \- query and control a running moatd
.SH SYNOPSIS
.B moatctl
[\fB\-s\fR \fIsocket\fR]
\fIVERB\fR
.SH DESCRIPTION
.B moatctl
sends one verb to the master process of
.BR moatd (8)
over its control socket and prints the answer.
Only root and, with moatd's control\-group=, that group may use the
socket.
It replaces dnsmasq's D\-Bus and ubus interfaces for state and
statistics.
.SH OPTIONS
.TP
\fB\-s\fR, \fB\-\-socket\fR \fIpath\fR
The control socket (default ` + esc(config.DefaultControlSocket(0)) + ` as root, else the run
directory of the calling user's development master; moatd's
control\-socket= moves it).
.TP
\fB\-h\fR, \fB\-\-help\fR
Print the usage on standard output and exit 0.
.SH VERBS
`)
	for _, c := range cmds {
		b.WriteString(".TP\n.B " + esc(c.name))
		if c.args != "" {
			b.WriteString(" \\fI" + esc(c.args) + "\\fR")
		}
		b.WriteString("\n" + esc(c.help) + "\n")
	}
	b.WriteString(`.SH EXIT STATUS
0 when the master answered (or for \fB\-\-help\fR), 1 when it answered
with an error, 2 for bad usage (no verb, an unknown verb, more than one
verb) or when no master could be reached; a user who is not root is
told when the system's master listens where moatctl did not look, or
refused the connection.
.SH SEE ALSO
.BR moatd (8)
`)
	_, err = io.WriteString(w, b.String())
	return err
}

func esc(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
