package dnsd

import (
	"encoding/binary"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/moatdns/moat/internal/workerproc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/sockfilter"
	"golang.org/x/sys/unix"
)

// Issue 5: the upstream-reply socket filter (the sockfilter package,
// SECURITY.md "Socket filters"). With the eBPF program the master loaded,
// every socket of the miss path (dialFresh) gets it right after socket(),
// before bind opens it to the world, and the query's transaction ID goes
// into the expect map, under the socket's local port, just before the
// query leaves (rawWrite): one map update per query, nothing on close.
// An entry left by a closed socket is harmless: every socket that carries
// the program records its own ID before it sends, or, bound to a server's
// source address (where sockets on two addresses may share a port number,
// so one port cannot name one expected ID), deletes its port's entry once
// bound: the program then checks length and QR only. Sockets that can do
// neither (a descriptor beyond the port table, a failed update) get the
// classic filter instead. Without the eBPF program, the classic filter
// (length and QR) goes on the same sockets unless socket-filter=off.
//
// The state is the process's: the descriptors come with dnsd's sockets
// and the mode with its DNSConfig.

// upstreamFilter is what dialFresh attaches.
type upstreamFilter struct {
	prog, expect int                 // eBPF descriptors; -1: none
	set          int                 // the expect-set map; -1: none
	classic      *sockfilter.Classic // nil: socket-filter=off
	// pending holds, by descriptor, the expect-map key of a socket that
	// has the eBPF program and has not sent yet, with pendingSet.
	pending []atomic.Uint32
}

// pendingSet marks a pending entry; pendingForget one whose port entry
// is deleted rather than set.
const (
	pendingSet    = 1 << 31
	pendingForget = 1 << 30
)

// maxPendingFD bounds the port table (dnsd's descriptors stay far below).
const maxPendingFD = 1 << 16

var (
	upFilter     atomic.Pointer[upstreamFilter]
	filterProgFD = -1 // from the master's SocketSet (takeSocketFilters)
	filterMapFD  = -1
	filterSetFD  = -1
)

var classicUpstream = sockfilter.MustClassic(sockfilter.ClassicUpstream())

// takeSocketFilters removes the eBPF descriptors from dnsd's sockets and
// keeps them for the process's life.
func takeSocketFilters(sockets []workerproc.Socket) []workerproc.Socket {
	out := sockets[:0]
	for _, s := range sockets {
		switch s.Desc.GetKind() {
		case ipcpb.Socket_KIND_BPF_UPSTREAM_PROG:
			filterProgFD = int(s.File.Fd())
		case ipcpb.Socket_KIND_BPF_EXPECT_MAP:
			filterMapFD = int(s.File.Fd())
		case ipcpb.Socket_KIND_BPF_EXPECT_SET_MAP:
			filterSetFD = int(s.File.Fd())
		default:
			out = append(out, s)
			continue
		}
		// Keep the descriptor: the File must not be collected (and closed).
		keepFiles = append(keepFiles, s.File)
	}
	return out
}

var keepFiles []*os.File

// setUpstreamFilterMode applies DNSConfig.socket_filter: "" (no master
// said) and "off" attach nothing; otherwise the eBPF program when dnsd
// was given one, else the classic filter.
func setUpstreamFilterMode(mode string) {
	if mode == "" || mode == "off" {
		upFilter.Store(nil)
		return
	}
	f := &upstreamFilter{prog: -1, expect: -1, set: -1, classic: classicUpstream}
	if filterProgFD >= 0 && filterMapFD >= 0 {
		f.prog, f.expect, f.set = filterProgFD, filterMapFD, filterSetFD
		if old := upFilter.Load(); old != nil && old.pending != nil {
			f.pending = old.pending
		} else {
			f.pending = make([]atomic.Uint32, maxPendingFD)
		}
	}
	upFilter.Store(f)
}

// upstreamFilterActive says which filter dialFresh attaches.
func upstreamFilterActive() sockfilter.Active {
	f := upFilter.Load()
	switch {
	case f == nil:
		return sockfilter.ActiveNone
	case f.prog >= 0:
		return sockfilter.ActiveEBPF
	}
	return sockfilter.ActiveClassic
}

// attachUpstreamFilter puts the filter on a fresh upstream socket of up;
// the socket is not bound yet (or, for a server with an interface, just
// bound). A failure leaves the socket unfiltered: the reply checks in
// userspace still hold.
func attachUpstreamFilter(fd int, up *upstream) {
	f := upFilter.Load()
	if f == nil {
		return
	}
	if fd < len(f.pending) {
		f.pending[fd].Store(0) // a closed socket's number may be reused
	}
	if f.prog >= 0 && fd < len(f.pending) {
		if sockfilter.AttachProgramRaw(fd, f.prog) == 0 {
			mark := uint32(pendingSet) // the port follows (notePort)
			if up.bind.addr.IsValid() {
				mark |= pendingForget
			}
			f.pending[fd].Store(mark)
			return
		}
	}
	_ = f.classic.Attach(fd)
}

