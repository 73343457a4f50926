package dnsd

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// The miss path without goroutine hand-offs (issue 3, speed). The common
// miss, a UDP query for one server from a random port, is sent by the
// goroutine that read the client's query: a fresh socket, connected,
// written, and added to one epoll set. One reader goroutine per Server
// waits on that set through the runtime's poller (an epoll descriptor is
// itself pollable), reads each reply, ends the flight and sends the
// clients' replies in batches (sendmmsg) on their own sockets. The tries'
// timeouts are one heap and one deadline on the epoll descriptor, not a
// timer and a context per query.
//
// Everything unusual goes on as runFlight does after its inline try, in a
// goroutine of its own: no answer in time, the client asking again, an
// error, SERVFAIL or REFUSED.

// fastTry is one try in the epoll set.
type fastTry struct {
	m        *missReader
	r        *flightRun
	fd       int
	gen      int32 // tells a reused descriptor number from this one
	id       uint16
	idx      int // the server's index in its group
	sent     time.Time
	deadline time.Time
	reads    int // datagrams read so far
	heapIdx  int
	done     bool // guarded by missReader.mu
}

// tryHeap orders the tries by deadline.
type tryHeap []*fastTry

func (h tryHeap) Len() int           { return len(h) }
func (h tryHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h tryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *tryHeap) Push(x any) {
	t := x.(*fastTry)
	t.heapIdx = len(*h)
	*h = append(*h, t)
}
func (h *tryHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.heapIdx = -1
	return t
}

// wakeGen marks the eventfd's events in the epoll set.
const wakeGen = -1

// readerEvents is the most epoll events taken per wake-up.
const readerEvents = 64

type missReader struct {
	s    *Server
	file *os.File // the epoll descriptor, in the runtime's poller
	rc   syscall.RawConn
	wake int // eventfd: a client's retry wakes the reader

	mu      sync.Mutex
	closed  bool
	tries   []*fastTry // by descriptor
	gen     int32
	heap    tryHeap
	cancels []*fastTry
	armed   time.Time // the deadline set on file; zero: none
	// The argument and result of ctlFn, the epoll_ctl that add makes.
	ctlEvent unix.EpollEvent
	ctlErr   syscall.Errno
	ctlFn    func(ep uintptr)

	// The reader's own.
	events [readerEvents]unix.EpollEvent
	nev    int
	errno  syscall.Errno
	waitFn func(fd uintptr) bool
	buf    []byte
	batch  *sendBatch
	due    []*fastTry
}

// missReaderFor returns the Server's reader, starting it the first time;
// nil when it cannot run (the caller then uses runFlight).
func (s *Server) missReaderFor() *missReader {
	u := &s.up
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.fast != nil || u.fastFailed {
		return u.fast
	}
	m, err := newMissReader(s)
	if err != nil {
		u.fastFailed = true
		s.log.printf("upstream reader: %v", err)
		return nil
	}
	if !s.track(m.file) {
		m.file.Close()
		unix.Close(m.wake)
		u.fastFailed = true
		return nil
	}
	u.fast = m
	s.wg.Add(1)
	go m.run()
	return m
}

func newMissReader(s *Server) (*missReader, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	fail := func(what string, err error) (*missReader, error) {
		unix.Close(ep)
		unix.Close(wake)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake), Pad: wakeGen}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		return fail("epoll_ctl", err)
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		return fail("set non-blocking", err)
	}
	f := os.NewFile(uintptr(ep), "upstream-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		unix.Close(wake)
		return nil, fmt.Errorf("epoll raw conn: %w", err)
	}
	m := &missReader{s: s, file: f, rc: rc, wake: wake, buf: make([]byte, dns.MaxMsgSize), batch: newSendBatch(s)}
	m.waitFn = m.epollWait
	m.ctlFn = m.epollAdd
	return m, nil
}

