package masterd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// notifyListener is a real unixgram socket standing in for systemd's
// notify socket.
type notifyListener struct {
	conn *net.UnixConn
	addr string // as NOTIFY_SOCKET spells it
}

func listenNotify(t *testing.T, abstract bool) *notifyListener {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify")
	if abstract {
		name = fmt.Sprintf("@moat-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &notifyListener{conn: conn, addr: name}
}

// next returns the next datagram, failing the test after a generous wait.
func (l *notifyListener) next(t *testing.T) string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = l.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := l.conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

func TestSDNotifierSendsToPathAndAbstractSockets(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			l := listenNotify(t, abstract)
			n := &sdNotifier{addr: l.addr}
			if err := n.send("READY=1", "STATUS=dnsd ready (restarts 0)"); err != nil {
				t.Fatal(err)
			}
			if got, want := l.next(t), "READY=1\nSTATUS=dnsd ready (restarts 0)\n"; got != want {
				t.Errorf("datagram %q, want %q", got, want)
			}
		})
	}
}

func TestSDNotifierSendFailsWithoutListener(t *testing.T) {
	n := &sdNotifier{addr: filepath.Join(t.TempDir(), "nobody-listens")}
	if err := n.send("READY=1"); err == nil {
		t.Error("send to a missing socket succeeded")
	}
}

func TestSDNotifierFromEnv(t *testing.T) {
	pid := fmt.Sprint(os.Getpid())
	tests := []struct {
		name, socket, usec, wdPid string
		wantNil                   bool
		wantEvery                 time.Duration
		wantErr                   bool
	}{
		{name: "not under systemd", wantNil: true},
		{name: "path, no watchdog", socket: "/run/systemd/notify"},
		{name: "abstract", socket: "@/org/freedesktop/systemd1/notify"},
		{name: "relative path", socket: "run/notify", wantErr: true},
		{name: "too long", socket: "/" + strings.Repeat("x", 200), wantErr: true},
		{name: "watchdog", socket: "/run/n", usec: "30000000", wantEvery: 15 * time.Second},
		{name: "watchdog for us", socket: "/run/n", usec: "2000000", wdPid: pid, wantEvery: time.Second},
		{name: "watchdog for another process", socket: "/run/n", usec: "2000000", wdPid: "1"},
		{name: "watchdog garbage", socket: "/run/n", usec: "soon", wantErr: true},
		{name: "watchdog zero", socket: "/run/n", usec: "0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", tt.socket)
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.wdPid)
			n, err := sdNotifierFromEnv()
			switch {
			case tt.wantErr:
				if err == nil {
					t.Fatalf("no error for %+v", tt)
				}
				return
			case err != nil:
				t.Fatal(err)
			case tt.wantNil:
				if n != nil {
					t.Fatalf("notifier %+v outside systemd", n)
				}
				return
			case n == nil:
				t.Fatal("no notifier")
			}
			if n.addr != tt.socket || n.watchdogEvery != tt.wantEvery {
				t.Errorf("got addr %q every %v, want %q %v", n.addr, n.watchdogEvery, tt.socket, tt.wantEvery)
			}
		})
	}
}

// probeAnswer is one health probe's answer, given by the test.
type probeAnswer struct {
	status string
	err    error
}

