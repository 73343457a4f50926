package masterd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moatdns/moat/internal/config"
)

// logger is the master's single log destination (dnsmasq's log-facility):
// stderr, a file, or syslog. Workers write plain lines to their stderr, a
// pipe the master reads, and every line is written here with the role and
// pid of the process it came from.
type logger struct {
	mu   sync.Mutex
	w    io.Writer      // stderr or a file; nil with syslog
	file *os.File       // when logging to a file (reopened on SIGUSR2: reopen)
	path string         // the file's name, for reopen
	sys  *syslog.Writer // when logging to syslog
	pid  int
	// echo is stderr in no-daemon (-d) mode when the log goes to a file or
	// syslog: dnsmasq's -d echoes every line to stderr as well.
	echo io.Writer
}

// maxLogLine bounds one worker line; a longer one is cut, never buffered
// without limit.
const maxLogLine = 4096

var facilities = map[string]syslog.Priority{
	"kern": syslog.LOG_KERN, "user": syslog.LOG_USER, "mail": syslog.LOG_MAIL,
	"daemon": syslog.LOG_DAEMON, "auth": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG,
	"lpr": syslog.LOG_LPR, "news": syslog.LOG_NEWS, "uucp": syslog.LOG_UUCP,
	"cron": syslog.LOG_CRON, "authpriv": syslog.LOG_AUTHPRIV, "ftp": syslog.LOG_FTP,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
	"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
	"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// newLogger opens the destination as dnsmasq chooses it: log-facility when
// given ("-" is stderr, a name with a '/' is a file, else a syslog
// facility); otherwise stderr in the foreground debug mode (no-daemon) and
// syslog's daemon facility when running as a daemon. When syslog cannot be
// reached the log falls back to stderr and says so.
func newLogger(facility string, noDaemon bool) (*logger, error) {
	l := &logger{pid: os.Getpid()}
	switch {
	case facility == "-" || (facility == "" && noDaemon):
		l.w = os.Stderr
	case strings.Contains(facility, "/"):
		f, err := os.OpenFile(facility, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, fmt.Errorf("log-facility: open %s: %w", facility, err)
		}
		l.w, l.file, l.path = f, f, facility
	default:
		name := facility
		if name == "" {
			name = "daemon"
		}
		prio, ok := facilities[name]
		if !ok {
			return nil, fmt.Errorf("log-facility: unknown syslog facility %q", name)
		}
		sys, err := syslog.New(prio|syslog.LOG_INFO, "moatd")
		if err != nil {
			l.w = os.Stderr
			l.printf("master", "syslog unavailable (%v): logging to stderr", err)
			return l, nil
		}
		l.sys = sys
	}
	if noDaemon && l.w != os.Stderr {
		l.echo = os.Stderr
	}
	return l, nil
}

// printf writes one line attributed to role in the master's process.
func (l *logger) printf(role, format string, args ...any) {
	l.line(role, l.pid, fmt.Sprintf(format, args...))
}

func (l *logger) line(role string, pid int, msg string) {
	msg = strings.TrimRight(msg, "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.echo != nil {
		fmt.Fprintf(l.echo, "moatd: %s[%d]: %s\n", role, pid, msg)
	}
	switch {
	case l.sys != nil:
		_ = l.sys.Info(fmt.Sprintf("%s[%d]: %s", role, pid, msg))
	case l.file != nil:
		fmt.Fprintf(l.w, "%s moatd[%d]: %s[%d]: %s\n", time.Now().Format(time.Stamp), l.pid, role, pid, msg)
	default:
		fmt.Fprintf(l.w, "moatd: %s[%d]: %s\n", role, pid, msg)
	}
}

// workerLog is the pipe a worker's stderr goes into.
type workerLog struct {
	l    *logger
	role string
	r, w *os.File
}

// workerPipe returns a pipe whose lines will be logged for role once
// follow is called with the worker's pid.
func (l *logger) workerPipe(role string) (*workerLog, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("log pipe for %s: %w", role, err)
	}
	return &workerLog{l: l, role: role, r: r, w: w}, nil
}

// follow closes the master's copy of the write end and logs every line the
// worker writes until it exits. Over-long lines are cut, never buffered
// without bound.
func (wl *workerLog) follow(pid int) {
	_ = wl.w.Close()
	go func() {
		defer wl.r.Close()
		br := bufio.NewReaderSize(wl.r, maxLogLine)
		for {
			line, err := br.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				wl.l.line(wl.role, pid, string(line)+" [line cut]")
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = br.ReadSlice('\n')
				}
				continue
			}
			if len(line) > 0 {
				wl.l.line(wl.role, pid, string(line))
			}
			if err != nil {
				return
			}
		}
	}()
}

// abandon closes both ends when the worker never started.
func (wl *workerLog) abandon() {
	_ = wl.r.Close()
	_ = wl.w.Close()
}

// reopen is SIGUSR2, as in dnsmasq: close and reopen the log file, so
// that logrotate can move it away and the next line starts a new file.
// With stderr or syslog there is nothing to reopen. On failure the old
// file stays in use and the error is returned.
func (l *logger) reopen() error {
	if l.path == "" {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("reopen log file: %w", err)
	}
	l.mu.Lock()
	old := l.file
	l.w, l.file = f, f
	l.mu.Unlock()
	return old.Close()
}

// reopenOnSignal is the master's SIGUSR2 handler: reopen and log how it
// went (in the new file).
func (l *logger) reopenOnSignal() {
	if err := l.reopen(); err != nil {
		l.printf("master", "SIGUSR2: %v (still writing to the old file)", err)
		return
	}
	if l.path != "" {
		l.printf("master", "SIGUSR2: reopened the log file %s", l.path)
	}
}

// logConfigWarnings logs, once at start, each thing the configuration
// asks for that moat accepts but does not do (enable-dbus, dnssec,
// ipset...), as moatd --test prints them.
func logConfigWarnings(cfg *config.Config, l *logger) {
	for _, w := range cfg.Warnings() {
		l.printf("master", "warning: %s", w)
	}
}

func (l *logger) close() {
	if l.file != nil {
		_ = l.file.Close()
	}
	if l.sys != nil {
		_ = l.sys.Close()
	}
}