// tryFast sends r's first try from this goroutine when it is the common
// case, and reports whether it did; the flight is then the reader's (or,
// when the try failed at once, a goroutine's). The caller holds a
// s.wg count for the flight, which passes on with it. With a sender, the
// datagram waits until the client socket's loop has read its batch: the
// queries of a batch then leave back to back, and the upstream, woken by
// the first, finds the others without another wake-up.
func (s *Server) tryFast(r *flightRun, sender *replySender) bool {
	if r.req.tcp || len(r.targets) != 1 {
		return false
	}
	i := r.targets[0]
	up := &r.g.servers[i]
	if sourcePort(up, r.pol) >= 0 {
		return false // a fixed port: the shared socket (upstream_shared.go)
	}
	m := s.missReaderFor()
	if m == nil {
		return false
	}
	r.count(i)
	t := &r.fast
	*t = fastTry{m: m, r: r, fd: -1, id: randomID(), idx: i, heapIdx: -1}
	fd, err := dialFresh(up, r.pol)
	if err == nil && sender != nil {
		t.fd = fd
		sender.deferred = append(sender.deferred, t)
		return true
	}
	if err == nil {
		err = sendOn(fd, up, r.wire, t.id)
	}
	s.sendFast(m, t, fd, err)
	return true
}

// sendDeferred sends a try tryFast deferred (replySender.sendDeferred).
func (s *Server) sendDeferred(t *fastTry) {
	fd := t.fd
	s.sendFast(t.m, t, fd, sendOn(fd, &t.r.g.servers[t.idx], t.r.wire, t.id))
}

// sendFast hands a sent try to the reader, or goes on after err (the
// try could not be sent).
func (s *Server) sendFast(m *missReader, t *fastTry, fd int, err error) {
	r := t.r
	now := time.Now()
	if err != nil {
		go s.resumeFlight(r, &tryResult{idx: t.idx, err: err})
		return
	}
	t.fd, t.sent, t.deadline = fd, now, now.Add(r.delay)
	if err := m.add(t); err != nil {
		rawClose(fd)
		if errors.Is(err, errReaderClosed) { // dnsd stops
			s.endFlight(r.f, flightEnd{rcode: dns.RcodeServerFailure}, nil)
			s.wg.Done()
			return
		}
		// Sent, but no reply can be read: as a failed read.
		go s.resumeFlight(r, &tryResult{idx: t.idx, err: err})
		return
	}
	// A client's retry ends the try at once (joinOrStart), as it ends
	// runFlight's inline try.
	u := &s.up
	u.mu.Lock()
	r.f.fast = t
	u.mu.Unlock()
}

// sendOn sends the query with this ID on fd; it closes fd when the send
// fails.
func sendOn(fd int, up *upstream, wire []byte, id uint16) error {
	// wire is the flight's own; every try sets its ID.
	binary.BigEndian.PutUint16(wire, id)
	if e := rawWrite(fd, wire); e != 0 {
		rawClose(fd)
		return &sendError{fmt.Errorf("send to %s: %w", up.label, e)}
	}
	return nil
}

// errReaderClosed: the miss reader has stopped (dnsd stops).
var errReaderClosed = errors.New("upstream reader stopped")

// add puts t in the epoll set.
func (m *missReader) add(t *fastTry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errReaderClosed
	}
	m.gen++
	if m.gen < 0 {
		m.gen = 0
	}
	t.gen = m.gen
	for t.fd >= len(m.tries) {
		m.tries = append(m.tries, nil)
	}
	m.tries[t.fd] = t
	heap.Push(&m.heap, t)
	m.ctlEvent = unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(t.fd), Pad: t.gen}
	// Control holds the epoll descriptor open for the call: a reader
	// closed by stop cannot have its number reused under us.
	err := m.rc.Control(m.ctlFn)
	if err != nil || m.ctlErr != 0 {
		m.tries[t.fd] = nil
		heap.Remove(&m.heap, t.heapIdx)
		if err != nil {
			return errReaderClosed
		}
		return fmt.Errorf("epoll_ctl: %w", m.ctlErr)
	}
	if m.armed.IsZero() || t.deadline.Before(m.armed) {
		m.arm(t.deadline)
	}
	return nil
}

