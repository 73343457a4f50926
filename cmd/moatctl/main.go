// Command moatctl talks to a running moatd master over its control
// socket (docs/operations.md): it sends one verb and prints the answer.
// It parses its arguments and copies bytes; the master checks who asks
// and what.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/moatdns/moat/internal/config"
)

const (
	// timeout bounds the whole exchange (the master bounds its side).
	timeout = 30 * time.Second
	// maxAnswer bounds what moatctl reads: a dump of a very large cache
	// fits with room to spare.
	maxAnswer = 64 << 20
)

var verbs = []string{"status", "leases", "cache", "dump", "reload"}

func usage(w io.Writer) {
	fmt.Fprintf(w, `usage: moatctl [-s socket] <verb>

verbs:
  status   roles, pids, uptime, restarts and the workers' hardening
  leases   the DHCP lease table
  cache    cache and query statistics (as SIGUSR1 logs them)
  dump     the cache's records: name, type, TTL left, data, flags
  reload   re-read hosts, resolv and DHCP host files, clear the cache (as SIGHUP)

The socket defaults to %s (as root) or the run directory of the
calling user's development master; moatd's control-socket= moves it.
`, config.DefaultControlSocket(0))
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is moatctl's main: 0 done, 1 the master answered with an error, 2
// bad usage or no master to talk to.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("moatctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below: on stdout when asked for
	defaultSocket := config.DefaultControlSocket(os.Geteuid())
	socket := fs.String("s", defaultSocket, "control socket `path`")
	fs.StringVar(socket, "socket", *socket, "control socket `path`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			// Asked for: the usage is the answer, on stdout.
			usage(stdout)
			return 0
		}
		usage(stderr)
		return 2
	}
	switch {
	case fs.NArg() == 0:
		fmt.Fprintln(stderr, "moatctl: no verb given")
		usage(stderr)
		return 2
	case fs.NArg() > 1:
		fmt.Fprintf(stderr, "moatctl: one verb at a time, got %q\n", fs.Args())
		usage(stderr)
		return 2
	case !known(fs.Arg(0)):
		fmt.Fprintf(stderr, "moatctl: unknown verb %q\n", fs.Arg(0))
		usage(stderr)
		return 2
	}
	if err := exchange(*socket, fs.Arg(0), stdout); err != nil {
		fmt.Fprintf(stderr, "moatctl: %v\n", err)
		if hint := connectHint(err, *socket == defaultSocket, os.Geteuid()); hint != "" {
			fmt.Fprintf(stderr, "moatctl: %s\n", hint)
		}
		var me masterError
		if errors.As(err, &me) {
			return 1
		}
		return 2
	}
	return 0
}

// connectHint explains the two ways a user who is not root commonly
// fails to reach the system's master: its socket is root's (and the
// control-group's), and without -s moatctl looked for a development
// master of the caller's own instead.
func connectHint(err error, defaultPath bool, euid int) string {
	if euid == 0 {
		return ""
	}
	system := config.DefaultControlSocket(0)
	switch {
	case errors.Is(err, syscall.EACCES):
		return "the control socket is for root and the members of moatd's control-group"
	case defaultPath && errors.Is(err, syscall.ENOENT):
		if _, serr := os.Stat(system); serr == nil {
			return fmt.Sprintf("the system's master listens on %s, for root and the members of its control-group: run moatctl as root or with -s %s", system, system)
		}
	}
	return ""
}

func known(verb string) bool {
	for _, v := range verbs {
		if v == verb {
			return true
		}
	}
	return false
}

// masterError is an "error ..." answer from the master.
type masterError string

func (e masterError) Error() string { return string(e) }

// exchange sends verb and copies the answer's body to out.
func exchange(socket, verb string, out io.Writer) error {
	c, err := net.DialTimeout("unix", socket, timeout)
	if err != nil {
		return fmt.Errorf("connect to the master: %w", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := io.WriteString(c, verb+"\n"); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	r := bufio.NewReader(io.LimitReader(c, maxAnswer))
	status, err := r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	status = strings.TrimSuffix(status, "\n")
	switch {
	case status == "ok":
	case strings.HasPrefix(status, "error "):
		return masterError(strings.TrimPrefix(status, "error "))
	default:
		return fmt.Errorf("unexpected answer %q", status)
	}
	if _, err := io.Copy(out, r); err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	return nil
}
