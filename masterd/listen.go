package masterd

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/config"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// openSocket is a socket the master opened and keeps for the whole run, so
// that a restarted worker gets the very same descriptor again.
type openSocket struct {
	desc *ipcpb.Socket
	file *os.File
}

// listenPlan is where DNS is served and which arrivals dnsd may answer when
// the sockets are wildcards.
type listenPlan struct {
	binds       []netip.AddrPort // bind-interfaces: one UDP and one TCP socket each
	wildcard    bool             // otherwise: one wildcard UDP (pktinfo) and TCP per family
	allowed     []netip.Addr
	allowedIfs  []uint32
	excludedIfs []uint32
	// missing are the interface= names (not patterns) that match no
	// interface now: with wildcard sockets they are served once they
	// appear, as in dnsmasq, which warns of them at start.
	missing []string
	// follow, with wildcard sockets and interface= or except-interface,
	// keeps the lists above in line with the interfaces as they come and
	// go (listen_follow.go); nil otherwise.
	follow *allowFollower
}

// planListeners turns listen-address, interface, except-interface and
// bind-interfaces into sockets to open, as dnsmasq does: with none of
// listen-address and interface every interface is served; with interface=
// the loopback interface is served too; except-interface always wins.
// With wildcard sockets an interface= that does not exist yet is served
// when it appears (the master follows the interfaces: listen_follow.go);
// with bind-interfaces it is dnsmasq's fatal "unknown interface".
func planListeners(cfg *config.Config) (listenPlan, error) {
	p, err := planListenersNow(cfg)
	if err == nil && p.wildcard && (len(cfg.Interfaces) > 0 || len(cfg.ExceptInterfaces) > 0) {
		p.follow = newAllowFollower(p, len(cfg.Interfaces) > 0 || len(cfg.ListenAddresses) > 0)
	}
	return p, err
}

// planListenersNow is planListeners for the interfaces as they are now.
func planListenersNow(cfg *config.Config) (listenPlan, error) {
	var p listenPlan
	ifaces, err := net.Interfaces()
	if err != nil {
		return p, fmt.Errorf("list interfaces: %w", err)
	}
	excluded := func(name string) bool {
		for _, pat := range cfg.ExceptInterfaces {
			if ifaceMatch(pat, name) {
				return true
			}
		}
		return false
	}
	for _, ifc := range ifaces {
		if excluded(ifc.Name) {
			p.excludedIfs = append(p.excludedIfs, uint32(ifc.Index))
		}
	}
	p.allowed = append(p.allowed, cfg.ListenAddresses...)
	everything := len(cfg.ListenAddresses) == 0 && len(cfg.Interfaces) == 0
	for _, pat := range cfg.Interfaces {
		if pat == "" {
			// A bare interface= serves loopback only, as in dnsmasq.
			continue
		}
		found := false
		for _, ifc := range ifaces {
			if ifaceMatch(pat, ifc.Name) {
				found = true
			}
		}
		if !found && !strings.HasSuffix(pat, "*") {
			if cfg.BindInterfaces {
				return p, fmt.Errorf("unknown interface %s", pat) // dnsmasq's words
			}
			p.missing = append(p.missing, pat)
		}
	}
	for _, ifc := range ifaces {
		if excluded(ifc.Name) {
			continue
		}
		chosen := everything || ifc.Flags&net.FlagLoopback != 0 && len(cfg.Interfaces) > 0
		for _, pat := range cfg.Interfaces {
			chosen = chosen || ifaceMatch(pat, ifc.Name)
		}
		if !chosen {
			continue
		}
		if !everything {
			p.allowedIfs = append(p.allowedIfs, uint32(ifc.Index))
		}
		addrs, err := interfaceAddrs(ifc)
		if err != nil {
			return p, err
		}
		if !everything {
			p.allowed = append(p.allowed, addrs...)
		} else if cfg.BindInterfaces {
			p.binds = append(p.binds, addrPorts(addrs, cfg.Port)...)
		}
	}
	if !cfg.BindInterfaces {
		p.wildcard = true
		return p, nil
	}
	if !everything {
		p.binds = append(p.binds, addrPorts(dedupe(p.allowed), cfg.Port)...)
	}
	if len(p.binds) == 0 {
		return p, fmt.Errorf("bind-interfaces: no address to listen on")
	}
	return p, nil
}

func interfaceAddrs(ifc net.Interface) ([]netip.Addr, error) {
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", ifc.Name, err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.Is6() && ip.IsLinkLocalUnicast() {
			ip = ip.WithZone(ifc.Name)
		}
		out = append(out, ip)
	}
	return out, nil
}

func addrPorts(addrs []netip.Addr, port int) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, netip.AddrPortFrom(a, uint16(port)))
	}
	return out
}