// epollAdd adds m.ctlEvent's descriptor to the epoll set ep; with m.mu.
func (m *missReader) epollAdd(ep uintptr) {
	fd := uintptr(m.ctlEvent.Fd)
	_, _, m.ctlErr = unix.RawSyscall6(unix.SYS_EPOLL_CTL, ep, unix.EPOLL_CTL_ADD, fd, uintptr(unsafe.Pointer(&m.ctlEvent)), 0, 0)
}

// arm sets the reader's wake-up for the earliest deadline; with m.mu.
func (m *missReader) arm(at time.Time) {
	m.armed = at
	_ = m.file.SetReadDeadline(at)
}

// cancel ends t's wait now: the client asked again.
func (m *missReader) cancel(t *fastTry) {
	m.mu.Lock()
	if t.done || m.closed {
		m.mu.Unlock()
		return
	}
	m.cancels = append(m.cancels, t)
	// Under m.mu: shutdown closes the eventfd under it too, so that the
	// number cannot be another descriptor by now.
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(m.wake, one[:])
	m.mu.Unlock()
}

// take removes t from the set (the caller then closes it); false when
// it was already done. With m.mu.
func (m *missReader) take(t *fastTry) bool {
	if t.done {
		return false
	}
	t.done = true
	if t.fd < len(m.tries) && m.tries[t.fd] == t {
		m.tries[t.fd] = nil
	}
	if t.heapIdx >= 0 {
		heap.Remove(&m.heap, t.heapIdx)
	}
	return true
}

// run reads replies until the epoll descriptor is closed (dnsd stops).
func (m *missReader) run() {
	defer m.s.wg.Done()
	for {
		err := m.rc.Read(m.waitFn)
		switch {
		case err == nil && m.errno == 0:
			for i := range m.nev {
				m.event(&m.events[i])
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
		case err != nil:
			m.shutdown()
			return
		}
		m.expire()
		m.batch.flush()
	}
}

// epollWait is the poller callback: false means "nothing yet, wait".
func (m *missReader) epollWait(fd uintptr) bool {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&m.events[0])), readerEvents, 0, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			m.nev, m.errno = 0, e
			return true
		case n == 0:
			return false
		}
		m.nev, m.errno = int(n), 0
		return true
	}
}

// event handles one ready descriptor.
func (m *missReader) event(ev *unix.EpollEvent) {
	if ev.Pad == wakeGen {
		var b [8]byte
		_, _ = unix.Read(m.wake, b[:])
		return
	}
	fd := int(ev.Fd)
	m.mu.Lock()
	var t *fastTry
	if fd < len(m.tries) {
		t = m.tries[fd]
	}
	m.mu.Unlock()
	if t == nil || t.gen != ev.Pad {
		return
	}
	r := t.r
	up := &r.g.servers[t.idx]
	for t.reads < maxUpstreamRead {
		n, e := rawRead(fd, m.buf)
		switch {
		case e == unix.EAGAIN:
			return // wait for the next datagram
		case e != 0:
			m.finish(t, tryResult{idx: t.idx, err: fmt.Errorf("read from %s: %w", up.label, e)})
			return
		}
		t.reads++
		if n == 0 { // an empty datagram
			m.s.stats.upstreamBad.Add(1)
			continue
		}
		if reply, ok := m.s.acceptReplyFrom(up, &r.upReq, m.buf[:n], t.id); ok {
			m.finish(t, tryResult{idx: t.idx, reply: reply})
			return
		}
	}
	m.finish(t, tryResult{idx: t.idx, err: fmt.Errorf("read from %s: %d unusable datagrams", up.label, maxUpstreamRead)})
}

// finish ends t with its outcome: a usable answer ends the flight here,
// anything else goes on in a goroutine as runFlight would.
func (m *missReader) finish(t *fastTry, res tryResult) {
	m.mu.Lock()
	ok := m.take(t)
	m.mu.Unlock()
	if !ok {
		return
	}
	rawClose(t.fd)
	res.rtt = time.Since(t.sent)
	r, s := t.r, m.s
	if res.err == nil && res.reply.Rcode != dns.RcodeServerFailure && res.reply.Rcode != dns.RcodeRefused {
		end, _ := r.handle(res)
		s.endFlight(r.f, end, m.batch)
		s.wg.Done()
		return
	}
	rp := new(tryResult)
	*rp = res
	go s.resumeFlight(r, rp)
}

