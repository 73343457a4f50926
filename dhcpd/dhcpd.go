// Package dhcpd is the DHCPv4 worker. It is started, confined and
// supervised like dnsd; before Ready it receives its configuration from
// the master (a DHCPConfig, streamed in chunks: option text it parses
// with config.ParseText, which opens no file, and the text of the hosts
// files the master read) and builds its DHCP engine from it; a later
// DHCPConfig (SIGHUP) rebuilds the engine once its stream has ended.
// Before the configuration come the interfaces' sockets
// (DHCPSocketsChanged) and a DHCPState: the interfaces (dhcpd lives in an
// empty network namespace and cannot see them) and the leases of the
// master's store. It serves the UDP :67 sockets the master passed, one
// per interface, sends replies to clients without an address on the
// interface's AF_PACKET socket, and has every lease change made durable
// by the master (LeaseCommit) before the ACK that depends on it leaves.
// It runs the ping check on the raw ICMP socket the master opened
// (ping.go), sends replies to relays and to clients' own addresses on a
// socket bound to no interface (the routing table chooses), follows the
// addresses of its interfaces as the master reports them, and serves
// interfaces that appear while it runs and drops those that go
// (links.go).
package dhcpd

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/moatdns/moat/internal/workerproc"
)

// dhcpdGCPercent is dhcpd's GOGC unless the environment sets one.
const dhcpdGCPercent = 400

// Role is this worker's name in the role table, argv and logs.
const Role = "dhcpd"

// Run is the worker's main; it returns the process exit code.
func Run(args []string) int {
	if os.Getenv("GOGC") == "" {
		// dhcpd keeps the whole lease table (tens of thousands of
		// leases, every one a few small objects) and allocates a little
		// for every request: with Go's default the collector rescans
		// the table several times a second under load, a sizeable share
		// of the CPU. Four times the live heap between collections
		// trades some memory (the table is a few megabytes) for most of
		// that work.
		debug.SetGCPercent(dhcpdGCPercent)
	}
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
	srv.attachSockets(w.Sockets)
	if err := srv.run(w.Conn); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		return 1
	}
	return 0
}
