package dnsd

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/cache"
)

// Batched UDP: recvmmsg fills up to udpBatch datagrams per system call,
// and the replies of a batch leave in one sendmmsg. Every buffer, header
// and address lives in the udpLoop, allocated once per socket, so a batch
// of cached answers costs two system calls and no allocation.

// udpBatch is the most datagrams read at once: enough to spread the cost
// of a system call, small enough to keep the first reply of a batch from
// waiting on the last query's work.
const udpBatch = 32

// fastReplyMax bounds a reply the fast path writes into its own buffers;
// a larger one goes through the pipeline.
const fastReplyMax = 4096

type udpLoop struct {
	s       *Server
	conn    *net.UDPConn
	rc      syscall.RawConn
	pktinfo bool

	recvHdr  [udpBatch]unix.Mmsghdr
	recvIov  [udpBatch]unix.Iovec
	recvBuf  [udpBatch][maxQuerySize]byte
	recvName [udpBatch]unix.RawSockaddrInet6
	recvOOB  [][]byte

	sendHdr  [udpBatch]unix.Mmsghdr
	sendIov  [udpBatch]unix.Iovec
	sendBuf  [udpBatch][fastReplyMax]byte
	sendData [udpBatch][]byte // keeps each queued reply alive until sent
	sendOOB  [][]byte
	nsend    int

	query  cache.Query
	sender *replySender // replies to forwarded queries (fastpath_send.go)
	rcodes rcodeTally   // the queued replies by RCODE, added up at flush (stats_rcode.go)

	// Results of the last system call, and the callbacks handed to the
	// runtime poller, made once so that no closure is allocated per call.
	n, sent int
	errno   syscall.Errno
	recvFn  func(fd uintptr) bool
	sendFn  func(fd uintptr) bool
}

func newUDPLoop(s *Server, conn *net.UDPConn, pktinfo bool) (*udpLoop, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("raw conn: %w", err)
	}
	l := &udpLoop{s: s, conn: conn, rc: rc, pktinfo: pktinfo, sender: newReplySender(s, conn, rc, pktinfo)}
	l.recvOOB = make([][]byte, udpBatch)
	l.sendOOB = make([][]byte, udpBatch)
	for i := range udpBatch {
		l.recvOOB[i] = make([]byte, oobSize)
		l.sendOOB[i] = make([]byte, oobSize)
		l.recvIov[i].Base = &l.recvBuf[i][0]
		l.recvIov[i].SetLen(maxQuerySize)
		h := &l.recvHdr[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&l.recvName[i]))
		h.Iov = &l.recvIov[i]
		h.SetIovlen(1)
		h.Control = &l.recvOOB[i][0]
		l.sendHdr[i].Hdr.Iov = &l.sendIov[i]
		l.sendHdr[i].Hdr.SetIovlen(1)
	}
	l.recvFn = l.recvmmsg
	l.sendFn = l.sendmmsg
	return l, nil
}

// receive waits for datagrams and reads a batch; it returns how many.
func (l *udpLoop) receive() (int, error) {
	for i := range udpBatch {
		h := &l.recvHdr[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(oobSize)
		h.Flags = 0
	}
	if err := l.rc.Read(l.recvFn); err != nil {
		return 0, err
	}
	if l.errno != 0 {
		return 0, errnoErr(l.errno)
	}
	return l.n, nil
}

// recvmmsg is the poller callback: false means "not ready, wait".
func (l *udpLoop) recvmmsg(fd uintptr) bool {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&l.recvHdr[0])), udpBatch, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		l.n, l.errno = int(n), e
		return true
	}
}

// sendmmsg sends the queued replies from l.sent on; a datagram the
// kernel refuses is counted and skipped.
func (l *udpLoop) sendmmsg(fd uintptr) bool {
	for l.sent < l.nsend {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&l.sendHdr[l.sent])), uintptr(l.nsend-l.sent), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			l.sent += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			// The first datagram failed (an unreachable client, a
			// bad address): drop it, send the rest.
			l.s.stats.writeErrors.Add(1)
			l.sent++
		}
	}
	return true
}

