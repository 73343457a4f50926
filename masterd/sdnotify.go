package masterd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// systemd's notify protocol (sd_notify(3)), spoken without libsystemd:
// newline-separated KEY=VALUE assignments in one datagram to the
// AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract name
// written with a leading '@'). moatd sends
//
//	READY=1 + STATUS=...  once every worker has been Ready once
//	WATCHDOG=1            every half WATCHDOG_USEC, only while supervision is
//	                      healthy and the main signal loop beat since the last ping
//	STATUS=...            when the workers' state changes or the watchdog is withheld
//	RELOADING=1 + MONOTONIC_USEC=..., then READY=1   on SIGHUP, around the
//	                      main loop's reload: READY=1 once it is done
//	STOPPING=1            when the master starts to shut down
//
// Outside systemd ($NOTIFY_SOCKET unset) none of this runs.

// sdNotifier sends notifications to one notify socket.
type sdNotifier struct {
	addr string // $NOTIFY_SOCKET as given: "/path" or "@abstract"
	// watchdogEvery is half of $WATCHDOG_USEC, 0 without a watchdog (or
	// when $WATCHDOG_PID names another process).
	watchdogEvery time.Duration
}

// sdNotifierFromEnv returns the notifier systemd asked for, or nil when
// moatd was not started by systemd with Type=notify. An unusable
// $NOTIFY_SOCKET is an error rather than silence: systemd would otherwise
// time the start out with no hint why.
func sdNotifierFromEnv() (*sdNotifier, error) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil, nil
	}
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		return nil, fmt.Errorf("NOTIFY_SOCKET=%q: neither an absolute path nor an abstract name (@...)", addr)
	}
	if len(addr) > len(unix.RawSockaddrUnix{}.Path)-1 {
		return nil, fmt.Errorf("NOTIFY_SOCKET=%q: longer than a socket address can be", addr)
	}
	n := &sdNotifier{addr: addr}
	every, err := watchdogFromEnv(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
	if err != nil {
		return nil, err
	}
	n.watchdogEvery = every
	return n, nil
}

// watchdogFromEnv is half the watchdog interval systemd set, as
// sd_watchdog_enabled(3) reads it: nothing when WATCHDOG_PID names a
// different process (the variables were inherited, not meant for us).
func watchdogFromEnv(usec, pidStr string, pid int) (time.Duration, error) {
	if usec == "" {
		return 0, nil
	}
	if pidStr != "" {
		if p, err := strconv.Atoi(pidStr); err != nil || p != pid {
			return 0, nil
		}
	}
	us, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || us == 0 {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q: not a positive number of microseconds", usec)
	}
	return time.Duration(us) * time.Microsecond / 2, nil
}

// send delivers one notification. Each uses a fresh socket, as
// sd_notify does, so that a systemd re-executed since (daemon-reexec,
// which recreates the socket) still gets it.
func (n *sdNotifier) send(assignments ...string) error {
	msg := strings.Join(assignments, "\n") + "\n"
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sd_notify: socket: %w", err)
	}
	defer unix.Close(fd)
	// x/sys/unix turns a leading '@' into the abstract namespace's NUL.
	if err := unix.Sendto(fd, []byte(msg), unix.MSG_NOSIGNAL, &unix.SockaddrUnix{Name: n.addr}); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr, err)
	}
	return nil
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, which RELOADING=1
// carries so that systemd can tell this reload from an older one.
func monotonicUsec() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return "0"
	}
	return strconv.FormatInt(ts.Nano()/1000, 10)
}

