package masterd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/config"
)

// The master's control socket for moatctl (issue 6, docs/operations.md):
// a Unix stream socket, mode 0600 (0660 with control-group), answering
// one request per connection (control_request.go). Every peer's
// credentials are checked with SO_PEERCRED before its request is read.

const (
	// controlTimeout bounds one connection: reading the request, asking
	// the workers, writing the answer.
	controlTimeout = 10 * time.Second
	// maxControlClients bounds the connections served at once; more wait
	// in the kernel's backlog.
	maxControlClients = 4
	// workerAskTimeout bounds a wait for a worker's answer (stats, dump,
	// metrics).
	workerAskTimeout = 5 * time.Second
)

// controlAccessFor resolves control-group.
func controlAccessFor(cfg *config.Config) (controlAccess, error) {
	a := controlAccess{masterUID: uint32(os.Geteuid())}
	if cfg.Control.Group == "" {
		return a, nil
	}
	gid, err := strconv.ParseUint(cfg.Control.Group, 10, 32)
	if err != nil {
		g, lerr := user.LookupGroup(cfg.Control.Group)
		if lerr != nil {
			return a, fmt.Errorf("control-group %s: %w", cfg.Control.Group, lerr)
		}
		if gid, err = strconv.ParseUint(g.Gid, 10, 32); err != nil {
			return a, fmt.Errorf("control-group %s: gid %q: %w", cfg.Control.Group, g.Gid, err)
		}
	}
	a.group, a.hasGroup = uint32(gid), true
	return a, nil
}

// listenControl creates the control socket at path: a stale socket file
// (no master answers on it) is replaced; a live one is an error, as is
// anything at path that is not a socket. Errors do not say which socket
// (control or metrics): the caller does.
func listenControl(path string, access controlAccess) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err // a *PathError: it names the operation and path
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("%s: another master answers on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("stale socket: %w", err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err // a *net.OpError: it names the operation and path
	}
	l.SetUnlinkOnClose(true)
	// Connecting needs write permission on the socket file. Between bind
	// and chmod the file has the umask's mode: on the control socket the
	// peer check (serveControlConn) still refuses whoever gets in; the
	// metrics socket has no such check, and serves only counters.
	mode := os.FileMode(0o600)
	if access.hasGroup {
		mode = 0o660
		if err := os.Lchown(path, -1, int(access.group)); err != nil {
			_ = l.Close()
			return nil, fmt.Errorf("control-group %d: %w", access.group, err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		_ = l.Close()
		return nil, err // a *PathError
	}
	return l, nil
}

// serveControl opens the control socket and the metrics endpoint and
// serves them until ctx ends. Neither is needed to serve DNS or DHCP: a
// failure to open one is logged, and the master runs on.
func (m *master) serveControl(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	m.stats.started = time.Now()
	if addr := m.cfg.Control.Metrics; addr != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.serveMetrics(ctx, addr); err != nil {
				m.log.printf("master", "metrics: %v", err)
			}
		}()
	}
	path := m.cfg.ControlSocketPath(os.Geteuid()) // internal/config/control.go
	if path == "" {
		return
	}
	access, err := controlAccessFor(m.cfg)
	if err != nil {
		m.log.printf("master", "%v (no control socket)", err)
		return
	}
	l, err := listenControl(path, access)
	if err != nil {
		m.log.printf("master", "control socket: %v (no control socket)", err)
		return
	}
	m.log.printf("master", "control socket %s", path)
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer stop()
	slots := make(chan struct{}, maxControlClients)
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				m.log.printf("master", "control socket: %v", err)
			}
			_ = l.Close()
			return
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			_ = c.Close()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			m.serveControlConn(ctx, c, access)
		}()
	}
}

