package masterd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ipcpb "github.com/moatdns/moat/ipc/proto"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/testutil"
	"github.com/moatdns/moat/seccomp"
)

// sigsysHelper stands in for the dhcp-script helper: it dies at once on
// SIGSYS, as a helper killed by its seccomp filter does (no core file).
const sigsysHelper = "#!/bin/sh\nulimit -c 0\nkill -SYS $$\n"

// TestScriptHelperGivesUp: a helper that keeps dying is restarted with
// backoff only crashLimit times, each SIGSYS death gets the seccomp-kill
// report, and then the helper is given up with an audit record while
// the master is not told to exit: DNS and DHCP carry on. Lease changes
// are no longer queued after that.
func TestScriptHelperGivesUp(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "helper.sh")
	if err := os.WriteFile(exe, []byte(sigsysHelper), 0o755); err != nil {
		t.Fatal(err)
	}
	logBuf := &testutil.SyncBuffer{}
	cfg := config.Defaults()
	cfg.DHCP.Script = "/bin/true"
	m := &master{cfg: cfg, log: &logger{w: logBuf, pid: os.Getpid()}, fatal: make(chan error, 1), exe: exe}
	s := &scriptService{
		m:          m,
		opts:       seccomp.ScriptOptions{Script: cfg.DHCP.Script, Spec: seccomp.ScriptSpec{UID: os.Geteuid(), GID: os.Getegid()}},
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		crashLimit: 2,
	}
	s.enqueue([]*ipcpb.ScriptEvent{{Action: "old"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		defer close(s.done)
		s.run(ctx)
	}()
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		cancel()
		<-s.done
		t.Fatalf("helper still restarted after 60s; log:\n%s", logBuf.String())
	}
	select {
	case err := <-m.fatal:
		t.Errorf("a dying helper stopped the master: %v", err)
	default:
	}

	log := logBuf.String()
	if n := strings.Count(log, "event=worker-spawn role="+seccomp.ScriptRole+" "); n != 2 {
		t.Errorf("%d helper spawns logged, want 2:\n%s", n, log)
	}
	var kills, exits int
	var giveUp *auditRecord
	for _, line := range strings.Split(log, "\n") {
		r, err := parseAudit(line)
		if err != nil || r.role != seccomp.ScriptRole {
			continue
		}
		switch r.event {
		case auditSeccompKill:
			kills++
			if src := r.get("source"); src != "kmsg" && src != "none" {
				t.Errorf("seccomp-kill source %q", src)
			}
		case auditWorkerExit:
			exits++
			if !strings.Contains(r.get("status"), "SIGSYS") {
				t.Errorf("helper exit status %q, want the SIGSYS kill", r.get("status"))
			}
		case auditWorkerGiveUp:
			giveUp = &r
		}
	}
	if kills != 2 || exits != 2 {
		t.Errorf("%d seccomp-kill and %d worker-exit records for the helper, want 2 each:\n%s", kills, exits, log)
	}
	if giveUp == nil {
		t.Fatalf("no worker-give-up record for the helper:\n%s", log)
	}
	if giveUp.pid != 0 || giveUp.get("crashes") != "2" || giveUp.get("then") != "helper-stopped" {
		t.Errorf("give-up record %+v", *giveUp)
	}
	if !strings.Contains(log, "DNS and DHCP carry on") {
		t.Errorf("the give-up line does not say the service carries on:\n%s", log)
	}

	// Given up: nothing is queued any more.
	s.enqueue([]*ipcpb.ScriptEvent{{Action: "add"}})
	s.mu.Lock()
	queued, stopped := len(s.queue), s.stopped
	s.mu.Unlock()
	if !stopped || queued != 0 {
		t.Errorf("after giving up: stopped %v, %d events queued", stopped, queued)
	}
}
