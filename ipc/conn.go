package ipc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Conn is one end of a socketpair. Send is safe for concurrent use; Recv is
// not (one reader per Conn).
//
// I/O goes through the runtime poller on a nonblocking descriptor, so a Recv
// blocked waiting for the peer returns os.ErrClosed when another goroutine
// calls Close, and deadlines work.
type Conn struct {
	f  *os.File
	rc syscall.RawConn
	// setupErr is why NewConn could not prepare f; every Send and Recv
	// returns it (NewConn's signature has no error).
	setupErr error
	closed   atomic.Bool

	// sendMu serializes sendmsg calls. The poller's write lock does too, but
	// Send's concurrency guarantee should not rest on runtime internals.
	sendMu   sync.Mutex
	streamMu sync.Mutex // one table stream at a time, so items of two streams never interleave

	// Receive buffers, reused: Recv has a single caller at a time and
	// proto.Unmarshal copies what it keeps.
	rbuf []byte
	oob  []byte
}

// Pair returns a connected SOCK_SEQPACKET socketpair (close-on-exec).
//
// Both ends are nonblocking so that os.NewFile registers them with the
// runtime poller. The worker end keeps O_NONBLOCK when passed through
// exec.Cmd.ExtraFiles (os.File.Fd leaves files made by NewFile alone), and
// NewConn copes with an end that arrives blocking anyway.
func Pair() (master, worker *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("ipc: socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "ipc-master"), os.NewFile(uintptr(fds[1]), "ipc-worker"), nil
}

// NewConn wraps a socketpair end and takes ownership of f: the caller must
// not use f afterwards, and Conn.Close closes it.
//
// A descriptor inherited across exec (the worker's fd 3) may be in blocking
// mode, and os.NewFile then leaves it out of the poller: a Recv on it could
// not be interrupted by Close and would hold an OS thread. In that case
// NewConn duplicates the descriptor (F_DUPFD_CLOEXEC), makes the copy
// nonblocking, wraps it with os.NewFile (which registers it with the
// poller) and closes f. Errors here (not a SOCK_SEQPACKET socket, dup
// failed) are returned by every later Send and Recv.
func NewConn(f *os.File) *Conn {
	c := &Conn{f: f}
	if f == nil {
		c.setupErr = errors.New("ipc: NewConn: nil file")
		return c
	}
	pf, err := pollable(f)
	if err != nil {
		c.setupErr = fmt.Errorf("ipc: NewConn %s: %w", f.Name(), err)
		return c
	}
	c.f = pf
	rc, err := pf.SyscallConn()
	if err != nil {
		c.setupErr = fmt.Errorf("ipc: NewConn %s: %w", f.Name(), err)
		return c
	}
	c.rc = rc
	return c
}

// pollable checks that f is a SOCK_SEQPACKET socket and returns a file for
// it that the runtime poller handles: f itself, or a nonblocking duplicate
// (then f is closed).
func pollable(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var sotype int
	var opErr error
	if err := rc.Control(func(fd uintptr) {
		sotype, opErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
	}); err != nil {
		return nil, err
	}
	if opErr != nil {
		return nil, fmt.Errorf("getsockopt SO_TYPE: %w", opErr)
	}
	if sotype != unix.SOCK_SEQPACKET {
		return nil, fmt.Errorf("socket type %d, want SOCK_SEQPACKET (%d)", sotype, unix.SOCK_SEQPACKET)
	}
	// Only files in the poller accept deadlines; this is the one public way
	// to ask whether f is in it.
	if err := f.SetDeadline(time.Time{}); err == nil {
		return f, nil
	}
	var dup int
	if err := rc.Control(func(fd uintptr) {
		dup, opErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if opErr != nil {
		return nil, fmt.Errorf("dup: %w", opErr)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, fmt.Errorf("set nonblocking: %w", err)
	}
	nf := os.NewFile(uintptr(dup), f.Name())
	if err := nf.SetDeadline(time.Time{}); err != nil {
		nf.Close()
		return nil, fmt.Errorf("register with the poller: %w", err)
	}
	f.Close() // the duplicate carries on; O_NONBLOCK is shared but f is gone
	return nf, nil
}

// Close closes the socket. A Recv or Send blocked in another goroutine
// returns an error wrapping os.ErrClosed.
func (c *Conn) Close() error {
	c.closed.Store(true)
	if c.f == nil {
		return nil
	}
	return c.f.Close()
}

// SetDeadline sets the read and write deadlines (see os.File.SetDeadline):
// a Recv or Send past it fails with os.ErrDeadlineExceeded. The master uses
// it to bound a handshake with a worker that may never answer.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.setupErr != nil {
		return c.setupErr
	}
	return c.f.SetDeadline(t)
}

// SetReadDeadline sets the deadline for Recv.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.setupErr != nil {
		return c.setupErr
	}
	return c.f.SetReadDeadline(t)
}

