package masterd

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/dhcpserver"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// dhcpInterfaces are the interfaces DHCP runs on: up, not loopback,
// allowed by interface=, except-interface and no-dhcp-interface, with an
// IPv4 network that holds the start of a dhcp-range (dnsmasq serves a
// range on the interfaces whose subnet it lies in).
func dhcpInterfaces(cfg *config.Config) ([]net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []net.Interface
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 || !dhcpAllowed(cfg, ifc.Name) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		if hasRangeNetwork(addrs, cfg.DHCP.Ranges) {
			out = append(out, ifc)
		}
	}
	return out, nil
}

func dhcpAllowed(cfg *config.Config, name string) bool {
	for _, p := range cfg.ExceptInterfaces {
		if ifaceMatch(p, name) {
			return false
		}
	}
	for _, p := range cfg.DHCP.NoInterfaces {
		if ifaceMatch(p, name) {
			return false
		}
	}
	if len(cfg.Interfaces) == 0 {
		return true
	}
	for _, p := range cfg.Interfaces {
		if p != "" && ifaceMatch(p, name) {
			return true
		}
	}
	return false
}

func hasRangeNetwork(addrs []net.Addr, ranges []config.DHCPRange) bool {
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil {
			continue
		}
		ones, _ := ipn.Mask.Size()
		ip, _ := netip.AddrFromSlice(ipn.IP.To4())
		pfx := netip.PrefixFrom(ip, ones).Masked()
		for _, r := range ranges {
			if r.Start.Is4() && pfx.Contains(r.Start) {
				return true
			}
		}
	}
	return false
}

// openDHCPSockets opens the DHCP sockets all interfaces share: the
// routed UDP :67 socket (openDHCPRouted) and, unless no-ping is set, one
// raw ICMP socket for the ping check (openDHCPICMP). dhcpd, in an empty
// network namespace, can open neither. They are opened even when no
// interface qualifies yet: one may appear later. Each interface's own
// sockets (UDP :67 bound to the device, where broadcasts arrive with
// IP_PKTINFO telling the destination, and a send-only AF_PACKET socket
// for replies to clients that have no address yet) are dhcpLinks'
// (dhcp_links.go), which opens them as interfaces appear.
func openDHCPSockets(cfg *config.Config, log *logger) ([]openSocket, error) {
	var socks []openSocket
	routed, err := openDHCPRouted()
	if err != nil {
		// Replies to relays and clients' addresses then leave by the
		// arrival interface, which is right unless routing is
		// asymmetric.
		log.printf("master", "DHCP: %v: relayed and unicast replies leave by the interface the request came in on", err)
	} else {
		socks = append(socks, routed)
	}
	if !cfg.DHCP.NoPing {
		icmp, err := openDHCPICMP()
		if err != nil {
			// As dnsmasq: an address that cannot be pinged counts as free.
			log.printf("master", "DHCP ping check off: %v", err)
		} else {
			socks = append(socks, icmp)
		}
	}
	return socks, nil
}

// openDHCPRouted opens the socket dhcpd sends relayed and unicast
// replies on (to giaddr:67, or a client's ciaddr): UDP 0.0.0.0:67 bound
// to no interface, so that the routing table chooses where a reply
// leaves, as dnsmasq's replies do; the per-interface sockets are bound
// to their device, which would force the reply out of the interface the
// request came in on. It shares port 67 with them (SO_REUSEADDR): the
// kernel gives unicast requests to the device-bound socket, the better
// match, but broadcasts to every socket, so a filter drops whatever
// this one would receive before it is queued.
func openDHCPRouted() (openSocket, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return openSocket{}, fmt.Errorf("routed dhcp socket: %w", err)
	}
	fail := func(what string, err error) (openSocket, error) {
		_ = unix.Close(fd)
		return openSocket{}, fmt.Errorf("routed dhcp socket: %s: %w", what, err)
	}
	dropAll := []unix.SockFilter{{Code: 0x06, K: 0}} // BPF_RET|BPF_K 0
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: 1, Filter: &dropAll[0]}); err != nil {
		return fail("filter", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 67}); err != nil {
		return fail("bind 0.0.0.0:67", err)
	}
	desc := &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DHCP_ROUTED, Address: "0.0.0.0:67"}
	return openSocket{desc: desc, file: os.NewFile(uintptr(fd), "dhcp-routed")}, nil
}

