package dnsd

import (
	"fmt"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// System calls of the miss path (upstream_fast.go) without the runtime's
// syscall bookkeeping. Each of them returns at once (the sockets are
// non-blocking), and when the scheduler sees a goroutine "in a system
// call", its monitor thread wakes every 20 us to take the processor away
// from calls that last, which on the one CPU dnsd may be pinned to costs
// more than the calls themselves.

// rawSockaddr writes the socket address of ap into sa, as sockaddrOf
// makes it: sockaddr_in for IPv4 and IPv4-mapped addresses without a
// zone, else sockaddr_in6 with the zone as interface index. It returns
// the address length and family.
func rawSockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort) (uint32, int) {
	a := ap.Addr()
	port := ap.Port()
	if a.Is4() || a.Is4In6() && a.Zone() == "" {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Unmap().As4()}
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		return unix.SizeofSockaddrInet4, unix.AF_INET
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
	if z := a.Zone(); z != "" {
		if n, err := strconv.ParseUint(z, 10, 32); err == nil {
			sa.Scope_id = uint32(n)
		}
	}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	return unix.SizeofSockaddrInet6, unix.AF_INET6
}

// rawLocalSockaddr is localSockaddr in raw form.
func rawLocalSockaddr(sa *unix.RawSockaddrInet6, family int, src netip.Addr, port int) uint32 {
	if family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET}
		if src.IsValid() {
			sa4.Addr = src.Unmap().As4()
		}
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		return unix.SizeofSockaddrInet4
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6}
	if src.IsValid() {
		sa.Addr = src.As16()
	}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	return unix.SizeofSockaddrInet6
}

func rawBind(fd int, sa *unix.RawSockaddrInet6, n uint32) syscall.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(n))
	return e
}

func rawConnect(fd int, sa *unix.RawSockaddrInet6, n uint32) syscall.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(n))
	return e
}

// rawClose closes a socket of the miss path (never one the runtime polls).
func rawClose(fd int) {
	_, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// rawWrite writes b to fd, retrying on EINTR.
func rawWrite(fd int, b []byte) syscall.Errno {
	expectReply(fd, b) // issue 5: the reply's ID for the socket filter (upstream_filter.go)
	for {
		_, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e != unix.EINTR {
			return e
		}
	}
}

// rawRead reads one datagram from fd into b, retrying on EINTR.
func rawRead(fd int, b []byte) (int, syscall.Errno) {
	for {
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e != unix.EINTR {
			return int(n), e
		}
	}
}

// dialFresh opens a fresh UDP socket on a crypto-random port of pol's
// range, connected to up: upstreamSocket, bindRandomPort and connect for
// the miss path. A server reached through an interface takes the general
// path.
func dialFresh(up *upstream, pol *upstreamPolicy) (int, error) {
	if up.bind.iface != "" {
		return dialFreshGeneral(up, pol)
	}
	var raddr, laddr unix.RawSockaddrInet6
	rlen, family := rawSockaddr(&raddr, up.addr)
	r0, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return -1, &sendError{fmt.Errorf("socket: %w", e)}
	}
	fd := int(r0)
	attachUpstreamFilter(fd, up) // issue 5: before bind (upstream_filter.go)
	fail := func(what string, err error) (int, error) {
		rawClose(fd)
		return -1, &sendError{fmt.Errorf("%s: %w", what, err)}
	}
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail("IPV6_V6ONLY", err)
		}
	}
	lo, hi := pol.minPort, pol.maxPort
	bound := false
	for range randomPortAttempts {
		port := lo + int(randomUint32()%uint32(hi-lo+1))
		llen := rawLocalSockaddr(&laddr, family, up.bind.addr, port)
		if e = rawBind(fd, &laddr, llen); e == 0 {
			notePort(fd, family, port) // issue 5 (upstream_filter.go)
			bound = true
			break
		}
		if e != unix.EADDRINUSE && e != unix.EACCES {
			return fail(bindWhat(up), e)
		}
	}
	if !bound {
		if lo != defaultMinPort || hi != defaultMaxPort {
			return fail(bindWhat(up), fmt.Errorf("no free port in %d-%d: %w", lo, hi, e))
		}
		llen := rawLocalSockaddr(&laddr, family, up.bind.addr, 0)
		if e = rawBind(fd, &laddr, llen); e != 0 {
			return fail(bindWhat(up), e)
		}
		notePort(fd, family, 0) // issue 5: the kernel's port (upstream_filter.go)
	}
	if e = rawConnect(fd, &raddr, rlen); e != 0 {
		rawClose(fd)
		return -1, &sendError{fmt.Errorf("connect to %s: %w", up.label, e)}
	}
	return fd, nil
}

// dialFreshGeneral is dialFresh through upstreamSocket.
func dialFreshGeneral(up *upstream, pol *upstreamPolicy) (int, error) {
	fd, raddr, err := upstreamSocket(unix.SOCK_DGRAM, up, pol, -1)
	if err != nil {
		return -1, err
	}
	filterBoundSocket(fd, up) // issue 5 (upstream_filter.go)
	if err := unix.Connect(fd, raddr); err != nil {
		unix.Close(fd)
		return -1, &sendError{fmt.Errorf("connect to %s: %w", up.label, err)}
	}
	return fd, nil
}