// notePort records the local port of fd, bound to port (0: the kernel
// chose; ask it), for the expect map.
func notePort(fd, family, port int) {
	f := upFilter.Load()
	if f == nil || fd >= len(f.pending) {
		return
	}
	mark := f.pending[fd].Load()
	if mark == 0 {
		return
	}
	if port == 0 {
		var sa unix.RawSockaddrInet6
		n := uint32(unsafe.Sizeof(sa))
		_, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&n)))
		if e != 0 {
			f.fallBack(fd)
			return
		}
		p := (*[2]byte)(unsafe.Pointer(&sa.Port)) // the same offset in sockaddr_in
		port = int(p[0])<<8 | int(p[1])
	}
	key := sockfilter.ExpectKey(uint16(port), family == unix.AF_INET6)
	if mark&pendingForget != 0 {
		f.pending[fd].Store(0)
		if e := sockfilter.ForgetRaw(f.expect, key); e != 0 && e != unix.ENOENT {
			f.fallBack(fd)
		}
		return
	}
	f.pending[fd].Store(pendingSet | key)
}

// expectReply records the ID of query (about to be written on fd) as the
// one the filter lets through on fd's port.
func expectReply(fd int, query []byte) {
	f := upFilter.Load()
	if f == nil || fd >= len(f.pending) || len(query) < 2 {
		return
	}
	v := f.pending[fd].Swap(0)
	if v&pendingSet == 0 {
		return
	}
	if v == pendingSet { // no port noted: cannot check the ID
		f.fallBack(fd)
		return
	}
	if e := sockfilter.ExpectRaw(f.expect, v&^pendingSet, binary.BigEndian.Uint16(query)); e != 0 {
		f.fallBack(fd)
	}
}

// fallBack replaces the eBPF program on fd by the classic filter: fd
// cannot have its ID recorded, and a stale entry for its port must not
// drop its replies.
func (f *upstreamFilter) fallBack(fd int) {
	if fd < len(f.pending) {
		f.pending[fd].Store(0)
	}
	_ = f.classic.Attach(fd)
}

// filterBoundSocket is attachUpstreamFilter and notePort for a socket
// upstreamSocket made (and bound) for a server reached through an
// interface.
func filterBoundSocket(fd int, up *upstream) {
	attachUpstreamFilter(fd, up)
	_, family := sockaddrOf(up.addr)
	notePort(fd, family, 0)
}

// Shared sockets (a fixed query port, upstream_shared.go) carry many
// queries at once: the expect map marks their port ManyIDs, and each
// outstanding ID goes into the expect-set map for as long as its query
// waits. Two map updates per query (add, remove) on this path.

// sharedFilter is a shared socket's filter state; zero: no ID check.
type sharedFilter struct {
	on  bool
	set int
	key uint32
}

// filterSharedSocket attaches the filter to a bound shared socket and,
// with eBPF, marks its port as carrying many IDs. Sockets bound to a
// source address are not marked (another socket on another address may
// have the port number): they get the length and QR checks only.
func filterSharedSocket(fd int, up *upstream) sharedFilter {
	f := upFilter.Load()
	if f == nil {
		return sharedFilter{}
	}
	if f.prog < 0 || f.set < 0 || up.bind.addr.IsValid() {
		_ = f.classic.Attach(fd)
		return sharedFilter{}
	}
	if sockfilter.AttachProgramRaw(fd, f.prog) != 0 {
		_ = f.classic.Attach(fd)
		return sharedFilter{}
	}
	var sa unix.RawSockaddrInet6
	n := uint32(unsafe.Sizeof(sa))
	if _, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&n))); e != 0 {
		_ = f.classic.Attach(fd)
		return sharedFilter{}
	}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	key := sockfilter.ExpectKey(uint16(p[0])<<8|uint16(p[1]), sa.Family == unix.AF_INET6)
	if sockfilter.ExpectManyRaw(f.expect, key) != 0 {
		_ = f.classic.Attach(fd)
		return sharedFilter{}
	}
	return sharedFilter{on: true, set: f.set, key: key}
}

// expect lets replies with id through (before the query with it is
// sent); false when it could not, and the caller should not send on a
// socket whose filter will drop the answer.
func (sf sharedFilter) expect(id uint16) bool {
	if !sf.on {
		return true
	}
	return sockfilter.AddIDRaw(sf.set, sf.key, id) == 0
}

// done ends the wait for id (answered, timed out or given up).
func (sf sharedFilter) done(id uint16) {
	if sf.on {
		_ = sockfilter.RemoveIDRaw(sf.set, sf.key, id)
	}
}