// serveControlConn answers one client.
func (m *master) serveControlConn(ctx context.Context, c *net.UnixConn, access controlAccess) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(controlTimeout))
	w := bufio.NewWriter(c)
	defer w.Flush()
	cred, err := peerCredentials(c)
	if err != nil {
		// No pid or uid to record: a zero one would read as root's.
		m.log.auditMaster(auditControlRefused, "reason", err.Error())
		fmt.Fprintf(w, "error permission denied: %v\n", err)
		return
	}
	if err := access.allow(cred); err != nil {
		m.log.auditMaster(auditControlRefused, "peer-pid", cred.pid, "peer-uid", cred.uid, "reason", err.Error())
		fmt.Fprintf(w, "error permission denied: %v\n", err)
		return
	}
	req, err := readControlRequest(c)
	var verb string
	if err == nil {
		verb, err = parseControlRequest(req)
	}
	if err != nil {
		fmt.Fprintf(w, "error %v\n", err)
		return
	}
	if verb == verbReload {
		m.log.auditMaster(auditControlReload, "peer-pid", cred.pid, "peer-uid", cred.uid)
	}
	var body bytes.Buffer
	if err := m.runControlVerb(ctx, verb, &body); err != nil {
		fmt.Fprintf(w, "error %v\n", err)
		return
	}
	fmt.Fprintf(w, "ok\n")
	_, _ = w.Write(body.Bytes())
}

// readControlRequest reads up to the first newline, never more than
// maxControlRequest bytes (one more, to tell a long request).
func readControlRequest(r io.Reader) ([]byte, error) {
	buf := make([]byte, 0, maxControlRequest+1)
	tmp := make([]byte, maxControlRequest+1)
	for len(buf) <= maxControlRequest {
		n, err := r.Read(tmp[:maxControlRequest+1-len(buf)])
		buf = append(buf, tmp[:n]...)
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			return buf[:i+1], nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return buf, nil // judged by parseControlRequest
			}
			return nil, fmt.Errorf("read request: %w", err)
		}
	}
	return buf, nil
}

// runControlVerb writes a verb's answer to w.
func (m *master) runControlVerb(ctx context.Context, verb string, w io.Writer) error {
	switch verb {
	case verbStatus:
		m.writeStatus(w, time.Now())
		return nil
	case verbLeases:
		return m.writeLeases(w, time.Now())
	case verbCache:
		return m.writeCacheStats(ctx, w)
	case verbDump:
		return m.writeCacheDump(ctx, w)
	case verbReload:
		// The same path as SIGHUP: the signal loop runs reloads one at a
		// time.
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			return fmt.Errorf("reload: %w", err)
		}
		fmt.Fprintln(w, "reload requested (as SIGHUP)")
		return nil
	}
	return fmt.Errorf("unknown verb %q", verb)
}

// soPeerGroups is SO_PEERGROUPS (Linux 4.13): the peer's supplementary
// groups as an array of gid_t.
const soPeerGroups = 59

// peerCredentials asks the kernel who is at the other end of c.
func peerCredentials(c *net.UnixConn) (peerCred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return peerCred{}, fmt.Errorf("peer credentials: %w", err)
	}
	var p peerCred
	var opErr error
	err = raw.Control(func(fd uintptr) {
		uc, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			opErr = err
			return
		}
		p = peerCred{pid: uc.Pid, uid: uc.Uid, gid: uc.Gid}
		p.groups = peerGroups(int(fd))
	})
	if err == nil {
		err = opErr
	}
	if err != nil {
		return peerCred{}, fmt.Errorf("peer credentials: %w", err)
	}
	return p, nil
}

// peerGroups reads SO_PEERGROUPS; nil when the kernel has no answer (the
// primary group still counts).
func peerGroups(fd int) []uint32 {
	buf := make([]uint32, 64)
	for range 2 {
		size := uint32(len(buf) * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, soPeerGroups,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch {
		case errno == 0:
			return buf[:size/4]
		case errno == unix.ERANGE && size/4 > uint32(len(buf)) && size/4 <= 65536:
			buf = make([]uint32, size/4)
		default:
			return nil
		}
	}
	return nil
}