// expire ends the tries whose time is up or whose client asked again.
func (m *missReader) expire() {
	now := time.Now()
	due := m.due[:0]
	m.mu.Lock()
	for len(m.heap) > 0 && !m.heap[0].deadline.After(now) {
		t := m.heap[0]
		m.take(t)
		due = append(due, t)
	}
	for _, t := range m.cancels {
		if m.take(t) {
			due = append(due, t)
		}
	}
	clear(m.cancels)
	m.cancels = m.cancels[:0]
	if !m.armed.IsZero() && !m.armed.After(now) {
		// The wake-up went off (or is about to): set the next, if any.
		var next time.Time
		if len(m.heap) > 0 {
			next = m.heap[0].deadline
		}
		m.arm(next)
	}
	m.mu.Unlock()
	for _, t := range due {
		rawClose(t.fd)
		m.s.timedOut(t)
	}
	clear(due)
	m.due = due[:0]
}

// timedOut goes on with a try that got nothing in time, as runFlight
// does after its inline try: the server counts a failure, and the retry
// follows at once.
func (s *Server) timedOut(t *fastTry) {
	r := t.r
	r.g.servers[t.idx].state.failed.Add(1)
	select {
	case <-r.f.retry:
	default:
	}
	go s.resumeFlight(r, nil)
}

// resumeFlight runs the rest of a flight whose first try the reader
// made: after res (nil: the try timed out) as runFlight after its inline
// try. It owns the flight's s.wg count.
func (s *Server) resumeFlight(r *flightRun, res *tryResult) {
	defer s.wg.Done()
	u := &s.up
	u.mu.Lock()
	r.f.fast = nil
	u.mu.Unlock()
	r.startContext()
	defer r.cancel()
	var end flightEnd
	done := false
	if res != nil {
		if end, done = r.handle(*res); !done {
			end, done = r.afterErrors()
		}
	}
	if !done {
		end = r.wait()
	}
	s.endFlight(r.f, end, nil)
}

// shutdown ends every try left when dnsd stops.
func (m *missReader) shutdown() {
	m.mu.Lock()
	m.closed = true
	var left []*fastTry
	for _, t := range m.tries {
		if t != nil && m.take(t) {
			left = append(left, t)
		}
	}
	unix.Close(m.wake)
	m.mu.Unlock()
	for _, t := range left {
		rawClose(t.fd)
		m.s.endFlight(t.r.f, flightEnd{rcode: dns.RcodeServerFailure}, nil)
		m.s.wg.Done()
	}
}

// sendBatch collects replies for UDP clients, possibly on several
// sockets, and sends them with one sendmmsg per socket.
type sendBatch struct {
	s     *Server
	items []batchItem
	rest  []batchItem
	mm    *mmsgBatch
}

type batchItem struct {
	sender *replySender
	o      outReply
}

func newSendBatch(s *Server) *sendBatch {
	return &sendBatch{s: s, mm: newMmsgBatch(s)}
}

func (b *sendBatch) add(sender *replySender, o outReply) {
	b.items = append(b.items, batchItem{sender, o})
}

// flush sends everything collected, socket by socket.
func (b *sendBatch) flush() {
	if len(b.items) == 0 {
		return
	}
	if b.s.ctx.Err() != nil { // dnsd stops: no more replies
		clear(b.items)
		b.items = b.items[:0]
		return
	}
	for len(b.items) > 0 {
		sender := b.items[0].sender
		b.mm.pktinfo = sender.pktinfo
		rest := b.rest[:0]
		for _, it := range b.items {
			if it.sender == sender && b.mm.n < udpBatch {
				b.mm.add(it.o)
			} else {
				rest = append(rest, it)
			}
		}
		b.mm.flush(sender.rc)
		clear(b.items)
		b.items, b.rest = rest, b.items[:0]
	}
}