// startSession runs an sdSession's watchdog loop against a real socket;
// each health probe takes its answer from the returned channel.
func startSession(t *testing.T) (*sdSession, *notifyListener, chan<- time.Time, chan<- probeAnswer, *testutil.SyncBuffer, context.CancelFunc) {
	t.Helper()
	l := listenNotify(t, false)
	// An hour between pings: the heartbeat is fresh unless a tick says
	// otherwise with its time.
	n := &sdNotifier{addr: l.addr, watchdogEvery: time.Hour}
	tick := make(chan time.Time)
	answers := make(chan probeAnswer, 1)
	health := func() (string, error) {
		select {
		case a := <-answers:
			return a.status, a.err
		case <-time.After(10 * time.Second):
			return "", errors.New("test gave no answer")
		}
	}
	var logged testutil.SyncBuffer
	s := newSDSession(n, health, func(err error) { fmt.Fprintln(&logged, err) })
	s.ready("dnsd ready (restarts 0)")
	if got := l.next(t); got != "READY=1\nSTATUS=dnsd ready (restarts 0)\n" {
		t.Fatalf("ready: %q", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.serve(ctx, tick)
		close(done)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return s, l, tick, answers, &logged, stop
}

// TestSDNotifyServe drives the watchdog loop tick by tick: pings only
// while healthy, a withheld ping says why in STATUS= (once per reason),
// and the end says STOPPING=1.
func TestSDNotifyServe(t *testing.T) {
	_, l, tick, answers, logged, stop := startSession(t)
	ready, restarting := "dnsd ready (restarts 0)", "dnsd restarting (restarts 1)"
	steps := []struct {
		name  string
		probe probeAnswer
		want  string
	}{
		{"healthy tick", probeAnswer{ready, nil}, "WATCHDOG=1\n"},
		{"stuck tick", probeAnswer{"", errSupervisionStuck}, "STATUS=watchdog withheld: supervision state locked\n"},
		{"healthy again", probeAnswer{ready, nil}, "WATCHDOG=1\n"},
		{"status change", probeAnswer{restarting, nil}, "WATCHDOG=1\nSTATUS=dnsd restarting (restarts 1)\n"},
	}
	for _, st := range steps {
		answers <- st.probe
		tick <- time.Now()
		if got := l.next(t); got != st.want {
			t.Fatalf("%s: got %q, want %q", st.name, got, st.want)
		}
	}

	// A second stuck tick with the same reason sends nothing; the healthy
	// tick after it proves nothing was queued in between.
	answers <- probeAnswer{"", errSupervisionStuck}
	tick <- time.Now()
	if got := l.next(t); !strings.HasPrefix(got, "STATUS=watchdog withheld") {
		t.Fatalf("got %q", got)
	}
	answers <- probeAnswer{"", errSupervisionStuck}
	tick <- time.Now()
	answers <- probeAnswer{restarting, nil}
	tick <- time.Now()
	if got := l.next(t); got != "WATCHDOG=1\n" {
		t.Fatalf("repeated withheld reason re-sent or ping lost: %q", got)
	}

	stop()
	if got := l.next(t); got != "STOPPING=1\nSTATUS=stopping\n" {
		t.Fatalf("stop: %q", got)
	}
	if !strings.Contains(logged.String(), "watchdog ping withheld") {
		t.Errorf("withheld ping not logged: %q", logged.String())
	}
}

// TestSDNotifyWatchdogChecksMainLoop: a main loop that has not beaten
// within the ping interval withholds the ping even though supervision is
// healthy (the probe is not even asked); a beat brings the ping back.
func TestSDNotifyWatchdogChecksMainLoop(t *testing.T) {
	s, l, tick, answers, logged, _ := startSession(t)
	// Two hours from now the last beat is older than the hour between
	// pings: the loop looks wedged.
	tick <- time.Now().Add(2 * time.Hour)
	got := l.next(t)
	if got != "STATUS=watchdog withheld: main loop not responding within 1h0m0s\n" {
		t.Fatalf("stale heartbeat: got %q", got)
	}
	// Had the probe been asked, it would have found no answer and the
	// reason would be "test gave no answer".
	answers <- probeAnswer{"dnsd ready (restarts 0)", nil}
	s.beat()
	tick <- time.Now()
	if got := l.next(t); got != "WATCHDOG=1\n" {
		t.Fatalf("after a beat: %q", got)
	}
	if !strings.Contains(logged.String(), "main loop not responding") {
		t.Errorf("withheld ping not logged: %q", logged.String())
	}
}

// TestSDNotifyReload: RELOADING=1 when the main loop starts a reload,
// READY=1 only when it says the reload finished, even if the watchdog
// pings in between.
func TestSDNotifyReload(t *testing.T) {
	s, l, tick, answers, _, _ := startSession(t)
	s.reloading()
	if got := l.next(t); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") || !strings.HasSuffix(got, "\nSTATUS=reloading\n") {
		t.Fatalf("reload starts with %q", got)
	}
	// Supervision answers during the reload: that is a ping, not READY=1.
	answers <- probeAnswer{"dnsd ready (restarts 0)", nil}
	tick <- time.Now()
	if got := l.next(t); got != "WATCHDOG=1\nSTATUS=dnsd ready (restarts 0)\n" {
		t.Fatalf("ping during the reload: %q", got)
	}
	answers <- probeAnswer{"dnsd ready (restarts 0)", nil}
	s.reloaded()
	if got := l.next(t); got != "READY=1\nSTATUS=dnsd ready (restarts 0)\n" {
		t.Fatalf("reload ends with %q", got)
	}
	// A reload while supervision is stuck still ends: READY=1 says why.
	s.reloading()
	l.next(t)
	answers <- probeAnswer{"", errSupervisionStuck}
	s.reloaded()
	if got := l.next(t); got != "READY=1\nSTATUS=reload: supervision state locked\n" {
		t.Fatalf("reload with stuck supervision ends with %q", got)
	}
}

// TestSDSessionNil: outside systemd the master's session is nil and the
// main loop's calls do nothing.
func TestSDSessionNil(t *testing.T) {
	var s *sdSession
	s.reloading()
	s.reloaded()
	s.beat()
	if s.heartbeatTicks(context.Background()) != nil {
		t.Error("heartbeat ticks without systemd")
	}
	noWatchdog := newSDSession(&sdNotifier{addr: "/nonexistent"}, nil, func(error) {})
	if noWatchdog.heartbeatTicks(context.Background()) != nil {
		t.Error("heartbeat ticks without a watchdog")
	}
}

func TestHeartbeat(t *testing.T) {
	var h heartbeat
	h.beat()
	now := time.Now()
	tests := []struct {
		name  string
		at    time.Time
		limit time.Duration
		stuck bool
	}{
		{"fresh", now, time.Minute, false},
		{"just within", now.Add(59 * time.Second), time.Minute, false},
		{"stale", now.Add(2 * time.Minute), time.Minute, true},
		{"no watchdog", now.Add(time.Hour), 0, false},
	}
	for _, tc := range tests {
		err := h.check(tc.at, tc.limit)
		if (err != nil) != tc.stuck || err != nil && !errors.Is(err, errMainLoopStuck) {
			t.Errorf("%s: check = %v, want stuck %v", tc.name, err, tc.stuck)
		}
	}
	for _, tc := range []struct{ every, want time.Duration }{
		{15 * time.Second, time.Second},
		{2 * time.Second, 500 * time.Millisecond},
		{time.Nanosecond, time.Millisecond},
	} {
		if got := heartbeatEvery(tc.every); got != tc.want {
			t.Errorf("heartbeatEvery(%v) = %v, want %v", tc.every, got, tc.want)
		}
	}
}

// TestSupervisionHealth: the state comes from the supervisors, and a lock
// held across the probe makes it unhealthy.
func TestSupervisionHealth(t *testing.T) {
	m := &master{log: &logger{w: &testutil.SyncBuffer{}, pid: os.Getpid()}}
	m.sups = []*supervisor{newSupervisor(m, "dnsd", nil, nil), newSupervisor(m, "dhcpd", nil, nil)}
	m.sups[0].current = &worker{role: "dnsd"}
	m.sups[1].restarts = 3
	status, err := m.supervisionHealth()
	if err != nil || status != "dnsd ready (restarts 0), dhcpd restarting (restarts 3)" {
		t.Fatalf("health = %q, %v", status, err)
	}

	m.sups[1].mu.Lock()
	_, err = m.supervisionHealth()
	m.sups[1].mu.Unlock()
	if !errors.Is(err, errSupervisionStuck) || !strings.Contains(err.Error(), "dhcpd") {
		t.Errorf("held dhcpd lock: err = %v", err)
	}

	m.log.mu.Lock()
	_, err = m.supervisionHealth()
	m.log.mu.Unlock()
	if !errors.Is(err, errSupervisionStuck) {
		t.Errorf("held log lock: err = %v", err)
	}

	if status, err := (&master{log: m.log}).supervisionHealth(); err != nil || status != "no workers" {
		t.Errorf("no supervisors: %q, %v", status, err)
	}
}

// TestNotifySystemdSendsReadyAndStopping: the call the master makes once
// every worker is ready sends READY=1 with the workers' state, and STOPPING=1
// when the master's context ends.
func TestNotifySystemdSendsReadyAndStopping(t *testing.T) {
	l := listenNotify(t, true)
	t.Setenv("NOTIFY_SOCKET", l.addr)
	t.Setenv("WATCHDOG_USEC", "")
	m := &master{log: &logger{w: &testutil.SyncBuffer{}, pid: os.Getpid()}}
	m.sups = []*supervisor{newSupervisor(m, "dnsd", nil, nil)}
	m.sups[0].current = &worker{role: "dnsd"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	m.notifySystemd(ctx, &wg)
	if got := l.next(t); got != "READY=1\nSTATUS=dnsd ready (restarts 0)\n" {
		t.Fatalf("ready: %q", got)
	}
	cancel()
	// The goroutine the master waits for at exit has sent STOPPING=1 and
	// returned.
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("notifySystemd's goroutine did not end with its context")
	}
	if got := l.next(t); got != "STOPPING=1\nSTATUS=stopping\n" {
		t.Fatalf("stop: %q", got)
	}
}
