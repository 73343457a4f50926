package dnsd

import (
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/moatdns/moat/internal/workerproc"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// bind-dynamic: the master binds addresses as they appear on the served
// interfaces and sends the sockets in SocketsChanged messages, and names
// the addresses whose sockets must close when they vanish. dnsd serves an
// added socket at once (or, before it serves at all, together with the
// SocketSet's), and closes every listener bound to a removed address.

// dynamicSockets is the Server's record of its listeners by address.
// Only Serve's goroutine changes it; the mutex keeps that an invariant
// rather than an assumption.
type dynamicSockets struct {
	mu      sync.Mutex
	byAddr  map[string][]io.Closer // Socket.address -> the listeners serving it
	started bool                   // startAll ran: added sockets are served at once
	pending []workerproc.Socket    // added before serving began; tracked until started
	dropped map[string]bool        // addresses removed before serving began
}

// noteListener records that c serves the socket bound to addr, so that a
// removal of addr closes it. start calls it for every listener.
func (s *Server) noteListener(addr string, c io.Closer) {
	d := &s.dyn
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byAddr == nil {
		d.byAddr = make(map[string][]io.Closer)
	}
	d.byAddr[addr] = append(d.byAddr[addr], c)
}

// receiveSocketsChanged applies a SocketsChanged and takes ownership of
// fds (one per added socket, as ipc.Recv has checked). It reports whether
// env was one; any other message is left to the caller, fds untouched.
func (s *Server) receiveSocketsChanged(env *ipcpb.Envelope, fds []int) (bool, error) {
	sc := env.GetSocketsChanged()
	if sc == nil {
		return false, nil
	}
	if len(fds) != len(sc.GetAdded()) {
		closeRawFDs(fds)
		return true, fmt.Errorf("ipc: %s: %d descriptors for %d sockets: %w", ipc.MessageName(env), len(fds), len(sc.GetAdded()), ipc.ErrInvalid)
	}
	added := make([]workerproc.Socket, len(fds))
	for i, desc := range sc.GetAdded() {
		added[i] = workerproc.Socket{Desc: desc, File: os.NewFile(uintptr(fds[i]), desc.GetAddress())}
	}
	for _, addr := range sc.GetRemoved() {
		s.closeListeners(addr)
	}

	d := &s.dyn
	d.mu.Lock()
	if !d.started {
		// Nothing is served yet: keep the files (stop closes them if
		// serving never begins) and start them with the rest.
		for _, sock := range added {
			if !s.track(sock.File) {
				sock.File.Close()
				continue
			}
			d.pending = append(d.pending, sock)
		}
		d.mu.Unlock()
		return true, nil
	}
	d.mu.Unlock()
	err := s.start(added) // the listeners duplicate the descriptors
	for _, sock := range added {
		sock.File.Close()
	}
	if err != nil {
		return true, fmt.Errorf("serve added sockets: %w", err)
	}
	return true, nil
}

// closeListeners closes every listener bound to addr. Before serving
// began it drops pending sockets of addr instead, and remembers addr so
// that startAll leaves the SocketSet's sockets of addr out.
func (s *Server) closeListeners(addr string) {
	d := &s.dyn
	d.mu.Lock()
	closers := d.byAddr[addr]
	delete(d.byAddr, addr)
	if !d.started {
		if d.dropped == nil {
			d.dropped = make(map[string]bool)
		}
		d.dropped[addr] = true
		kept := d.pending[:0]
		for _, sock := range d.pending {
			if sock.Desc.GetAddress() == addr {
				s.untrack(sock.File)
				sock.File.Close()
				continue
			}
			kept = append(kept, sock)
		}
		d.pending = kept
	}
	d.mu.Unlock()
	for _, c := range closers {
		s.untrack(c)
		c.Close() // its serve loop ends with net.ErrClosed
	}
}

// startAll begins serving the SocketSet's sockets (less those removed
// meanwhile) and every socket added before now; from here on added
// sockets are served as they arrive. The SocketSet's files stay the
// caller's; the pending ones are closed here once duplicated.
func (s *Server) startAll(initial []workerproc.Socket) error {
	d := &s.dyn
	d.mu.Lock()
	all := make([]workerproc.Socket, 0, len(initial)+len(d.pending))
	for _, sock := range initial {
		if sock.Desc == nil || !d.dropped[sock.Desc.GetAddress()] {
			all = append(all, sock)
		}
	}
	pending := d.pending
	all = append(all, pending...)
	d.pending, d.dropped, d.started = nil, nil, true
	d.mu.Unlock()
	err := s.start(all)
	for _, sock := range pending {
		s.untrack(sock.File)
		sock.File.Close()
	}
	return err
}

func closeRawFDs(fds []int) {
	for _, fd := range fds {
		_ = syscall.Close(fd)
	}
}