// openDHCPICMP opens the ping check's socket: one raw IPPROTO_ICMP
// socket for all DHCP interfaces, bound to none, so that an echo request
// leaves the way the routing table says (a relayed client's subnet is
// not on any DHCP interface), like dnsmasq's. It needs CAP_NET_RAW, and
// it must be opened here: dhcpd's own network namespace is empty. A
// raw ICMP socket receives a copy of every ICMP message the host gets;
// the classic BPF filter lets only echo replies through until dhcpd
// replaces it with one for its own identifier.
func openDHCPICMP() (openSocket, error) {
	const icmpSendBuffer = 4 << 20
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return openSocket{}, fmt.Errorf("raw ICMP socket: %w", err)
	}
	// An echo request to an address nobody answers waits in the ARP
	// queue for the whole ping wait, charged to this socket's send
	// buffer; the default buffer holds a few hundred, and a full one
	// fails sends (dhcpd then offers unchecked). Room for every probe
	// the engine allows in flight (dhcpserver.DefaultMaxProbes, about a
	// kilobyte each in the kernel); without CAP_NET_ADMIN the kernel
	// caps the size at net.core.wmem_max.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, icmpSendBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, icmpSendBuffer)
	}
	raw, err := dhcpserver.EchoReplyFilter(0, false)
	if err == nil {
		filter := make([]unix.SockFilter, len(raw))
		for i, ins := range raw {
			filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		}
		prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
		err = unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog)
	}
	if err != nil {
		_ = unix.Close(fd)
		return openSocket{}, fmt.Errorf("raw ICMP socket: filter: %w", err)
	}
	desc := &ipcpb.Socket{Kind: ipcpb.Socket_KIND_ICMP}
	return openSocket{desc: desc, file: os.NewFile(uintptr(fd), "dhcp-icmp")}, nil
}

// dhcpReceiveBuffer is the receive buffer of a DHCP interface's socket.
const dhcpReceiveBuffer = 2 << 20

func openDHCPUDP(ifname string) (openSocket, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return openSocket{}, fmt.Errorf("dhcp socket for %s: %w", ifname, err)
	}
	fail := func(what string, err error) (openSocket, error) {
		_ = unix.Close(fd)
		return openSocket{}, fmt.Errorf("dhcp socket for %s: %s: %w", ifname, what, err)
	}
	// One socket per interface on the same wildcard port: SO_REUSEADDR
	// with SO_BINDTODEVICE keeps them apart.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return fail("SO_BROADCAST", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
		return fail("IP_PKTINFO", err)
	}
	// Room for a burst: requests that arrive while dhcpd is off the CPU
	// (a garbage collection, the leases file rewrite, other processes)
	// wait here rather than being dropped by the kernel at random;
	// dhcpd reads them all at once and decides itself what to drop
	// under overload (dhcpd/queue.go). The default (net.core.rmem_default,
	// 208 KiB) holds about 200 requests. Without CAP_NET_ADMIN the kernel
	// caps the size at net.core.rmem_max.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, dhcpReceiveBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, dhcpReceiveBuffer)
	}
	if err := unix.BindToDevice(fd, ifname); err != nil {
		return fail("SO_BINDTODEVICE", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 67}); err != nil {
		return fail("bind 0.0.0.0:67", err)
	}
	desc := &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DHCP_UDP, Address: "0.0.0.0:67", Pktinfo: true, Interface: ifname}
	return openSocket{desc: desc, file: os.NewFile(uintptr(fd), "dhcp-udp-"+ifname)}, nil
}

// openDHCPPacket opens an AF_PACKET SOCK_DGRAM socket bound to the
// interface with protocol 0, so that it receives nothing: dhcpd only
// sends on it (IPv4 frames to a client's hardware address).
func openDHCPPacket(ifc net.Interface) (openSocket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return openSocket{}, fmt.Errorf("dhcp packet socket for %s: %w", ifc.Name, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
		_ = unix.Close(fd)
		return openSocket{}, fmt.Errorf("dhcp packet socket for %s: bind: %w", ifc.Name, err)
	}
	desc := &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DHCP_PACKET, Interface: ifc.Name}
	return openSocket{desc: desc, file: os.NewFile(uintptr(fd), "dhcp-packet-"+ifc.Name)}, nil
}
