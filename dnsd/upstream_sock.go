package dnsd

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Upstream sockets (area C). Each query gets a fresh socket made with
// plain system calls and wrapped in an os.File for deadlines: Go's net
// package would look interface names up over netlink for a link-local
// server's zone (which the sandbox forbids) and spends two more system
// calls per socket (getsockname, getpeername) on addresses dnsd knows.

// sendError marks a try that never reached the server: no socket, no
// free port, no such interface, no route. When every try of a query
// fails so, dnsd answers REFUSED as dnsmasq does ("network error").
type sendError struct{ err error }

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// randomPortAttempts bounds the ports tried for one socket.
const randomPortAttempts = 8

// sockaddrOf converts an address for the socket calls. A zone is an
// interface index (the master resolves interface names).
func sockaddrOf(ap netip.AddrPort) (unix.Sockaddr, int) {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() && a.Zone() == "" {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		if n, err := strconv.ParseUint(z, 10, 32); err == nil {
			sa.ZoneId = uint32(n)
		}
	}
	return sa, unix.AF_INET6
}

// localSockaddr is the address to bind: the server's source address or
// the wildcard of its family.
func localSockaddr(family int, src netip.Addr, port int) unix.Sockaddr {
	if family == unix.AF_INET {
		sa := &unix.SockaddrInet4{Port: port}
		if src.IsValid() {
			sa.Addr = src.Unmap().As4()
		}
		return sa
	}
	sa := &unix.SockaddrInet6{Port: port}
	if src.IsValid() {
		sa.Addr = src.As16()
	}
	return sa
}

// upstreamSocket opens a non-blocking socket of type typ (SOCK_DGRAM or
// SOCK_STREAM) for up: through up's interface, bound to up's source
// address and to port (0 = the kernel's choice; -1 = a random port from
// pol's range). The caller connects it.
func upstreamSocket(typ int, up *upstream, pol *upstreamPolicy, port int) (int, unix.Sockaddr, error) {
	raddr, family := sockaddrOf(up.addr)
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, &sendError{fmt.Errorf("socket: %w", err)}
	}
	fail := func(what string, err error) (int, unix.Sockaddr, error) {
		unix.Close(fd)
		return -1, nil, &sendError{fmt.Errorf("%s: %w", what, err)}
	}
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail("IPV6_V6ONLY", err)
		}
	}
	if up.bind.iface != "" {
		// Allowed without privilege on a socket not yet bound to a
		// device (Linux 5.7 and later).
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, up.bind.iface); err != nil {
			return fail("failed to bind server socket to "+up.bind.iface, err)
		}
	}
	if port >= 0 {
		if port != 0 || up.bind.addr.IsValid() {
			if err := unix.Bind(fd, localSockaddr(family, up.bind.addr, port)); err != nil {
				return fail(bindWhat(up), err)
			}
		}
		return fd, raddr, nil
	}
	if err := bindRandomPort(fd, family, up.bind.addr, pol); err != nil {
		return fail(bindWhat(up), err)
	}
	return fd, raddr, nil
}

func bindWhat(up *upstream) string {
	if up.bind.addr.IsValid() {
		return "failed to bind server socket to " + up.bind.addr.String()
	}
	return "bind"
}

// bindRandomPort binds fd to a crypto-random port of pol's range. A port
// in use (or one below 1024, which dnsd may not bind) is retried a few
// times; with the default range the kernel then picks one, with a
// configured range (min-port, max-port) the try fails rather than leave
// the range a firewall may rely on.
func bindRandomPort(fd, family int, src netip.Addr, pol *upstreamPolicy) error {
	lo, hi := pol.minPort, pol.maxPort
	var err error
	for range randomPortAttempts {
		port := lo + int(randomUint32()%uint32(hi-lo+1))
		if err = unix.Bind(fd, localSockaddr(family, src, port)); err == nil {
			return nil
		}
		if !errors.Is(err, unix.EADDRINUSE) && !errors.Is(err, unix.EACCES) {
			return err
		}
	}
	if lo == defaultMinPort && hi == defaultMaxPort {
		return unix.Bind(fd, localSockaddr(family, src, 0))
	}
	return fmt.Errorf("no free port in %d-%d: %w", lo, hi, err)
}

// dialUDP opens a socket for one UDP query to up, connected to it. port
// as in upstreamSocket. query, the datagram about to be sent, gives the
// socket filter the ID to let through (upstream_filter.go).
func dialUDP(up *upstream, pol *upstreamPolicy, port int, query []byte) (*os.File, error) {
	fd, raddr, err := upstreamSocket(unix.SOCK_DGRAM, up, pol, port)
	if err != nil {
		return nil, err
	}
	filterBoundSocket(fd, up) // issue 5 (upstream_filter.go)
	if err := unix.Connect(fd, raddr); err != nil {
		unix.Close(fd)
		return nil, &sendError{fmt.Errorf("connect to %s: %w", up.label, err)}
	}
	expectReply(fd, query)
	return os.NewFile(uintptr(fd), "upstream-udp"), nil
}

// dialTCP starts a TCP connection to up (from its source address, an
// ephemeral port). It does not wait for the handshake: the first write
// waits for it (a non-blocking write on a connecting socket returns
// EAGAIN until the connection is up), and reports a failed connection.
// Waiting here through RawConn would lose the readiness edge that came
// before the wait began.
func dialTCP(up *upstream, pol *upstreamPolicy) (*os.File, error) {
	fd, raddr, err := upstreamSocket(unix.SOCK_STREAM, up, pol, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, raddr); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return nil, &sendError{fmt.Errorf("connect to %s: %w", up.label, err)}
	}
	return os.NewFile(uintptr(fd), "upstream-tcp"), nil
}

// fileDeadline applies ctx's deadline to f and interrupts f's I/O when ctx
// is cancelled (the query ended, or dnsd stops).
func fileDeadline(ctx context.Context, f *os.File) (stop func() bool) {
	if d, ok := ctx.Deadline(); ok {
		_ = f.SetDeadline(d)
	}
	return context.AfterFunc(ctx, func() { _ = f.SetDeadline(time.Unix(1, 0)) })
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux (getrandom)
	return binary.BigEndian.Uint32(b[:])
}

func randomID() uint16 { return uint16(randomUint32()) }