// notifySystemd is called once, when every worker has been Ready once:
// it sends READY=1 and then, until ctx ends, keeps systemd informed
// (watchdog, status, stopping); the main loop reports reloads through
// m.sd and proves it is alive with m.sd.beat. Without $NOTIFY_SOCKET it
// does nothing and m.sd stays nil. Its goroutine is counted in wg, so
// that the master waits for STOPPING=1 to be sent before it exits.
func (m *master) notifySystemd(ctx context.Context, wg *sync.WaitGroup) {
	n, err := sdNotifierFromEnv()
	if err != nil {
		m.log.printf("master", "systemd: %v", err)
		return
	}
	if n == nil {
		return
	}
	s := newSDSession(n, m.supervisionHealth, func(err error) { m.log.printf("master", "systemd: %v", err) })
	m.sd = s
	status, _ := m.supervisionHealth()
	s.ready(status)
	if n.watchdogEvery > 0 {
		m.log.printf("master", "systemd: watchdog ping every %v while supervision and the main loop are healthy", n.watchdogEvery)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		var tick <-chan time.Time
		if n.watchdogEvery > 0 {
			ticker := time.NewTicker(n.watchdogEvery)
			defer ticker.Stop()
			tick = ticker.C
		}
		s.serve(ctx, tick)
	}()
}

// sdSession is the conversation with systemd once READY=1 was sent: the
// watchdog goroutine (serve) and the main loop (reloading, reloaded,
// beat) both speak through it.
type sdSession struct {
	n *sdNotifier
	// health reports the workers' state and whether supervision is
	// working (supervisionHealth); the main loop's own liveness is the
	// heartbeat.
	health func() (string, error)
	logf   func(error)
	loop   heartbeat

	mu         sync.Mutex
	lastStatus string // STATUS= last sent
	lastErr    string // last send error logged, so that a vanished socket is logged once
	withheld   string // why the last ping was withheld, "" after a ping
}

func newSDSession(n *sdNotifier, health func() (string, error), logf func(error)) *sdSession {
	s := &sdSession{n: n, health: health, logf: logf}
	s.loop.beat() // the main loop is alive: it is the caller
	return s
}

// sendLocked sends and logs a failure once per distinct error; s.mu held.
func (s *sdSession) sendLocked(assignments ...string) {
	err := s.n.send(assignments...)
	switch {
	case err == nil:
		s.lastErr = ""
	case err.Error() != s.lastErr:
		s.lastErr = err.Error()
		s.logf(err)
	}
}

// ready sends READY=1 with the workers' state.
func (s *sdSession) ready(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastStatus = status
	s.sendLocked("READY=1", "STATUS="+status)
}

// reloading is called by the main loop as it starts a SIGHUP reload.
func (s *sdSession) reloading() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastStatus = "reloading"
	s.sendLocked("RELOADING=1", "MONOTONIC_USEC="+monotonicUsec(), "STATUS=reloading")
}

// reloaded is called by the main loop once m.reload() returned: READY=1
// then means the reload is done, not merely that supervision answers, so
// `systemctl reload` returns when the new data is in place.
func (s *sdSession) reloaded() {
	if s == nil {
		return
	}
	s.loop.beat()
	status, err := s.health()
	if err != nil {
		status = "reload: " + err.Error()
	}
	s.ready(status)
}

// beat is the main loop's heartbeat (heartbeatTicks).
func (s *sdSession) beat() {
	if s != nil {
		s.loop.beat()
	}
}

// heartbeatTicks is how often the main loop beats, or nil without a
// watchdog: a few times per ping, so that one late tick never withholds
// a ping. The ticker stops with ctx.
func (s *sdSession) heartbeatTicks(ctx context.Context) <-chan time.Time {
	if s == nil || s.n.watchdogEvery <= 0 {
		return nil
	}
	t := time.NewTicker(heartbeatEvery(s.n.watchdogEvery))
	context.AfterFunc(ctx, t.Stop)
	return t.C
}

func heartbeatEvery(watchdogEvery time.Duration) time.Duration {
	return max(min(watchdogEvery/4, time.Second), time.Millisecond)
}

