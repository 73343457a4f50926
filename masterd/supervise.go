package masterd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Restart backoff: the first restart is quick, so that a crashed dnsd
// answers again within a couple of seconds; a worker that keeps dying waits
// longer each time, up to maxBackoff; a worker that ran healthyRun resets it.
const (
	minBackoff   = 100 * time.Millisecond
	maxBackoff   = 30 * time.Second
	healthyRun   = 30 * time.Second
	startTimeout = 10 * time.Second // spawn to Ready
	stopTimeout  = 2 * time.Second  // Shutdown to exit, then SIGKILL
)

// maxCrashes is how many times in a row a worker may die before it ran
// healthyRun: then the master stops restarting it and exits non-zero, so
// that the service manager (systemd's Restart=, StartLimitBurst=) takes
// over instead of a loop that never ends. With the backoff above, ten
// such deaths take about a minute.
const maxCrashes = 10

// supervisor keeps one role running: it starts the worker, hands it the
// same sockets every time, configures it, checks its Ready, and restarts it
// with backoff when it exits, crashes or breaks the protocol.
type supervisor struct {
	m         *master
	role      string
	sockets   []openSocket
	configure func(*ipc.Conn) error // role-specific messages after the SocketSet

	mu       sync.Mutex
	current  *worker // the ready worker, nil while none is
	restarts int
	// crashLimit overrides maxCrashes (tests); 0 means maxCrashes.
	crashLimit int

	readyOnce  sync.Once
	firstReady chan struct{}
}

func newSupervisor(m *master, role string, sockets []openSocket, configure func(*ipc.Conn) error) *supervisor {
	return &supervisor{m: m, role: role, sockets: sockets, configure: configure, firstReady: make(chan struct{})}
}

// run supervises until ctx is cancelled, then stops the worker.
func (s *supervisor) run(ctx context.Context) {
	delay := minBackoff
	var crashes crashCount
	for {
		began := time.Now()
		w, err := s.m.spawn(s.role)
		if err != nil {
			s.m.log.printf("master", "%s: %v", s.role, err)
		} else {
			why := s.serve(ctx, w)
			status, sigsys := w.stop()
			if ctx.Err() != nil {
				s.m.log.printf("master", "%s[%d] stopped: %s", s.role, w.pid, status)
				return
			}
			s.m.log.auditEvent(auditWorkerExit, s.role, w.pid, "reason", why, "status", status)
			if sigsys {
				s.m.log.reportSeccompKill(s.role, w.pid)
			}
		}
		if n, since := crashes.died(began, time.Now()); n >= crashLimitOr(s.crashLimit) {
			s.giveUp(n, since)
			return
		}
		if !s.m.waitRestart(ctx, s.role, began, &delay) {
			return
		}
		s.mu.Lock()
		s.restarts++
		s.mu.Unlock()
	}
}

// serve takes a freshly spawned worker through handshake, sockets,
// configuration and Ready, then reads its messages until it goes away or
// breaks the protocol. It returns why the worker's run ended.
func (s *supervisor) serve(ctx context.Context, w *worker) string {
	// A worker that does not reach Ready in time is killed; the kill also
	// unblocks the Recv below with EOF.
	startTimer := time.AfterFunc(startTimeout, func() { _ = w.cmd.Process.Kill() })
	defer startTimer.Stop()
	stopWatch := context.AfterFunc(ctx, func() {
		_ = w.conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_Shutdown{Shutdown: &ipcpb.Shutdown{Reason: "master stopping"}}})
	})
	defer stopWatch()

	if err := s.start(w); err != nil {
		return err.Error()
	}
	startTimer.Stop()
	s.mu.Lock()
	s.current = w
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.current = nil
		s.mu.Unlock()
	}()
	s.readyOnce.Do(func() { close(s.firstReady) })

	for {
		m, fds, err := w.conn.Recv()
		closeFDs(fds)
		switch {
		case errors.Is(err, io.EOF):
			return "closed its IPC connection"
		case err != nil:
			return w.violation(s.m.log, fmt.Sprintf("unreadable message: %v", err))
		case len(fds) == 0 && s.m.handleWorkerMessage(s.role, m): // area D: StatsReport (stats.go)
			continue
		case len(fds) == 0 && s.role == "dhcpd" && s.m.leases != nil && m.GetLeaseCommit() != nil: // area I (dhcpleases.go)
			s.m.leases.handle(w.conn, m.GetLeaseCommit())
			continue
		default:
			// Anything else after Ready (from dnsd: anything but stats;
			// from dhcpd: anything but LeaseCommit) is a protocol violation.
			return w.violation(s.m.log, fmt.Sprintf("unexpected %T after Ready", m.GetMsg()))
		}
	}
}

