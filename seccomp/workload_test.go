package seccomp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ipcFD is the child's end of the test socketpair, like a worker's IPC
// descriptor.
const ipcFD = 3

// socketSet is what the parent (playing the master) sends the child over
// the socketpair with SCM_RIGHTS, in this order.
type socketSet struct {
	Kinds []string // "udp4", "udp4b", "tcp4", "udp6", "tcp6"
}

// workloadStats is what the child reports after its workload.
type workloadStats struct {
	Rounds        int
	UDPExchanges  int
	TCPExchanges  int
	Signals       int
	GCs           uint32
	ThreadExits   int64 // goroutines that ended locked to their thread, taking it along
	SpinLoops     int64
	ControlMsgs   int
	LocalZone     string
	Nanos         int64
	ReceivedKinds []string
}

type workload struct {
	role  string
	ipc   int
	udp   map[string]*net.UDPConn
	tcp   map[string]*net.TCPListener
	stats workloadStats
	sigCh chan os.Signal
}

// newWorkload receives the sockets the parent sent (recvmsg, SCM_RIGHTS)
// and wraps them like a worker does (net.FilePacketConn / FileListener:
// dup, fcntl, getsockopt SO_TYPE, getsockname).
func newWorkload(role string, ipc int) (*workload, error) {
	w := &workload{role: role, ipc: ipc, udp: map[string]*net.UDPConn{}, tcp: map[string]*net.TCPListener{}}
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(8*4))
	n, oobn, _, _, err := unix.Recvmsg(ipc, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("recvmsg: %w", err)
	}
	var set socketSet
	if err := json.Unmarshal(buf[:n], &set); err != nil {
		return nil, fmt.Errorf("socket set: %w", err)
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var fds []int
	for i := range cmsgs {
		got, err := unix.ParseUnixRights(&cmsgs[i])
		if err != nil {
			return nil, err
		}
		fds = append(fds, got...)
	}
	if len(fds) != len(set.Kinds) {
		return nil, fmt.Errorf("got %d descriptors for %v", len(fds), set.Kinds)
	}
	for i, kind := range set.Kinds {
		f := os.NewFile(uintptr(fds[i]), kind)
		switch kind[:3] {
		case "udp":
			c, err := net.FilePacketConn(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", kind, err)
			}
			w.udp[kind] = c.(*net.UDPConn)
		case "tcp":
			l, err := net.FileListener(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", kind, err)
			}
			w.tcp[kind] = l.(*net.TCPListener)
		}
		f.Close()
	}
	w.stats.ReceivedKinds = set.Kinds
	w.sigCh = make(chan os.Signal, 1)
	signal.Notify(w.sigCh, syscall.SIGUSR1)
	// The reply-address control messages the DNS and DHCP workers use.
	if c := w.udp["udp4"]; c != nil {
		if err := setsockoptInt(c, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
			return nil, fmt.Errorf("IP_PKTINFO: %w", err)
		}
	}
	return w, nil
}

func setsockoptInt(c syscall.Conn, level, opt, v int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil {
		return err
	}
	return serr
}

// acceptAll is a classic BPF socket filter that accepts every packet, the
// shape of the upstream reply filter dnsd attaches.
var acceptAll = []unix.SockFilter{{Code: 0x06, K: 0xffffffff}} // BPF_RET|BPF_K

