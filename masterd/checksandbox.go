package masterd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/moatdns/moat/internal/config"
	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/seccomp"
)

// sandboxRoles are the worker roles --check-sandbox proves.
var sandboxRoles = []string{"dnsd", "dhcpd"}

// checkResult is one line of --check-sandbox output.
type checkResult struct {
	role, check string
	ok          bool
	detail      string
}

func (r checkResult) String() string {
	verdict := "ok"
	if !r.ok {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%-6s %-14s %-4s %s", r.role, r.check, verdict, r.detail)
}

// checkSandbox starts each role the way the master always does and proves
// from inside it that the sandbox holds: its /proc/self/status, and one
// fresh worker per forbidden action, each of which must fail (an error from
// the kernel, or death by seccomp).
func checkSandbox(cfg *config.Config) int {
	log, err := newLogger("-", true)
	if err != nil {
		fmt.Fprintf(os.Stderr, "moatd: %v\n", err)
		return 1
	}
	m := &master{cfg: cfg, log: log}
	if m.sandbox, err = planSandbox(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "moatd: %v\n", err)
		return 1
	}
	for _, n := range m.sandbox.hardening.Lines() {
		fmt.Printf("note: %s\n", n)
	}
	var results []checkResult
	for _, role := range sandboxRoles {
		results = append(results, m.statusChecks(role)...)
		for _, probe := range seccomp.Probes(role) {
			results = append(results, m.probeCheck(role, probe))
		}
	}
	failed := 0
	for _, r := range results {
		fmt.Println(r)
		if !r.ok {
			failed++
		}
	}
	if failed > 0 {
		fmt.Printf("check-sandbox: %d of %d checks FAILED\n", failed, len(results))
		return 1
	}
	fmt.Printf("check-sandbox: all %d checks passed\n", len(results))
	return 0
}

// probeSession starts a worker for one probe and returns its status report,
// the probe's result (nil when the worker died trying) and how it ended.
func (m *master) probeSession(role, probe string) (status *ipcpb.SandboxStatus, result *ipcpb.ProbeResult, exit string, err error) {
	w, err := m.spawn(role)
	if err != nil {
		return nil, nil, "", err
	}
	killer := time.AfterFunc(startTimeout, func() { _ = w.cmd.Process.Kill() })
	defer killer.Stop()
	defer func() {
		_ = w.conn.Close()
		done := make(chan error, 1)
		go func() { done <- w.cmd.Wait() }()
		select {
		case werr := <-done:
			exit = exitReason(werr)
		case <-time.After(stopTimeout):
			_ = w.cmd.Process.Kill()
			exit = exitReason(<-done)
		}
	}()
	if _, err := w.conn.Handshake(role); err != nil {
		return nil, nil, "", fmt.Errorf("handshake: %w", err)
	}
	if err := w.conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_ProbeRequest{ProbeRequest: &ipcpb.ProbeRequest{Probe: probe}}}); err != nil {
		return nil, nil, "", fmt.Errorf("send probe: %w", err)
	}
	env, fds, err := w.conn.Recv()
	closeFDs(fds)
	if err != nil {
		return nil, nil, "", fmt.Errorf("read sandbox status: %w", err)
	}
	if status = env.GetSandboxStatus(); status == nil {
		return nil, nil, "", fmt.Errorf("expected SandboxStatus, got %T", env.GetMsg())
	}
	if probe == "status" {
		// The worker is still alive until it reads EOF: check the kernel's
		// view of it too.
		if err := m.sandbox.forRole(role).verify(w.pid, status); err != nil {
			return status, nil, "", err
		}
		return status, nil, "", nil
	}
	env, fds, err = w.conn.Recv()
	closeFDs(fds)
	switch {
	case errors.Is(err, io.EOF):
		return status, nil, "", nil
	case err != nil:
		return status, nil, "", fmt.Errorf("read probe result: %w", err)
	}
	return status, env.GetProbeResult(), "", nil
}

// statusChecks reports the identity and confinement fields the worker read
// from its own /proc/self/status after installing its filter.
func (m *master) statusChecks(role string) []checkResult {
	s, _, _, err := m.probeSession(role, "status")
	if err != nil && s == nil {
		return []checkResult{{role, "start", false, err.Error()}}
	}
	uidOK := s.GetUid() != 0 && (!m.sandbox.root || int(s.GetUid()) == m.sandbox.forRole(role).uid)
	out := []checkResult{
		{role, "uid", uidOK, fmt.Sprintf("%d", s.GetUid())},
		{role, "gid", s.GetGid() != 0, fmt.Sprintf("%d", s.GetGid())},
		{role, "CapEff", s.GetCapEff() == 0, fmt.Sprintf("%016x", s.GetCapEff())},
		{role, "CapPrm", s.GetCapPrm() == 0, fmt.Sprintf("%016x", s.GetCapPrm())},
		{role, "CapBnd", s.GetCapBnd() == 0 || m.sandbox.keepBounding, boundingDetail(s, m.sandbox)},
		{role, "CapAmb", s.GetCapAmb() == 0, fmt.Sprintf("%016x", s.GetCapAmb())},
		{role, "NoNewPrivs", s.GetNoNewPrivs(), fmt.Sprintf("%v", s.GetNoNewPrivs())},
		{role, "Seccomp", s.GetSeccompMode() == 2, fmt.Sprintf("%d (%d syscalls allowed)", s.GetSeccompMode(), s.GetSyscallsAllowed())},
		{role, "chroot", s.GetChrooted() || m.sandbox.chroot == "", chrootDetail(s, m.sandbox)},
	}
	verified := "the kernel's /proc/<pid>/status agrees"
	if err != nil {
		verified = err.Error()
	}
	return append(out, checkResult{role, "proc-status", err == nil, verified})
}

// boundingDetail explains a bounding set that could not be emptied (an
// unprivileged master without user namespaces).
func boundingDetail(s *ipcpb.SandboxStatus, p sandboxPlan) string {
	if s.GetCapBnd() != 0 && p.keepBounding {
		return fmt.Sprintf("%016x kept: no user namespace to empty it in (no_new_privs and empty permitted/ambient sets leave nothing to gain from it)", s.GetCapBnd())
	}
	return fmt.Sprintf("%016x", s.GetCapBnd())
}

func chrootDetail(s *ipcpb.SandboxStatus, p sandboxPlan) string {
	if s.GetChrooted() {
		return "empty directory " + p.chroot
	}
	return "none: " + strings.Join(s.GetNotes(), "; ")
}

// probeCheck runs one forbidden action in a fresh worker: the check passes
// when the kernel refused it or seccomp killed the worker for trying.
func (m *master) probeCheck(role, probe string) checkResult {
	_, res, exit, err := m.probeSession(role, probe)
	switch {
	case err != nil:
		return checkResult{role, probe, false, err.Error()}
	case res == nil && strings.Contains(exit, "SIGSYS"):
		return checkResult{role, probe, true, "blocked: " + exit}
	case res == nil:
		return checkResult{role, probe, false, "worker ended without a result: " + exit}
	case res.GetBlocked():
		return checkResult{role, probe, true, "blocked: " + res.GetDetail()}
	}
	return checkResult{role, probe, false, "ALLOWED: " + res.GetDetail()}
}