func dedupe(addrs []netip.Addr) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, a := range addrs {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// ifaceMatch applies dnsmasq's interface wildcard: a trailing '*' matches
// any suffix.
func ifaceMatch(pattern, name string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, prefix)
	}
	return pattern == name
}

// openDNSSockets opens every DNS socket of the plan.
func openDNSSockets(p listenPlan, port int) ([]openSocket, error) {
	var socks []openSocket
	fail := func(err error) ([]openSocket, error) {
		closeSockets(socks)
		return nil, err
	}
	var targets []netip.AddrPort
	if p.wildcard {
		targets = []netip.AddrPort{
			netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)),
			netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(port)),
		}
	} else {
		targets = p.binds
	}
	group := udpGroupSize(len(targets)) // SO_REUSEPORT sockets per address (listen_reuseport.go)
	for _, ap := range targets {
		us, err := openUDPGroup(ap, p.wildcard, group)
		if err != nil {
			if p.wildcard && ap.Addr().Is6() && ipv6Unavailable(err) {
				continue
			}
			return fail(err)
		}
		socks = append(socks, us...)
		t, err := openTCP(ap)
		if err != nil {
			return fail(err)
		}
		socks = append(socks, t)
	}
	return socks, nil
}

func ipv6Unavailable(err error) bool {
	return strings.Contains(err.Error(), unix.EAFNOSUPPORT.Error()) ||
		strings.Contains(err.Error(), unix.EADDRNOTAVAIL.Error())
}

func closeSockets(socks []openSocket) {
	for _, s := range socks {
		_ = s.file.Close()
	}
}

// sockaddr converts an address for bind(2).
func sockaddr(ap netip.AddrPort) (family int, sa unix.Sockaddr, err error) {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		return unix.AF_INET, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}, nil
	}
	sa6 := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		ifc, err := net.InterfaceByName(z)
		if err != nil {
			return 0, nil, fmt.Errorf("zone of %s: %w", a, err)
		}
		sa6.ZoneId = uint32(ifc.Index)
	}
	return unix.AF_INET6, sa6, nil
}

// openUDP opens a UDP socket with socket(2) directly (no MPTCP, no Go
// resolver, exactly the options we choose). A wildcard socket gets
// IP_PKTINFO / IPV6_RECVPKTINFO so dnsd can reply from the address that was
// asked.
func openUDP(ap netip.AddrPort, pktinfo bool, extra ...sockopt) (openSocket, error) {
	family, sa, err := sockaddr(ap)
	if err != nil {
		return openSocket{}, err
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return openSocket{}, fmt.Errorf("udp socket for %s: %w", ap, err)
	}
	opts := []sockopt{}
	if family == unix.AF_INET6 {
		opts = append(opts, sockopt{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1, "IPV6_V6ONLY"})
	}
	if pktinfo && family == unix.AF_INET {
		opts = append(opts, sockopt{unix.IPPROTO_IP, unix.IP_PKTINFO, 1, "IP_PKTINFO"})
	}
	if pktinfo && family == unix.AF_INET6 {
		opts = append(opts, sockopt{unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO"})
	}
	opts = append(opts, extra...)
	if err := setAndBind(fd, opts, sa); err != nil {
		unix.Close(fd)
		return openSocket{}, fmt.Errorf("udp %s: %w", ap, err)
	}
	desc := &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DNS_UDP, Address: ap.String(), Pktinfo: pktinfo}
	return openSocket{desc: desc, file: os.NewFile(uintptr(fd), "udp "+ap.String())}, nil
}

// openTCP opens a listening TCP socket. SO_REUSEADDR lets a restarted
// master rebind while old connections sit in TIME_WAIT; UDP never gets it,
// because on UDP it would let another process bind the same port.
func openTCP(ap netip.AddrPort) (openSocket, error) {
	family, sa, err := sockaddr(ap)
	if err != nil {
		return openSocket{}, err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return openSocket{}, fmt.Errorf("tcp socket for %s: %w", ap, err)
	}
	opts := []sockopt{{unix.SOL_SOCKET, unix.SO_REUSEADDR, 1, "SO_REUSEADDR"}}
	if family == unix.AF_INET6 {
		opts = append(opts, sockopt{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1, "IPV6_V6ONLY"})
	}
	if err := setAndBind(fd, opts, sa); err != nil {
		unix.Close(fd)
		return openSocket{}, fmt.Errorf("tcp %s: %w", ap, err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return openSocket{}, fmt.Errorf("listen tcp %s: %w", ap, err)
	}
	desc := &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DNS_TCP, Address: ap.String()}
	return openSocket{desc: desc, file: os.NewFile(uintptr(fd), "tcp "+ap.String())}, nil
}

type sockopt struct {
	level, opt, value int
	name              string
}

func setAndBind(fd int, opts []sockopt, sa unix.Sockaddr) error {
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.value); err != nil {
			return fmt.Errorf("setsockopt %s: %w", o.name, err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}
