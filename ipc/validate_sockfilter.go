package ipc

import ipcpb "github.com/moatdns/moat/ipc/proto"

// Issue 5 (sockfilter): the eBPF descriptors that travel in a SocketSet,
// and DNSConfig's socket-filter mode.

// validateFilterSocket checks a Socket of an eBPF kind: it names no
// address or interface (it is a program or map, not a socket).
func validateFilterSocket(s *ipcpb.Socket) error {
	switch s.GetKind() {
	case ipcpb.Socket_KIND_BPF_UPSTREAM_PROG, ipcpb.Socket_KIND_BPF_EXPECT_MAP, ipcpb.Socket_KIND_BPF_EXPECT_SET_MAP:
		if s.GetAddress() != "" || s.GetInterface() != "" || s.GetPktinfo() {
			return invalid("kind %s: address, interface and pktinfo must be empty", s.GetKind())
		}
	}
	return nil
}

// validateSocketFilterMode checks DNSConfig.socket_filter.
func validateSocketFilterMode(mode string) error {
	switch mode {
	case "", "auto", "ebpf", "classic", "off":
		return nil
	}
	return invalid("socket_filter: %q is not auto, ebpf, classic or off", mode)
}
