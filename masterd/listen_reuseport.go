package masterd

import (
	"fmt"
	"net/netip"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/ipc"
)

// maxUDPGroup bounds the SO_REUSEPORT sockets per address: one per CPU
// the master may run on, up to this many.
const maxUDPGroup = 8

// udpGroupSize is how many UDP sockets each DNS address gets: one per CPU
// (dnsd serves each from its own goroutine, and the kernel spreads
// clients over them by their address and port), within the descriptors
// one SocketSet may carry together with a TCP listener per address.
func udpGroupSize(addresses int) int {
	if addresses <= 0 {
		return 1
	}
	n := min(runtime.NumCPU(), maxUDPGroup, (ipc.MaxFDs-addresses)/addresses)
	return max(n, 1)
}

// openUDPGroup opens n UDP sockets on ap. With n > 1 they share the port
// through SO_REUSEPORT. A port in use must still fail as it does without
// reuse, and a second moatd must not join the group and take half the
// queries: so a plain socket (no SO_REUSEPORT) is bound first, which
// fails while anything else holds the port, and closed again. (Only a
// process of the same user could join later, with SO_REUSEPORT itself.)
func openUDPGroup(ap netip.AddrPort, pktinfo bool, n int) ([]openSocket, error) {
	probe, err := openUDP(ap, pktinfo)
	if err != nil || n <= 1 || ap.Port() == 0 { // port 0: each socket would get its own port
		if err != nil {
			return nil, err
		}
		return []openSocket{probe}, nil
	}
	_ = probe.file.Close()
	var socks []openSocket
	for i := range n {
		s, err := openUDP(ap, pktinfo, sockopt{unix.SOL_SOCKET, unix.SO_REUSEPORT, 1, "SO_REUSEPORT"})
		if err != nil {
			closeSockets(socks)
			return nil, fmt.Errorf("udp %s, socket %d of %d: %w", ap, i+1, n, err)
		}
		socks = append(socks, s)
	}
	return socks, nil
}