// SetWriteDeadline sets the deadline for Send (a peer that stops reading
// fills the socket buffer and blocks Send).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.setupErr != nil {
		return c.setupErr
	}
	return c.f.SetWriteDeadline(t)
}

// Send encodes m and sends it with fds attached (SCM_RIGHTS), as one
// datagram. m must pass the same validation as a received message (a bug
// here is caught at the sender, not by a peer that then drops the
// connection), and a message that travels with descriptors must carry
// exactly as many as it describes. The descriptors stay owned by the
// caller.
func (c *Conn) Send(m *ipcpb.Envelope, fds ...int) error {
	if err := Validate(m); err != nil {
		return fmt.Errorf("ipc send: %w", err)
	}
	return c.sendValidated(m, fds)
}

// sendValidated is Send without validating m (callers that validated
// already, like SendHosts).
func (c *Conn) sendValidated(m *ipcpb.Envelope, fds []int) error {
	if c.setupErr != nil {
		return c.setupErr
	}
	name := messageName(m)
	if len(fds) > MaxFDs {
		return fmt.Errorf("ipc send %s: %d descriptors, at most %d: %w", name, len(fds), MaxFDs, ErrTooManyFDs)
	}
	for _, fd := range fds {
		if fd < 0 {
			return fmt.Errorf("ipc send %s: invalid descriptor %d", name, fd)
		}
	}
	if err := checkFDCount(m, len(fds)); err != nil {
		return fmt.Errorf("ipc send: %w", err)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("ipc send %s: marshal: %w", name, err)
	}
	if len(b) > MaxMessageSize {
		return fmt.Errorf("ipc send %s: %d bytes, cap %d: %w", name, len(b), MaxMessageSize, ErrTooLarge)
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}

	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	var n int
	var sendErr error
	err = c.rc.Write(func(fd uintptr) bool {
		for {
			// MSG_NOSIGNAL: a dead peer is an EPIPE error, not a signal.
			n, sendErr = unix.SendmsgN(int(fd), b, oob, nil, unix.MSG_NOSIGNAL)
			if sendErr != unix.EINTR {
				return sendErr != unix.EAGAIN
			}
		}
	})
	if err != nil {
		return fmt.Errorf("ipc send %s: %w", name, c.ioErr(err))
	}
	if sendErr != nil {
		return fmt.Errorf("ipc send %s: sendmsg: %w", name, sendErr)
	}
	if n != len(b) {
		// SOCK_SEQPACKET sends whole datagrams; this would be a kernel surprise.
		return fmt.Errorf("ipc send %s: sendmsg wrote %d of %d bytes", name, n, len(b))
	}
	return nil
}

