package masterd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// systemd's notify protocol (sd_notify(3)), spoken without libsystemd:
// newline-separated KEY=VALUE assignments in one datagram to the
// AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract name
// written with a leading '@'). moatd sends
//
//	READY=1 + STATUS=...  once every worker has been Ready once
//	WATCHDOG=1            every half WATCHDOG_USEC, only while supervision is healthy
//	STATUS=...            when the workers' state changes or the watchdog is withheld
//	RELOADING=1 + MONOTONIC_USEC=..., then READY=1   on SIGHUP
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
// (watchdog, reloads, status, stopping). Without $NOTIFY_SOCKET it does
// nothing.
func (m *master) notifySystemd(ctx context.Context) {
	n, err := sdNotifierFromEnv()
	if err != nil {
		m.log.printf("master", "systemd: %v", err)
		return
	}
	if n == nil {
		return
	}
	// Subscribed before READY=1, so that no reload after it goes unseen.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	status, _ := m.supervisionHealth()
	if err := n.send("READY=1", "STATUS="+status); err != nil {
		m.log.printf("master", "systemd: %v", err)
	}
	if n.watchdogEvery > 0 {
		m.log.printf("master", "systemd: watchdog ping every %v while supervision is healthy", n.watchdogEvery)
	}
	go func() {
		defer signal.Stop(hup)
		var tick <-chan time.Time
		if n.watchdogEvery > 0 {
			ticker := time.NewTicker(n.watchdogEvery)
			defer ticker.Stop()
			tick = ticker.C
		}
		n.serve(ctx, m.supervisionHealth, tick, hup, status, func(err error) { m.log.printf("master", "systemd: %v", err) })
	}()
}

// serve answers watchdog ticks and reloads until ctx ends, then sends
// STOPPING=1. health reports the workers' state and whether supervision
// is working; lastStatus is the STATUS= already sent.
func (n *sdNotifier) serve(ctx context.Context, health func() (string, error), tick <-chan time.Time, hup <-chan os.Signal, lastStatus string, logf func(error)) {
	lastErr := ""
	report := func(err error) { // a vanished socket is logged once, not every ping
		switch {
		case err == nil:
			lastErr = ""
		case err.Error() != lastErr:
			lastErr = err.Error()
			logf(err)
		}
	}
	withheld := ""
	for {
		select {
		case <-ctx.Done():
			report(n.send("STOPPING=1", "STATUS=stopping"))
			return
		case <-tick:
			status, err := health()
			if err != nil {
				// No ping: if supervision stays stuck, systemd's
				// WatchdogSec kills and restarts the whole service.
				if why := err.Error(); why != withheld {
					withheld = why
					report(n.send("STATUS=watchdog withheld: " + why))
					logf(fmt.Errorf("watchdog ping withheld: %s", why)) // may block if the log is what is stuck
				}
				continue
			}
			withheld = ""
			msg := []string{"WATCHDOG=1"}
			if status != lastStatus {
				msg, lastStatus = append(msg, "STATUS="+status), status
			}
			report(n.send(msg...))
		case <-hup:
			// The main loop performs the reload on the same SIGHUP;
			// READY=1 follows once supervision answers again, so that
			// `systemctl reload` does not wait on a wedged master.
			report(n.send("RELOADING=1", "MONOTONIC_USEC="+monotonicUsec(), "STATUS=reloading"))
			status, err := health()
			if err != nil {
				status = "reload: " + err.Error()
			}
			lastStatus = status
			report(n.send("READY=1", "STATUS="+status))
		}
	}
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