// run does rounds of network work while background goroutines keep the
// runtime busy (GC pressure, preemption, thread churn, timers) until d has
// passed; at least one round.
func (w *workload) run(d time.Duration) (workloadStats, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	var bgErr atomic.Value
	background := []func(context.Context) error{w.churnMemory, w.churnMemory, w.spin, w.churnThreads, w.churnTimers}
	for _, f := range background {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				bgErr.Store(err)
			}
		}()
	}
	var err error
	for w.stats.Rounds == 0 || ctx.Err() == nil {
		if err = w.round(); err != nil {
			break
		}
		w.stats.Rounds++
		if w.stats.Rounds > 1_000_000 {
			break
		}
	}
	cancel()
	wg.Wait()
	runtime.GC() // at least one collection, even in a one-round run
	if err == nil {
		if e, ok := bgErr.Load().(error); ok {
			err = e
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.stats.GCs = ms.NumGC
	w.stats.Nanos = time.Since(start).Nanoseconds()
	return w.stats, err
}

// round is one pass of the role's I/O plus the cheap runtime checks.
func (w *workload) round() error {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("crypto/rand: %w", err)
	}
	name, _ := time.Now().Zone()
	w.stats.LocalZone = name
	// Lazy loads and path lookups fail cleanly (ENOENT), never kill.
	if _, err := time.LoadLocation("Europe/Berlin"); err == nil {
		return errors.New("time zone database readable after confinement")
	}
	if _, err := os.Getwd(); !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("os.Getwd: %v, want ENOENT", err)
	}
	if _, err := os.Hostname(); err != nil {
		return fmt.Errorf("os.Hostname: %w", err)
	}
	_, _ = os.Getuid(), os.Getppid()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		return fmt.Errorf("kill self: %w", err)
	}
	select {
	case <-w.sigCh:
		w.stats.Signals++
	case <-time.After(5 * time.Second):
		return errors.New("SIGUSR1 to self not delivered")
	}
	switch w.role {
	case "dnsd":
		for _, v := range []string{"4", "6"} {
			if c := w.udp["udp"+v]; c != nil {
				if err := w.dialUDP(c); err != nil {
					return fmt.Errorf("udp%s: %w", v, err)
				}
			}
			if l := w.tcp["tcp"+v]; l != nil {
				if err := w.dialTCP(l); err != nil {
					return fmt.Errorf("tcp%s: %w", v, err)
				}
			}
		}
	case "dhcpd":
		if err := w.exchangeInherited(w.udp["udp4"], w.udp["udp4b"]); err != nil {
			return err
		}
	}
	return nil
}

// dialUDP makes a fresh connected UDP socket (after confinement), attaches
// a socket filter, and echoes through the inherited socket.
func (w *workload) dialUDP(srv *net.UDPConn) error {
	c, err := net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var aerr error
	rc.Control(func(fd uintptr) {
		aerr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
			&unix.SockFprog{Len: uint16(len(acceptAll)), Filter: &acceptAll[0]})
	})
	if aerr != nil {
		return fmt.Errorf("SO_ATTACH_FILTER: %w", aerr)
	}
	return w.echo(c, srv)
}

// echo sends from client to the server socket, which answers from where
// the query came; the client must get its bytes back.
func (w *workload) echo(client *net.UDPConn, srv *net.UDPConn) error {
	deadline := time.Now().Add(5 * time.Second)
	client.SetDeadline(deadline)
	srv.SetDeadline(deadline)
	msg := make([]byte, 64)
	rand.Read(msg)
	if _, err := client.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	buf := make([]byte, 512)
	oob := make([]byte, 128)
	n, oobn, _, from, err := srv.ReadMsgUDP(buf, oob)
	if err != nil {
		return fmt.Errorf("server read: %w", err)
	}
	if oobn > 0 {
		w.stats.ControlMsgs++
	}
	if _, err := srv.WriteToUDP(buf[:n], from); err != nil {
		return fmt.Errorf("server write: %w", err)
	}
	n, err = client.Read(buf)
	if err != nil {
		return fmt.Errorf("client read: %w", err)
	}
	if !bytes.Equal(buf[:n], msg) {
		return errors.New("echo mismatch")
	}
	w.stats.UDPExchanges++
	return nil
}

