// Package dhcpd is the DHCPv4 worker. Until the DHCP server lands it is
// started, confined and supervised exactly like dnsd, receives its sockets,
// reports Ready and idles, so that the process shape is fixed from the start.
package dhcpd

import (
	"errors"
	"fmt"
	"io"
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
	if err := w.Ready(); err != nil {
		fmt.Fprintf(os.Stderr, "ready: %v\n", err)
		return 1
	}
	if err := idle(w); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		return 1
	}
	return 0
}

// idle waits for the master to stop it. Any message other than Shutdown
// breaks the protocol: the master sends dhcpd nothing else yet.
func idle(w *workerproc.Worker) error {
	for {
		m, fds, err := w.Conn.Recv()
		for _, fd := range fds {
			_ = os.NewFile(uintptr(fd), "").Close()
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("ipc: %w", err)
		case m.GetShutdown() != nil:
			return nil
		default:
			return fmt.Errorf("ipc: unexpected %T", m.GetMsg())
		}
	}
}
