package dnsd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// Shared sockets for a fixed source port (area C): query-port=N (0: one
// port the kernel picks) and server=ip@source#port. Queries on one port
// cannot each have a socket of their own, so one unconnected socket per
// local address and port carries them all, and a reader hands each reply
// to the query whose server and ID it matches. This is what dnsmasq does
// too, and why it warns that a fixed port is less secure.

// sharedKey names a shared socket.
type sharedKey struct {
	family int
	addr   netip.Addr // local address; invalid = any
	port   int
	iface  string
}

// pendingKey is a query waiting on a shared socket.
type pendingKey struct {
	from netip.AddrPort
	id   uint16
}

type sharedSocket struct {
	f  *os.File
	rc interface {
		Read(func(uintptr) bool) error
		Write(func(uintptr) bool) error
	}
	mu      sync.Mutex
	pending map[pendingKey]chan []byte
	// filter lets only the IDs of waiting queries through, in the kernel
	// (upstream_filter.go); zero without eBPF.
	filter sharedFilter
}

// maxSharedIDTries bounds the search for an ID no other query to the same
// server uses on the socket.
const maxSharedIDTries = 32

// sharedSocketFor returns (opening it the first time) the shared socket
// for queries to up from port.
func (s *Server) sharedSocketFor(up *upstream, pol *upstreamPolicy, port int) (*sharedSocket, error) {
	_, family := sockaddrOf(up.addr)
	key := sharedKey{family: family, addr: up.bind.addr, port: port, iface: up.bind.iface}
	u := &s.up
	u.mu.Lock()
	defer u.mu.Unlock()
	if ss := u.shared[key]; ss != nil {
		return ss, nil
	}
	fd, _, err := upstreamSocket(unix.SOCK_DGRAM, up, pol, port)
	if err != nil {
		return nil, err
	}
	if port == 0 && !up.bind.addr.IsValid() {
		// query-port=0: bind now so that the kernel picks the one port.
		if err := unix.Bind(fd, localSockaddr(family, netip.Addr{}, 0)); err != nil {
			unix.Close(fd)
			return nil, &sendError{fmt.Errorf("bind: %w", err)}
		}
	}
	filter := filterSharedSocket(fd, up)
	f := os.NewFile(uintptr(fd), "upstream-shared")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	ss := &sharedSocket{f: f, rc: rc, pending: map[pendingKey]chan []byte{}, filter: filter}
	if !s.track(f) {
		f.Close()
		return nil, errors.New("server stopping")
	}
	if u.shared == nil {
		u.shared = map[sharedKey]*sharedSocket{}
	}
	u.shared[key] = ss
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ss.readLoop(s)
	}()
	return ss, nil
}

// readLoop hands every datagram to the query it is for, until the socket
// is closed (dnsd stops).
func (ss *sharedSocket) readLoop(s *Server) {
	buf := make([]byte, dns.MaxMsgSize)
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := ss.rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		if rerr != nil || n < 12 {
			continue // ICMP errors on an unconnected socket, runts
		}
		key := pendingKey{from: addrPortOfSockaddr(from), id: uint16(buf[0])<<8 | uint16(buf[1])}
		ss.mu.Lock()
		ch := ss.pending[key]
		ss.mu.Unlock()
		if ch == nil {
			s.stats.upstreamMismatch.Add(1)
			continue
		}
		b := make([]byte, n)
		copy(b, buf[:n])
		select {
		case ch <- b:
		default: // the query has enough to read already
		}
	}
}

func addrPortOfSockaddr(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		addr := netip.AddrFrom16(a.Addr)
		if a.ZoneId != 0 {
			addr = addr.WithZone(fmt.Sprint(a.ZoneId))
		}
		return netip.AddrPortFrom(addr, uint16(a.Port))
	}
	return netip.AddrPort{}
}

// exchangeShared is exchangeUDP on the shared socket of port.
func (s *Server) exchangeShared(ctx context.Context, up *upstream, req *request, wire []byte, port int) (*dns.Msg, error) {
	ss, err := s.sharedSocketFor(up, &req.st.cfg.upstream.policy, port)
	if err != nil {
		return nil, err
	}
	ch := make(chan []byte, 4)
	var key pendingKey
	ss.mu.Lock()
	for i := 0; ; i++ {
		key = pendingKey{from: up.addr, id: randomID()}
		if ss.pending[key] == nil {
			break
		}
		if i == maxSharedIDTries {
			ss.mu.Unlock()
			return nil, &sendError{fmt.Errorf("no free query ID for %s on port %d", up.label, port)}
		}
	}
	if !ss.filter.expect(key.id) {
		ss.mu.Unlock()
		return nil, &sendError{fmt.Errorf("socket filter: no room for another query ID on port %d", port)}
	}
	ss.pending[key] = ch
	ss.mu.Unlock()
	defer func() {
		ss.mu.Lock()
		delete(ss.pending, key)
		ss.filter.done(key.id)
		ss.mu.Unlock()
	}()
	raddr, _ := sockaddrOf(up.addr)
	pkt := withID(wire, key.id)
	var serr error
	err = ss.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), pkt, 0, raddr)
		return serr != unix.EAGAIN
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, &sendError{fmt.Errorf("send to %s: %w", up.label, err)}
	}
	for range maxUpstreamRead {
		select {
		case b := <-ch:
			if reply, ok := s.acceptReply(req, b, key.id); ok {
				return reply, nil
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("read from %s: %w", up.label, ctx.Err())
		}
	}
	return nil, fmt.Errorf("read from %s: %d unusable datagrams", up.label, maxUpstreamRead)
}