// start runs the handshake and configuration of a new worker and validates
// its Ready.
func (s *supervisor) start(w *worker) error {
	if _, err := w.conn.Handshake(s.role); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if err := checkRoleSockets(s.role, s.sockets); err != nil { // printpolicy.go
		// A programming error, the same on every restart: end the master.
		s.m.fail(err)
		return err
	}
	set := &ipcpb.SocketSet{}
	fds := make([]int, 0, len(s.sockets))
	for _, sock := range s.sockets {
		set.Sockets = append(set.Sockets, sock.desc)
		fds = append(fds, int(sock.file.Fd()))
	}
	if err := w.conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_SocketSet{SocketSet: set}}, fds...); err != nil {
		return fmt.Errorf("send sockets: %w", err)
	}
	if s.role == "dnsd" { // area H: bind-dynamic's current sockets; nothing without it (binddynamic.go)
		if err := s.m.dynamic.attach(w.conn); err != nil {
			return fmt.Errorf("send sockets: %w", err)
		}
	}
	if s.configure != nil {
		if err := s.configure(w.conn); err != nil {
			return err
		}
	}
	m, fds, err := w.conn.Recv()
	closeFDs(fds)
	if err != nil {
		return fmt.Errorf("waiting for Ready: %w", err)
	}
	ready := m.GetReady()
	if ready == nil {
		return errors.New(w.violation(s.m.log, fmt.Sprintf("expected Ready, got %T", m.GetMsg())))
	}
	if err := s.m.sandbox.forRole(s.role).verify(w.pid, ready.GetSandbox()); err != nil { // its own user (hardening_users.go)
		if dyingBySeccomp(w.pid) {
			// Not a lie about its sandbox: its filter is killing it for a
			// call made right after Ready. stop reports the seccomp kill
			// (with the call's name) rather than a protocol violation.
			return fmt.Errorf("killed by its seccomp filter right after Ready (%v)", err)
		}
		return errors.New(w.violation(s.m.log, "sandbox not in force: "+err.Error()))
	}
	s.m.log.printf("master", "%s[%d] ready: %s", s.role, w.pid, describeSandbox(ready.GetSandbox()))
	s.m.noteWorkerReady(s.role, w.pid, ready.GetSandbox()) // issue 6: moatctl status (stats_requests.go)
	return nil
}

// seccompModeDead is the Seccomp field of /proc/<pid>/status once the
// kernel has begun to kill a task for a call its filter refused
// (SECCOMP_MODE_DEAD, Linux 5.17 and later); no task can set it itself.
const seccompModeDead = 3

// dyingBySeccomp reports whether pid's seccomp filter is killing it.
func dyingBySeccomp(pid int) bool {
	st, err := readProcStatus(pid)
	return err == nil && st.GetSeccompMode() == seccompModeDead
}

// violation kills a worker that broke the protocol: the master trusts no
// worker to recover from a confused state.
func (w *worker) violation(log *logger, what string) string {
	log.auditViolationOf(w.role, w.pid, what)
	_ = w.cmd.Process.Kill()
	return "protocol violation: " + what
}

// stop ends a worker's (or the script helper's) process: it gets
// stopTimeout to exit after Shutdown or EOF, then SIGKILL. It returns how
// the process ended, and whether seccomp killed it (SIGSYS).
func (w *worker) stop() (status string, sigsys bool) {
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(stopTimeout):
		_ = w.cmd.Process.Kill()
		err = <-done
	}
	_ = w.conn.Close()
	return exitReason(err), killedBySIGSYS(err)
}

// killedBySIGSYS: the process ended on SIGSYS, which for a confined
// worker is its seccomp filter's kill-process action.
func killedBySIGSYS(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGSYS
}

// crashCount counts a worker's deaths in a row, each before it ran
// healthyRun.
type crashCount struct {
	n     int
	first time.Time // start of the first run of the streak
}

// died records a run from began to ended and returns the streak's length
// and how long it has lasted.
func (c *crashCount) died(began, ended time.Time) (int, time.Duration) {
	if ended.Sub(began) >= healthyRun {
		c.n = 0
	}
	if c.n == 0 {
		c.first = began
	}
	c.n++
	return c.n, ended.Sub(c.first)
}

// crashLimitOr is override (a test's crashLimit) when set, else
// maxCrashes; workers and the script helper share it.
func crashLimitOr(override int) int {
	if override > 0 {
		return override
	}
	return maxCrashes
}

// giveUp stops restarting a worker that keeps dying and makes the master
// exit non-zero.
func (s *supervisor) giveUp(crashes int, over time.Duration) {
	over = over.Round(time.Millisecond)
	s.m.log.auditEvent(auditWorkerGiveUp, s.role, 0, "crashes", crashes, "over", over, "healthy-run", healthyRun, "then", "master-exits")
	err := fmt.Errorf("%s died %d times in a row, each within %v of its start (over %v): not restarting it; exiting so that the service manager decides", s.role, crashes, healthyRun, over)
	s.m.log.printf("master", "%v", err)
	s.m.fail(err)
}

// withReady runs f on the ready worker's connection, if there is one. A
// worker that is not ready gets the current data when it next starts.
func (s *supervisor) withReady(f func(*ipc.Conn) error) error {
	s.mu.Lock()
	w := s.current
	s.mu.Unlock()
	if w == nil {
		return nil
	}
	return f(w.conn)
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		_ = os.NewFile(uintptr(fd), "").Close()
	}
}

// waitRestart logs and sleeps the backoff before a process of role is
// started again: delay doubles from minBackoff to maxBackoff and starts
// over after a run of healthyRun. false: ctx ended meanwhile.
func (m *master) waitRestart(ctx context.Context, role string, began time.Time, delay *time.Duration) bool {
	if time.Since(began) >= healthyRun {
		*delay = minBackoff
	}
	m.log.printf("master", "restarting %s in %v", role, *delay)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(*delay):
	}
	*delay = min(2**delay, maxBackoff)
	return true
}

// fail makes runMaster return err (and moatd exit non-zero); only the
// first error is kept. Without a running master (tests) it is dropped.
func (m *master) fail(err error) {
	select {
	case m.fatal <- err:
	default:
	}
}