// exchangeInherited: dhcpd makes no sockets, so both ends are inherited.
func (w *workload) exchangeInherited(a, b *net.UDPConn) error {
	if a == nil || b == nil {
		return errors.New("dhcpd workload needs udp4 and udp4b")
	}
	deadline := time.Now().Add(5 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	if err := setsockoptInt(a, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return fmt.Errorf("SO_BROADCAST: %w", err)
	}
	msg := make([]byte, 300)
	rand.Read(msg)
	if _, err := a.WriteToUDP(msg, b.LocalAddr().(*net.UDPAddr)); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	buf := make([]byte, 1500)
	n, from, err := b.ReadFromUDP(buf)
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	if _, err := b.WriteToUDP(buf[:n], from); err != nil {
		return fmt.Errorf("reply: %w", err)
	}
	oob := make([]byte, 128)
	n, oobn, _, _, err := a.ReadMsgUDP(buf, oob)
	if err != nil {
		return fmt.Errorf("receive reply: %w", err)
	}
	if oobn > 0 {
		w.stats.ControlMsgs++
	}
	if !bytes.Equal(buf[:n], msg) {
		return errors.New("exchange mismatch")
	}
	w.stats.UDPExchanges++
	return nil
}

const tcpProbe = "moat tcp probe"

// dialTCP connects to the inherited listener and echoes over the accepted
// connection (accept4, TCP_NODELAY, keep-alives, SO_ERROR).
func (w *workload) dialTCP(l *net.TCPListener) error {
	deadline := time.Now().Add(5 * time.Second)
	l.SetDeadline(deadline)
	accepted := make(chan error, 1)
	go func() {
		c, err := l.AcceptTCP()
		if err != nil {
			accepted <- err
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		// io.Copy between TCP connections tries splice through a pipe;
		// pipe2 answers ENOSYS and Go falls back to read/write.
		n, err := io.Copy(c, io.LimitReader(c, int64(len(tcpProbe))))
		if err == nil && n != int64(len(tcpProbe)) {
			err = fmt.Errorf("echoed %d bytes", n)
		}
		accepted <- err
	}()
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	msg := []byte(tcpProbe)
	if _, err := c.Write(msg); err != nil {
		return err
	}
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if !bytes.Equal(buf[:n], msg) {
		return errors.New("tcp echo mismatch")
	}
	if err := <-accepted; err != nil {
		return fmt.Errorf("accept side: %w", err)
	}
	w.stats.TCPExchanges++
	return nil
}

// sendBack sends one descriptor to the parent (sendmsg with SCM_RIGHTS):
// a socket made after confinement for dnsd, an inherited one for dhcpd.
func (w *workload) sendBack() error {
	var f *os.File
	var err error
	if w.role == "dnsd" {
		c, derr := net.DialUDP("udp", nil, w.udp["udp4"].LocalAddr().(*net.UDPAddr))
		if derr != nil {
			return derr
		}
		defer c.Close()
		f, err = c.File()
	} else {
		f, err = w.udp["udp4b"].File()
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Sendmsg(w.ipc, []byte("fd"), unix.UnixRights(int(f.Fd())), nil, 0)
}

// churnMemory allocates and drops buffers of many sizes, forcing GC
// cycles, heap growth (mmap, prctl naming) and scavenging (madvise).
func (w *workload) churnMemory(ctx context.Context) error {
	var keep [64][]byte
	var r [8]byte
	for i := 0; ctx.Err() == nil; i++ {
		rand.Read(r[:])
		size := 1024 + int(r[0])<<int(r[1]%12)
		keep[i%len(keep)] = make([]byte, size)
		if i%200 == 0 {
			runtime.GC()
		}
		if i%2000 == 0 {
			debug.FreeOSMemory()
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

var spinSink atomic.Int64

// spin runs call-free loops long enough for sysmon to preempt them
// asynchronously (tgkill SIGURG, rt_sigreturn).
func (w *workload) spin(ctx context.Context) error {
	for ctx.Err() == nil {
		x := int64(1)
		for i := int64(0); i < 50_000_000; i++ {
			x = x*6364136223846793005 + i
		}
		spinSink.Add(x)
		atomic.AddInt64(&w.stats.SpinLoops, 1)
	}
	return nil
}

// churnThreads makes the runtime create and destroy OS threads: blocking
// raw sleeps hand the P to a new thread, and a goroutine that exits while
// locked to its thread takes the thread with it.
func (w *workload) churnThreads(ctx context.Context) error {
	for ctx.Err() == nil {
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
				ts := syscall.NsecToTimespec(int64(2 * time.Millisecond))
				syscall.Nanosleep(&ts, nil)
			}()
		}
		wg.Wait()
		atomic.AddInt64(&w.stats.ThreadExits, 4)
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// churnTimers keeps many timers and tickers in flight.
func (w *workload) churnTimers(ctx context.Context) error {
	tick := time.NewTicker(3 * time.Millisecond)
	defer tick.Stop()
	var fired atomic.Int64
	for ctx.Err() == nil {
		for i := 0; i < 20; i++ {
			time.AfterFunc(time.Duration(i)*time.Millisecond, func() { fired.Add(1) })
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	return nil
}
