package config

import (
	"fmt"
	"io"
	"strings"
)

// The man page moatd(8), generated from the option table (Options) so
// that it cannot drift from the parser: `make docs` runs
// internal/config/genman, and TestManPageCurrent fails when man/moatd.8
// is stale. The prose around the option list is here too, short, and
// points at the documents that hold the details.

// WriteManPage writes moatd(8) in troff (man macros).
func WriteManPage(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`.\" Generated from internal/config's option table by internal/config/genman
.\" (make docs). Do not edit: change the table and regenerate.
.TH MOATD 8 "" "moat" "System Manager's Manual"
.SH NAME
moatd \- privilege\-separated DNS forwarder, cache and DHCP server with dnsmasq's configuration language
.SH SYNOPSIS
.B moatd
[\fIOPTION\fR]...
.SH DESCRIPTION
.B moatd
reads dnsmasq's configuration language: the options below, given on the
command line as \fB\-\-name\fR[\fB=\fIvalue\fR] (or the short letter
shown), and in configuration files as \fBname\fR[\fB=\fIvalue\fR], one
per line.
When the command line names no \fB\-\-conf\-file\fR, /etc/dnsmasq.conf is
read if it exists, as dnsmasq does.
On the command line a long option may be shortened to any unambiguous
prefix; a short option takes its value attached (\fB\-p53\fR) or as the
next argument (\fB\-p 53\fR), and short options without values may be
bundled (\fB\-kd\fR).
.PP
The master process keeps the configuration, the sockets and the lease
database; the DNS and DHCP work is done by worker processes that run as
an unprivileged user in an empty chroot under a seccomp filter.
Unless \fB\-\-keep\-in\-foreground\fR or \fB\-\-no\-daemon\fR is given,
.B moatd
puts itself in the background once every worker is ready, and the pid
file names the background process.
.PP
An option that moat recognises but does not implement is an error that
names it; it is never ignored.
Options accepted without effect say so below and give a warning at start
and in \fB\-\-test\fR.
.SH OPTIONS
`)
	for _, o := range Options() {
		if !o.Implemented || o.Moat {
			continue
		}
		writeManOption(&b, o)
	}
	b.WriteString(".SH MOAT'S OWN OPTIONS\nThese are not dnsmasq options.\n")
	for _, o := range Options() {
		if o.Implemented && o.Moat {
			writeManOption(&b, o)
		}
	}
	b.WriteString(`.SH OPTIONS NOT SUPPORTED YET
These dnsmasq 2.90 options are recognised and refused with an error
that names them (and, where given, what moat has not built yet).
`)
	for _, o := range Options() {
		if o.Implemented {
			continue
		}
		fmt.Fprintf(&b, ".TP\n.B \\-\\-%s\n", troffEscape(o.Name))
		if o.Needs != "" {
			fmt.Fprintf(&b, "Needs %s, which moat does not have yet.\n", troffEscape(o.Needs))
		} else {
			b.WriteString("Not supported yet.\n")
		}
	}
	b.WriteString(`.SH SIGNALS
.TP
.B SIGHUP
Clear the DNS cache and re\-read the hosts files, resolv\-file,
dhcp\-hostsfile and /etc/ethers, as dnsmasq does; the dhcp\-script is
called with "old" for every lease.
.TP
.B SIGUSR1
Write the cache and query statistics to the log.
.TP
.B SIGUSR2
Close and reopen the log file (log\-facility=/path), for log rotation.
.TP
.BR SIGTERM ", " SIGINT
Stop the workers, write the leases file and exit.
.SH FILES
.TP
.I /etc/dnsmasq.conf
The configuration file read when the command line names none.
.TP
.I /var/lib/misc/moatd.leases
The leases file (dhcp\-leasefile), in dnsmasq's format; moat can start
from a leases file dnsmasq wrote.
.TP
.I /run/moatd.pid
The pid file (pid\-file).
.SH SEE ALSO
.BR moatctl (8),
.BR dnsmasq (8);
docs/compatibility.md and docs/migrating\-from\-dnsmasq.md in moat's
sources.
`)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeManOption writes one option as a tagged paragraph:
// "-p, --port=<port>" and its help line.
func writeManOption(b *strings.Builder, o OptionInfo) {
	b.WriteString(".TP\n")
	var tag strings.Builder
	if o.Short != 0 {
		tag.WriteString(`\fB\-` + troffEscape(string(o.Short)) + `\fR`)
		if o.ShortArg && o.Meta != "" {
			tag.WriteString(` \fI` + troffEscape(o.Meta) + `\fR`)
		}
		tag.WriteString(", ")
	}
	tag.WriteString(`\fB\-\-` + troffEscape(o.Name) + `\fR`)
	switch {
	case o.Arg == ArgRequired && o.Meta != "":
		tag.WriteString(`=\fI` + troffEscape(o.Meta) + `\fR`)
	case o.Arg == ArgOptional && o.Meta != "":
		tag.WriteString(`[=\fI` + troffEscape(o.Meta) + `\fR]`)
	}
	b.WriteString(tag.String() + "\n")
	help := troffEscape(o.Help)
	if !strings.HasSuffix(help, ".") {
		help += "."
	}
	if o.CommandLineOnly {
		help += " Command line only."
	}
	if o.Once {
		help += " At most once on the command line and once in files."
	}
	b.WriteString(help + "\n")
}

// troffEscape makes text safe in a man page: backslashes and hyphens
// escaped, and a line that would start with a control character guarded.
func troffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