// process answers the n datagrams of a batch, queueing replies.
func (l *udpLoop) process(n int) {
	s := l.s
	st := s.st.Load()
	fast := st.fast.valid(st)
	now := uint32(0)
	if fast {
		now = st.cache.Now()
	}
	var queries, hits, truncated, disallowed uint64
	// The cached-answer path parses untrusted bytes too: a panic there
	// costs the rest of this batch, not the worker (recover.go). One
	// deferred call per batch, nothing per packet.
	cur := -1
	defer func() {
		if r := recover(); r != nil {
			var pkt []byte
			if cur >= 0 {
				pkt = l.recvBuf[cur][:l.recvHdr[cur].Len]
			}
			s.notePanic("a UDP query (cached-answer path)", r, pkt)
		}
	}()
	for i := range n {
		cur = i
		h := &l.recvHdr[i]
		if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
			truncated++
			continue
		}
		pkt := l.recvBuf[i][:h.Len]
		var dst netip.Addr
		var ifindex uint32
		if l.pktinfo {
			var ok bool
			dst, ifindex, ok = parsePktinfo(l.recvOOB[i][:h.Hdr.Controllen])
			if !ok || !st.cfg.allowedUDP(dst, ifindex) {
				disallowed++
				continue
			}
		}
		from := sockaddrAddrPort(&l.recvName[i])
		if fast {
			// local-service drops the client before anything else, as
			// the pipeline does (handleLocalAt).
			if !s.clientAllowed(st, from) {
				queries++
				continue
			}
			slot := l.nsend
			if out, ok := s.fastAnswer(st, pkt, &l.query, l.sendBuf[slot][:0], now); ok {
				queries++
				hits++
				l.queue(out, i, dst, ifindex)
				continue
			}
		}
		if resp := s.handleDatagram(l.conn, l.sender, st, pkt, from, l.pktinfo, dst, ifindex); len(resp) > 0 {
			l.queue(resp, i, dst, ifindex)
		}
	}
	if queries+truncated+disallowed > 0 {
		s.stats.queries.Add(queries + truncated + disallowed)
	}
	if hits > 0 {
		s.stats.cacheHits.Add(hits)
	}
	if truncated > 0 {
		s.stats.malformed.Add(truncated)
	}
	if disallowed > 0 {
		s.stats.disallowed.Add(disallowed)
	}
}

// queue adds a reply to datagram i of the batch to the send batch.
func (l *udpLoop) queue(resp []byte, i int, dst netip.Addr, ifindex uint32) {
	k := l.nsend
	l.rcodes.note(resp)
	l.sendData[k] = resp
	l.sendIov[k].Base = &resp[0]
	l.sendIov[k].SetLen(len(resp))
	h := &l.sendHdr[k].Hdr
	h.Name = (*byte)(unsafe.Pointer(&l.recvName[i]))
	h.Namelen = l.recvHdr[i].Hdr.Namelen
	if l.pktinfo {
		oob := marshalPktinfo(l.sendOOB[k], dst, ifindex)
		h.Control = &oob[0]
		h.SetControllen(len(oob))
	} else {
		h.Control = nil
		h.SetControllen(0)
	}
	l.nsend++
}

// flush sends the queued replies (before the next receive reuses the
// addresses they point to).
func (l *udpLoop) flush() {
	if l.nsend == 0 {
		return
	}
	l.sent = 0
	// Counted before the send, so that a client holding its reply
	// finds it in the metrics.
	l.rcodes.addTo(&l.s.stats.rcodes)
	if err := l.rc.Write(l.sendFn); err != nil {
		l.s.stats.writeErrors.Add(uint64(l.nsend - l.sent))
	}
	clear(l.sendData[:l.nsend])
	l.nsend = 0
}

// sockaddrAddrPort reads a received source address.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa4.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case unix.AF_INET6:
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		addr := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			addr = addr.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(addr, port)
	}
	return netip.AddrPort{}
}
