package dhcpd

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rxBatchSize is the most datagrams one recvmmsg(2) reads. Under load a
// read returns many at once: one system call and one wake-up of the
// serving goroutine for all of them, instead of one each.
const rxBatchSize = 32

// pktinfoSpace is the control buffer of one datagram (IP_PKTINFO).
var pktinfoSpace = unix.CmsgSpace(int(unsafe.Sizeof(unix.Inet4Pktinfo{})))

// rxBatch is the datagrams of one recvmmsg, with their buffers. The
// reader fills it, the serving goroutine copies the datagrams into its
// queues and hands it back (free).
type rxBatch struct {
	link *link
	at   time.Time // when the read returned: the datagrams' arrival
	n    int
	data [rxBatchSize][]byte // data[i][:lens[i]] is datagram i
	lens [rxBatchSize]int    // -1: skip datagram i (truncated, not IPv4)
	src  [rxBatchSize]netip.AddrPort
	dst  [rxBatchSize]netip.Addr
	// count receives the datagrams skipped at read (reasons oversize and
	// not_ipv4, malformed.go); nil counts nothing (tests).
	count *counters

	hdrs  [rxBatchSize]unix.Mmsghdr
	iovs  [rxBatchSize]unix.Iovec
	names [rxBatchSize]unix.RawSockaddrInet4
	oob   []byte // rxBatchSize control buffers of pktinfoSpace
}

func newRxBatch(l *link) *rxBatch {
	b := &rxBatch{link: l, oob: make([]byte, rxBatchSize*pktinfoSpace)}
	for i := range b.data {
		b.data[i] = make([]byte, maxDatagram)
		b.iovs[i].Base = &b.data[i][0]
		b.iovs[i].SetLen(maxDatagram)
		h := &b.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Iov = &b.iovs[i]
		h.Iovlen = 1
		h.Control = &b.oob[i*pktinfoSpace]
	}
	return b
}

// linkBatch is a batch of l's whose skipped datagrams count in s's drop
// counters.
func (s *server) linkBatch(l *link) *rxBatch {
	b := newRxBatch(l)
	b.count = &s.count
	return b
}

// skip marks datagram i skipped and counts why. These are not malformed
// requests (the datagram was never looked at): a datagram over
// maxDatagram, which the kernel truncated (dnsmasq would grow its buffer;
// no DHCP client sends one), or one from anything but IPv4.
func (b *rxBatch) skip(i int, why dropReason) {
	b.lens[i] = -1
	if b.count != nil {
		b.count.drops.note(why)
	}
}

// recv reads up to rxBatchSize datagrams from fd without blocking:
// unix.EAGAIN when none is waiting.
func (b *rxBatch) recv(fd uintptr) error {
	for i := range b.hdrs {
		h := &b.hdrs[i].Hdr
		h.Namelen = uint32(unsafe.Sizeof(b.names[i]))
		h.SetControllen(pktinfoSpace)
		h.Flags = 0
		b.hdrs[i].Len = 0
	}
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), rxBatchSize, 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		b.at = time.Now()
		b.n = int(n)
		for i := 0; i < b.n; i++ {
			h := &b.hdrs[i].Hdr
			name := &b.names[i]
			if h.Flags&unix.MSG_TRUNC != 0 {
				b.skip(i, dropOversize) // larger than any DHCP message we read
				continue
			}
			if name.Family != unix.AF_INET {
				b.skip(i, dropNotIPv4)
				continue
			}
			port := name.Port>>8 | name.Port<<8 // stored in network order
			b.lens[i] = int(b.hdrs[i].Len)
			b.src[i] = netip.AddrPortFrom(netip.AddrFrom4(name.Addr), port)
			b.dst[i] = pktinfoDst(b.oob[i*pktinfoSpace : i*pktinfoSpace+int(h.Controllen)])
		}
		return nil
	}
}

// pollable returns a file for the socket fd that the runtime poller
// handles: a nonblocking duplicate, so that a reader waiting for
// datagrams parks its goroutine rather than an OS thread (dhcpd usually
// has a single CPU, and a thread blocked in recvmsg must win the
// processor back from the serving goroutine for each datagram). fd is
// left open; its file status (nonblocking) is shared with the duplicate.
func pollable(fd int, name string) (*os.File, syscall.RawConn, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("dup %s: %w", name, err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, nil, fmt.Errorf("nonblocking %s: %w", name, err)
	}
	f := os.NewFile(uintptr(dup), name)
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("poll %s: %w", name, err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("poll %s: %w", name, err)
	}
	return f, rc, nil
}

// readLink reads l's UDP socket until it fails (the process is ending),
// a batch at a time: full batches go to out, and come back on l.free to
// be filled again. name is the interface's, for errors: l.iface belongs
// to the serving goroutine, which replaces it when the addresses change.
func (s *server) readLink(l *link, name string, out chan<- *rxBatch) {
	for {
		b := <-l.free
		var rerr error
		err := l.rc.Read(func(fd uintptr) bool {
			rerr = b.recv(fd)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return // the interface went away (links.go: removeLink)
			}
			fmt.Fprintf(os.Stderr, "read %s: %v\n", name, err)
			return
		}
		if b.n == 0 {
			l.free <- b
			continue
		}
		out <- b
	}
}
