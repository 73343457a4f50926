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
	fs.Usage = func() { usage(stderr) }
	socket := fs.String("s", config.DefaultControlSocket(os.Geteuid()), "control socket `path`")
	fs.StringVar(socket, "socket", *socket, "control socket `path`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || !known(fs.Arg(0)) {
		usage(stderr)
		return 2
	}
	if err := exchange(*socket, fs.Arg(0), stdout); err != nil {
		fmt.Fprintf(stderr, "moatctl: %v\n", err)
		var me masterError
		if errors.As(err, &me) {
			return 1
		}
		return 2
	}
	return 0
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
