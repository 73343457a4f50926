package masterd

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/testutil"
)

// TestSupervisorGivesUp: a worker that dies at once, again and again, is
// restarted with backoff only crashLimit times; then the supervisor stops
// by itself, logs why, and asks the master to exit with an error.
func TestSupervisorGivesUp(t *testing.T) {
	testutil.RequireRoot(t, "workers start in new namespaces")
	logBuf := &testutil.SyncBuffer{}
	m := &master{cfg: &config.Config{RunDir: t.TempDir()}, log: &logger{w: logBuf, pid: os.Getpid()}, fatal: make(chan error, 1)}
	var err error
	if m.sandbox, err = planSandbox(m.cfg); err != nil {
		t.Fatal(err)
	}
	m.exe = "/bin/false" // exits 1 before the handshake
	s := newSupervisor(m, "dnsd", nil, nil)
	s.crashLimit = 3
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		s.run(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("supervisor still restarting after 30s; log:\n%s", logBuf.String())
	}
	select {
	case err := <-m.fatal:
		if !strings.Contains(err.Error(), "dnsd died 3 times in a row") {
			t.Errorf("fatal error %q", err)
		}
	default:
		t.Error("the master was not told to exit")
	}
	log := logBuf.String()
	if n := strings.Count(log, "event=worker-spawn role=dnsd"); n != 3 {
		t.Errorf("%d spawns logged, want 3:\n%s", n, log)
	}
	if !strings.Contains(log, "event=worker-give-up role=dnsd pid=0 crashes=3") {
		t.Errorf("give-up not in the audit log:\n%s", log)
	}
	if s.restarts != 2 {
		t.Errorf("restarts = %d, want 2", s.restarts)
	}
}

// TestSupervisorReportsSeccompKill: a confined worker that makes a call
// outside its allow-list is killed by the kernel; the master logs the
// seccomp kill with the call's name (from the kernel's audit record in
// /dev/kmsg) and restarts it.
func TestSupervisorReportsSeccompKill(t *testing.T) {
	testutil.RequireRoot(t, "workers confine themselves: chroot, uid switch")
	_, logBuf := superviseFakeDnsdUntilRestart(t, fakeWorkerSyscall, 20*time.Second)
	var kill *auditRecord
	for _, line := range strings.Split(logBuf.String(), "\n") {
		if r, err := parseAudit(line); err == nil && r.event == auditSeccompKill {
			kill = &r
			break
		}
	}
	if kill == nil {
		t.Fatalf("no seccomp-kill record:\n%s", logBuf.String())
	}
	if n := strings.Count(logBuf.String(), "audit: event=seccomp-kill "); n != 1 {
		t.Errorf("%d seccomp-kill records, want 1 (one worker was killed):\n%s", n, logBuf.String())
	}
	if kill.role != "dnsd" || kill.pid <= 0 {
		t.Errorf("record %+v", *kill)
	}
	exit := "event=worker-exit role=dnsd pid=" + strconv.Itoa(kill.pid) + " "
	if !strings.Contains(logBuf.String(), exit) || !strings.Contains(logBuf.String(), "SIGSYS") {
		t.Errorf("no worker-exit naming SIGSYS for pid %d:\n%s", kill.pid, logBuf.String())
	}
	switch kill.get("source") {
	case "kmsg":
		if kill.get("syscall") != "syncfs" {
			t.Errorf("syscall %q, want syncfs: %+v", kill.get("syscall"), *kill)
		}
	case "none":
		// The kernel log can lose the record (auditd holds it, or
		// printk's rate limit under a parallel test run); the report
		// must then say so.
		t.Logf("no kernel audit record: %s", kill.get("why"))
		if kill.get("why") == "" {
			t.Errorf("unknown syscall without a reason: %+v", *kill)
		}
	default:
		t.Errorf("source %q", kill.get("source"))
	}
}
