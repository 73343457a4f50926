// Package dhcpd is the DHCPv4 worker. It is started, confined and
// supervised like dnsd; before Ready it receives its configuration from
// the master (a DHCPConfig: option text it parses with config.ParseText,
// which opens no file, and the text of the hosts files the master read)
// and builds its DHCP engine from it; a later DHCPConfig (SIGHUP) rebuilds
// the engine. It has no sockets yet, so it answers no client.
package dhcpd

import (
	"fmt"
	"os"

	"github.com/moatdns/moat/internal/workerproc"
)

// Role is this worker's name in the role table, argv and logs.
const Role = "dhcpd"

// Run is the worker's main; it returns the process exit code.
func Run(args []string) int {
	w, err := workerproc.Start(Role, args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "start: %v\n", err)
		return 1
	}
	srv, err := configure(w.Conn)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		return 1
	}
	if err := w.Ready(); err != nil {
		fmt.Fprintf(os.Stderr, "ready: %v\n", err)
		return 1
	}
	if err := srv.serve(w.Conn); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		return 1
	}
	return 0
}
