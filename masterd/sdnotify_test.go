package masterd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// TestSDNotifyServe drives the notification loop tick by tick: pings only
// while healthy, a withheld ping says why in STATUS=, SIGHUP brackets the
// reload with RELOADING=1 and READY=1, and the end says STOPPING=1.
func TestSDNotifyServe(t *testing.T) {
	l := listenNotify(t, false)
	n := &sdNotifier{addr: l.addr}
	tick := make(chan time.Time)
	hup := make(chan os.Signal)
	// Each probe takes its answer from the test: the state, or why
	// supervision is stuck.
	type probe struct {
		status string
		err    error
	}
	healthy := make(chan probe, 1)
	ready, restarting := "dnsd ready (restarts 0)", "dnsd restarting (restarts 1)"
	health := func() (string, error) {
		p := <-healthy
		return p.status, p.err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var logged testutil.SyncBuffer
	go func() {
		n.serve(ctx, health, tick, hup, ready, func(err error) { fmt.Fprintln(&logged, err) })
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()

	steps := []struct {
		name  string
		probe probe
		want  string
	}{
		{"healthy tick", probe{ready, nil}, "WATCHDOG=1\n"},
		{"stuck tick", probe{"", errSupervisionStuck}, "STATUS=watchdog withheld: supervision state locked\n"},
		{"healthy again", probe{ready, nil}, "WATCHDOG=1\n"},
		{"status change", probe{restarting, nil}, "WATCHDOG=1\nSTATUS=dnsd restarting (restarts 1)\n"},
	}
	for _, st := range steps {
		healthy <- st.probe
		tick <- time.Now()
		if got := l.next(t); got != st.want {
			t.Fatalf("%s: got %q, want %q", st.name, got, st.want)
		}
	}

	// A second stuck tick with the same reason sends nothing; the healthy
	// tick after it proves nothing was queued in between.
	healthy <- probe{"", errSupervisionStuck}
	tick <- time.Now()
	if got := l.next(t); !strings.HasPrefix(got, "STATUS=watchdog withheld") {
		t.Fatalf("got %q", got)
	}
	healthy <- probe{"", errSupervisionStuck}
	tick <- time.Now()
	healthy <- probe{restarting, nil}
	tick <- time.Now()
	if got := l.next(t); got != "WATCHDOG=1\n" {
		t.Fatalf("repeated withheld reason re-sent or ping lost: %q", got)
	}

	healthy <- probe{restarting, nil}
	hup <- syscall.SIGHUP
	if got := l.next(t); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("reload starts with %q", got)
	}
	if got := l.next(t); got != "READY=1\nSTATUS=dnsd restarting (restarts 1)\n" {
		t.Fatalf("reload ends with %q", got)
	}

	cancel()
	if got := l.next(t); got != "STOPPING=1\nSTATUS=stopping\n" {
		t.Fatalf("stop: %q", got)
	}
	if !strings.Contains(logged.String(), "watchdog ping withheld") {
		t.Errorf("withheld ping not logged: %q", logged.String())
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
	m.notifySystemd(ctx)
	if got := l.next(t); got != "READY=1\nSTATUS=dnsd ready (restarts 0)\n" {
		t.Fatalf("ready: %q", got)
	}
	cancel()
	if got := l.next(t); got != "STOPPING=1\nSTATUS=stopping\n" {
		t.Fatalf("stop: %q", got)
	}
}
