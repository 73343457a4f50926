package dnsd

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Replies to forwarded queries arrive one by one, from their flights'
// goroutines. Sent one sendmsg each, every reply wakes the sleeping client
// on its own, and on a virtual machine a cross-CPU wake-up costs more than
// the rest of the send. A replySender per socket collects them instead and
// sends what has accumulated with one sendmmsg: under load, several
// replies per call and per wake-up; idle, one, without waiting.

// replyQueue bounds the replies waiting for the sender; when it is full
// the flight sends its reply itself.
const replyQueue = 1024

type outReply struct {
	data    []byte
	to      netip.AddrPort
	src     netip.Addr // pktinfo: the address the query was sent to
	ifindex uint32
}

type replySender struct {
	s       *Server
	conn    *net.UDPConn
	rc      syscall.RawConn
	pktinfo bool
	ch      chan outReply
	batch   *mmsgBatch
	// deferred are the upstream queries of the batch being read, sent
	// after it (tryFast); the socket's loop goroutine's own.
	deferred []*fastTry
}

// sendDeferred sends the upstream queries the last batch started.
func (r *replySender) sendDeferred() {
	for i, t := range r.deferred {
		r.s.sendDeferred(t)
		r.deferred[i] = nil
	}
	r.deferred = r.deferred[:0]
}

// mmsgBatch is a batch of replies for one sendmmsg, with the headers,
// addresses and control data they need, allocated once.
type mmsgBatch struct {
	s       *Server
	pktinfo bool
	hdr     [udpBatch]unix.Mmsghdr
	iov     [udpBatch]unix.Iovec
	name    [udpBatch]unix.RawSockaddrInet6
	oob     [][]byte
	keep    [udpBatch][]byte
	n       int
	sent    int
	rcodes  rcodeTally // the batch's replies by RCODE (stats_rcode.go)

	sendFn func(fd uintptr) bool
}

func newMmsgBatch(s *Server) *mmsgBatch {
	r := &mmsgBatch{s: s}
	r.oob = make([][]byte, udpBatch)
	for i := range udpBatch {
		r.oob[i] = make([]byte, oobSize)
		r.hdr[i].Hdr.Iov = &r.iov[i]
		r.hdr[i].Hdr.SetIovlen(1)
		r.hdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.name[i]))
	}
	r.sendFn = r.sendmmsg
	return r
}

func newReplySender(s *Server, conn *net.UDPConn, rc syscall.RawConn, pktinfo bool) *replySender {
	b := newMmsgBatch(s)
	b.pktinfo = pktinfo
	return &replySender{s: s, conn: conn, rc: rc, pktinfo: pktinfo, ch: make(chan outReply, replyQueue), batch: b}
}

// send sends a reply through the sender's queue, or at once when it is
// full or cannot batch the reply.
func (r *replySender) send(o outReply) {
	if !r.enqueue(o) {
		r.s.writeUDP(r.conn, o.data, o.to, r.pktinfo, o.src, o.ifindex, make([]byte, oobSize))
	}
}

// enqueue hands a reply to the sender; false: the caller sends it.
func (r *replySender) enqueue(o outReply) bool {
	if !batchable(o) {
		return false
	}
	select {
	case r.ch <- o:
		return true
	default:
		return false
	}
}

// batchable reports whether o can go out in a batch: a reply, to an
// address whose zone is an interface index.
func batchable(o outReply) bool {
	return len(o.data) > 0 && (o.to.Addr().Zone() == "" || numericZone(o.to.Addr().Zone()))
}

// run sends queued replies until stop is closed.
func (r *replySender) run(stop <-chan struct{}) {
	b := r.batch
	for {
		select {
		case o := <-r.ch:
			b.add(o)
		case <-stop:
			return
		}
	drain:
		for b.n < udpBatch {
			select {
			case o := <-r.ch:
				b.add(o)
			default:
				break drain
			}
		}
		b.flush(r.rc)
	}
}

// flush sends the batch on rc and empties it.
func (r *mmsgBatch) flush(rc syscall.RawConn) {
	if r.n == 0 {
		return
	}
	r.sent = 0
	r.rcodes.addTo(&r.s.stats.rcodes) // before the send, as udpLoop.flush
	if err := rc.Write(r.sendFn); err != nil {
		r.s.stats.writeErrors.Add(uint64(r.n - r.sent))
	}
	clear(r.keep[:r.n])
	r.n = 0
}

func (r *mmsgBatch) add(o outReply) {
	k := r.n
	r.rcodes.note(o.data)
	r.keep[k] = o.data
	r.iov[k].Base = &o.data[0]
	r.iov[k].SetLen(len(o.data))
	h := &r.hdr[k].Hdr
	h.Namelen = putSockaddr(&r.name[k], o.to)
	if r.pktinfo {
		oob := marshalPktinfo(r.oob[k], o.src, o.ifindex)
		h.Control = &oob[0]
		h.SetControllen(len(oob))
	} else {
		h.Control = nil
		h.SetControllen(0)
	}
	r.n++
}

// sendmmsg is the poller callback, as udpLoop.sendmmsg.
func (r *mmsgBatch) sendmmsg(fd uintptr) bool {
	for r.sent < r.n {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&r.hdr[r.sent])), uintptr(r.n-r.sent), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			r.sent += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			r.s.stats.writeErrors.Add(1)
			r.sent++
		}
	}
	return true
}

// putSockaddr writes ap as the socket address a reply goes to: sockaddr_in
// for an IPv4 address (IPv4 sockets), sockaddr_in6 otherwise, IPv4-mapped
// addresses included (IPv6 sockets). It returns the address length.
func putSockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort) uint32 {
	port := ap.Port()
	if a := ap.Addr(); a.Is4() {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		return unix.SizeofSockaddrInet4
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ap.Addr().As16()}
	if z := ap.Addr().Zone(); z != "" {
		id, _ := strconv.ParseUint(z, 10, 32)
		sa.Scope_id = uint32(id)
	}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	return unix.SizeofSockaddrInet6
}

func numericZone(z string) bool {
	_, err := strconv.ParseUint(z, 10, 32)
	return err == nil
}