// serve answers watchdog ticks until ctx ends, then sends STOPPING=1.
func (s *sdSession) serve(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.sendLocked("STOPPING=1", "STATUS=stopping")
			s.mu.Unlock()
			return
		case now := <-tick:
			s.ping(now)
		}
	}
}

// ping sends WATCHDOG=1 when the main loop beat within the last ping
// interval and supervision is healthy; otherwise it withholds the ping
// and says why in STATUS= (once per reason). If it stays stuck,
// systemd's WatchdogSec kills and restarts the whole service.
func (s *sdSession) ping(now time.Time) {
	status, err := "", s.loop.check(now, s.n.watchdogEvery)
	if err == nil {
		status, err = s.health()
	}
	s.mu.Lock()
	if err != nil {
		why := err.Error()
		if why == s.withheld {
			s.mu.Unlock()
			return
		}
		s.withheld = why
		s.sendLocked("STATUS=watchdog withheld: " + why)
		s.mu.Unlock()
		s.logf(fmt.Errorf("watchdog ping withheld: %s", why)) // outside s.mu: may block if the log is what is stuck
		return
	}
	s.withheld = ""
	msg := []string{"WATCHDOG=1"}
	if status != s.lastStatus {
		msg, s.lastStatus = append(msg, "STATUS="+status), status
	}
	s.sendLocked(msg...)
	s.mu.Unlock()
}

// heartbeat is when the main signal loop last showed it runs: a wedged
// loop answers no SIGHUP, SIGTERM or worker failure, even while the
// supervisors, which run on their own goroutines, look healthy.
type heartbeat struct {
	last atomic.Int64 // nanoseconds since heartbeatEpoch (monotonic)
}

// heartbeatEpoch makes the heartbeat monotonic: time.Since reads the
// monotonic clock.
var heartbeatEpoch = time.Now()

func (h *heartbeat) beat() { h.last.Store(int64(time.Since(heartbeatEpoch))) }

// errMainLoopStuck: the main loop has not beaten within the limit.
var errMainLoopStuck = errors.New("main loop not responding")

// check reports whether the loop beat within limit of now; limit 0
// (no watchdog) always passes.
func (h *heartbeat) check(now time.Time, limit time.Duration) error {
	if limit <= 0 {
		return nil
	}
	if now.Sub(heartbeatEpoch)-time.Duration(h.last.Load()) > limit {
		// The limit, not the age: a stable reason is logged once.
		return fmt.Errorf("%w within %v", errMainLoopStuck, limit)
	}
	return nil
}

// errSupervisionStuck: a lock the supervision loop needs stayed held
// across the whole probe.
var errSupervisionStuck = errors.New("supervision state locked")

// supervisionHealth describes the workers for STATUS= and reports an
// error when the supervision loop looks wedged: a supervisor's state or
// the log (which every supervisor writes) stayed locked for the whole
// probe. A worker that is restarting is healthy supervision: the master
// is doing its job.
func (m *master) supervisionHealth() (string, error) {
	if !tryLockWithin(m.log.mu.TryLock, 250*time.Millisecond) {
		return "", fmt.Errorf("log: %w", errSupervisionStuck)
	}
	m.log.mu.Unlock()
	parts := make([]string, 0, len(m.sups))
	for _, s := range m.sups {
		if !tryLockWithin(s.mu.TryLock, 250*time.Millisecond) {
			return "", fmt.Errorf("%s: %w", s.role, errSupervisionStuck)
		}
		state := "ready"
		if s.current == nil {
			state = "restarting"
		}
		restarts := s.restarts
		s.mu.Unlock()
		parts = append(parts, fmt.Sprintf("%s %s (restarts %d)", s.role, state, restarts))
	}
	if len(parts) == 0 {
		return "no workers", nil
	}
	return strings.Join(parts, ", "), nil
}

// tryLockWithin retries tryLock for up to limit; the locks probed are
// held only for moments in normal operation.
func tryLockWithin(tryLock func() bool, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		if tryLock() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