// Recv reads one Envelope and any descriptors that came with it. The caller
// owns the descriptors (close-on-exec). Oversized, truncated or undecodable
// messages are errors, and descriptors that came with them are closed.
// Recv returns io.EOF once the peer has closed its end (also when it closed
// with messages unread, which the kernel reports as ECONNRESET), and an
// error wrapping os.ErrClosed after Close.
//
// A zero-length datagram cannot be told from end-of-file on SOCK_SEQPACKET;
// Send never produces one (an Envelope with a message is at least 2 bytes),
// so a peer that sends one is treated as gone.
func (c *Conn) Recv() (*ipcpb.Envelope, []int, error) {
	if c.setupErr != nil {
		return nil, nil, c.setupErr
	}
	if c.rbuf == nil {
		// One byte over the cap, so a datagram of exactly MaxMessageSize+1
		// bytes is seen as too large rather than as fitting.
		c.rbuf = make([]byte, MaxMessageSize+1)
		// Room for one descriptor over the cap: a peer sending MaxFDs+1 gets
		// a precise error; more than that shows up as MSG_CTRUNC.
		c.oob = make([]byte, unix.CmsgSpace((MaxFDs+1)*4))
	}
	var n, oobn, flags int
	var recvErr error
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, oobn, flags, _, recvErr = unix.Recvmsg(int(fd), c.rbuf, c.oob, unix.MSG_CMSG_CLOEXEC)
			if recvErr != unix.EINTR {
				return recvErr != unix.EAGAIN
			}
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("ipc recv: %w", c.ioErr(err))
	}
	if recvErr == unix.ECONNRESET {
		// The peer closed with messages of ours unread; gone all the same.
		return nil, nil, io.EOF
	}
	if recvErr != nil {
		return nil, nil, fmt.Errorf("ipc recv: recvmsg: %w", recvErr)
	}

	// From here on every error path closes what arrived.
	fds, cmsgErr := parseRights(c.oob[:oobn])
	fail := func(err error) (*ipcpb.Envelope, []int, error) {
		closeFDs(fds)
		return nil, nil, fmt.Errorf("ipc recv: %w", err)
	}
	switch {
	case flags&unix.MSG_CTRUNC != 0:
		return fail(fmt.Errorf("control data truncated: more than the %d descriptors allowed: %w", MaxFDs, ErrTruncated))
	case flags&unix.MSG_TRUNC != 0 || n > MaxMessageSize:
		return fail(fmt.Errorf("datagram over %d bytes: %w", MaxMessageSize, ErrTooLarge))
	case cmsgErr != nil:
		return fail(cmsgErr)
	case len(fds) > MaxFDs:
		return fail(fmt.Errorf("%d descriptors, at most %d: %w", len(fds), MaxFDs, ErrTooManyFDs))
	case n == 0 && oobn == 0:
		return nil, nil, io.EOF
	case n == 0:
		return fail(fmt.Errorf("empty datagram with %d descriptors: %w", len(fds), ErrInvalid))
	}
	m, err := Decode(c.rbuf[:n])
	if err != nil {
		return fail(err)
	}
	if err := checkFDCount(m, len(fds)); err != nil {
		return fail(err)
	}
	return m, fds, nil
}

// ioErr maps the poller's "use of closed file" (not exported by the
// runtime) to os.ErrClosed.
func (c *Conn) ioErr(err error) error {
	if c.closed.Load() && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("%w (%v)", os.ErrClosed, err)
	}
	return err
}

// parseRights returns every descriptor in a control buffer. It keeps
// collecting after an unexpected control message so that the caller can
// close everything that arrived.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control data: %w: %w", err, ErrInvalid)
	}
	var fds []int
	var firstErr error
	for i := range msgs {
		h := msgs[i].Header
		if h.Level != unix.SOL_SOCKET || h.Type != unix.SCM_RIGHTS {
			if firstErr == nil {
				firstErr = fmt.Errorf("unexpected control message level %d type %d: %w", h.Level, h.Type, ErrInvalid)
			}
			continue
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("parse SCM_RIGHTS: %w: %w", err, ErrInvalid)
			}
			continue
		}
		fds = append(fds, got...)
	}
	return fds, firstErr
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// checkFDCount enforces how many descriptors travel with each message: a
// SocketSet carries exactly one per Socket, a SocketsChanged one per added
// Socket, every other message none. A message kind that needs descriptors
// must be added to wantFDs (validate_sockets.go).
func checkFDCount(m *ipcpb.Envelope, n int) error {
	if want := wantFDs(m); n != want {
		return fmt.Errorf("%s carries %d descriptor(s), want %d: %w", messageName(m), n, want, ErrTooManyFDs)
	}
	return nil
}
