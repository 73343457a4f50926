package masterd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/seccomp"
)

// maxScriptQueue bounds the lease changes waiting for the script. The
// commit path never waits for the script: when a slow script lets this
// many pile up, further changes are dropped, counted and logged.
const maxScriptQueue = 4096

// scriptService feeds the dhcp-script helper (package scriptd): lease
// changes become ScriptEvents in a bounded queue, and one goroutine sends
// them to the helper one at a time, each after the previous one's
// ScriptDone, restarting the helper when it dies.
type scriptService struct {
	m    *master
	opts seccomp.ScriptOptions
	// domains answers DNSMASQ_DOMAIN; rebuilt on SIGHUP.
	domainsMu sync.Mutex
	domains   *domainResolver

	mu      sync.Mutex
	queue   []*ipcpb.ScriptEvent
	seq     uint64
	dropped uint64 // changes lost to a full queue, not yet logged
	wake    chan struct{}

	// ifaces is the DHCP interfaces' subnets for DNSMASQ_INTERFACE,
	// refreshed by the sending goroutine (never on the commit path).
	ifaces atomic.Pointer[[]ifaceNet]

	// inflight was sent to a helper that died before answering: the next
	// helper gets it once more, then it is given up.
	inflight *ipcpb.ScriptEvent
	resent   bool

	// stopped: the helper kept dying and is not restarted; lease changes
	// are no longer queued (giveUp).
	stopped bool
	// crashLimit overrides maxCrashes (tests); 0 means maxCrashes.
	crashLimit int

	stop context.CancelFunc
	done chan struct{}
}

// startScript starts the dhcp-script helper when dhcp-script is set:
// it decides the script's user, queues the start-up calls ("init" with
// leasefile-ro, "old" for every live lease) and registers for lease
// changes. It must run after the lease store is open and before dhcpd
// can commit. stop ends the helper.
func (m *master) startScript() (stop func(), err error) {
	cfg := m.cfg
	if cfg.DHCP.Script == "" || m.leases == nil {
		return func() {}, nil
	}
	spec, who, err := m.scriptIdentity(cfg.DHCP.ScriptUser)
	if err != nil {
		return nil, err
	}
	s := &scriptService{
		m:       m,
		opts:    seccomp.ScriptOptions{Script: cfg.DHCP.Script, LogDHCP: cfg.DHCP.Log, Spec: spec},
		domains: newDomainResolver(cfg, m.log),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	s.refreshInterfaces()
	m.log.printf("master", "dhcp-script %s runs as %s", cfg.DHCP.Script, who)
	// Register first, then queue the start-up calls in front of anything
	// the observer may already have queued.
	m.leases.events.observe(s.observe)
	start := startupScriptEvents(m.leases.store.Leases(), time.Now(), cfg.DHCP.LeaseFileRO, s.domainFor)
	s.setInterfaces(start) // dnsmasq 2.90 names it at start too, whatever its manual says
	s.mu.Lock()
	s.queue = append(start, s.queue...)
	s.mu.Unlock()
	s.signal()

	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() {
		defer close(s.done)
		s.run(ctx)
	}()
	m.script = s
	return func() { cancel(); <-s.done }, nil
}

// scriptIdentity decides who runs the script. dnsmasq runs it as root
// unless dhcp-scriptuser says otherwise; moat runs it as root only when
// dhcp-scriptuser names root, and otherwise, by default, as the
// unprivileged user the workers run as (user=, default nobody). A master
// that is not root cannot switch users: the script runs as the master's
// user, and a dhcp-scriptuser naming anyone else is an error.
func (m *master) scriptIdentity(name string) (seccomp.ScriptSpec, string, error) {
	if !m.sandbox.root {
		if name != "" {
			u, err := user.Lookup(name)
			if err != nil {
				return seccomp.ScriptSpec{}, "", fmt.Errorf("dhcp-scriptuser %s: %w", name, err)
			}
			if u.Uid != strconv.Itoa(os.Geteuid()) {
				return seccomp.ScriptSpec{}, "", fmt.Errorf("dhcp-scriptuser %s: moatd is not root and cannot run the script as another user", name)
			}
		}
		return seccomp.ScriptSpec{UID: os.Geteuid(), GID: os.Getegid()}, "uid " + strconv.Itoa(os.Geteuid()) + " (moatd's own user)", nil
	}
	if name == "" {
		spec := seccomp.ScriptSpec{SwitchUser: true, UID: m.sandbox.uid, GID: m.sandbox.gid}
		return spec, fmt.Sprintf("uid %d gid %d (the worker user; dhcp-scriptuser not set)", spec.UID, spec.GID), nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return seccomp.ScriptSpec{}, "", fmt.Errorf("dhcp-scriptuser %s: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return seccomp.ScriptSpec{}, "", fmt.Errorf("dhcp-scriptuser %s: %w", name, err)
	}
	if uid == 0 {
		return seccomp.ScriptSpec{KeepRoot: true}, name + " (root, with root's capabilities, as configured)", nil
	}
	if gid == 0 {
		return seccomp.ScriptSpec{}, "", fmt.Errorf("dhcp-scriptuser %s: primary group is root's; choose a user with its own group", name)
	}
	return seccomp.ScriptSpec{SwitchUser: true, UID: uid, GID: gid}, fmt.Sprintf("%s (uid %d gid %d)", name, uid, gid), nil
}

func (s *scriptService) domainFor(a netip.Addr) string {
	s.domainsMu.Lock()
	defer s.domainsMu.Unlock()
	return s.domains.domainFor(a)
}

// observe runs on the committing goroutine: it only converts and queues.
func (s *scriptService) observe(evs []leaseEvent) {
	now := time.Now()
	var out []*ipcpb.ScriptEvent
	for _, ev := range evs {
		out = append(out, scriptEventsFor(ev, now, s.m.cfg.DHCP.LeaseFileRO, s.domainFor)...)
	}
	s.setInterfaces(out)
	s.enqueue(out)
}

// setInterfaces fills DNSMASQ_INTERFACE from the cached subnets.
func (s *scriptService) setInterfaces(evs []*ipcpb.ScriptEvent) {
	nets := s.ifaces.Load()
	if nets == nil {
		return
	}
	for _, ev := range evs {
		if ev.GetTxn() != nil && ev.GetInterface() != "" {
			continue // where the request arrived (withTxn)
		}
		if a, ok := netip.AddrFromSlice(ev.GetAddr()); ok && ev.GetAction() != "init" {
			ev.Interface = interfaceFor(*nets, a)
		}
	}
}

// refreshInterfaces reads the DHCP interfaces' IPv4 subnets.
func (s *scriptService) refreshInterfaces() {
	ifs, err := dhcpInterfaces(s.m.cfg)
	if err != nil {
		return // keep the previous table
	}
	var nets []ifaceNet
	for _, ifc := range ifs {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if p, ok := prefixOf(a); ok && p.Addr().Is4() {
				nets = append(nets, ifaceNet{name: ifc.Name, prefix: p.Masked()})
			}
		}
	}
	s.ifaces.Store(&nets)
}

func (s *scriptService) enqueue(evs []*ipcpb.ScriptEvent) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	if s.stopped { // the helper was given up: logged once, nothing to queue for
		s.mu.Unlock()
		return
	}
	for _, ev := range evs {
		if len(s.queue) >= maxScriptQueue {
			s.dropped++
			continue
		}
		s.queue = append(s.queue, ev)
	}
	s.mu.Unlock()
	s.signal()
}

func (s *scriptService) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// rerun is SIGHUP: dnsmasq calls the script with "old" for every lease.
func (s *scriptService) rerun() {
	if s == nil {
		return
	}
	d := newDomainResolver(s.m.cfg, s.m.log)
	s.domainsMu.Lock()
	s.domains = d
	s.domainsMu.Unlock()
	evs := rerunScriptEvents(s.m.leases.store.Leases(), time.Now(), s.domainFor)
	s.setInterfaces(evs) // dnsmasq knows each lease's interface by now
	s.enqueue(evs)
}

// next waits for the next event: the one a dead helper left unanswered,
// else the head of the queue. It logs drops when it sees them. It returns
// nil and why when ctx ends or the helper goes away (gone) first.
func (s *scriptService) next(ctx context.Context, gone <-chan string) (*ipcpb.ScriptEvent, string) {
	for {
		s.mu.Lock()
		if n := s.dropped; n > 0 {
			s.dropped = 0
			s.mu.Unlock()
			s.m.log.printf("master", "dhcp-script: %d lease changes dropped: more than %d waiting for a slow script", n, maxScriptQueue)
			s.mu.Lock()
		}
		if s.inflight != nil {
			ev := s.inflight
			s.mu.Unlock()
			return ev, ""
		}
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.seq++
			ev.Seq = s.seq
			s.inflight, s.resent = ev, false
			s.mu.Unlock()
			return ev, ""
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, "master stopping"
		case why := <-gone:
			return nil, why
		case <-s.wake:
		}
	}
}

// answered clears the event a helper finished.
func (s *scriptService) answered() {
	s.mu.Lock()
	s.inflight, s.resent = nil, false
	s.mu.Unlock()
}

// helperDied decides the fate of the unanswered event: sent once more
// to the next helper, given up if it was already.
func (s *scriptService) helperDied() {
	s.mu.Lock()
	ev := s.inflight
	give := ev != nil && s.resent
	if give {
		s.inflight = nil
	} else if ev != nil {
		s.resent = true
	}
	s.mu.Unlock()
	if give {
		s.m.log.printf("master", "dhcp-script: giving up %s %s after the helper died twice running it", ev.GetAction(), scriptAddr(ev))
	}
}

// run supervises the helper until ctx ends, with the workers' backoff
// and crash limit: a helper that keeps dying is given up, but the master,
// and with it DNS and DHCP, carries on without the script.
func (s *scriptService) run(ctx context.Context) {
	delay := minBackoff
	var crashes crashCount
	for {
		began := time.Now()
		w, err := s.spawn()
		if err != nil {
			s.m.log.printf("master", "%s: %v", seccomp.ScriptRole, err)
		} else {
			why := s.serve(ctx, w)
			// The helper finishes the script it is running first; the
			// script itself, in its own process group, is left to finish.
			status, sigsys := w.stop()
			if ctx.Err() != nil {
				s.m.log.printf("master", "%s[%d] stopped: %s", seccomp.ScriptRole, w.pid, status)
				return
			}
			s.helperDied()
			s.m.log.auditEvent(auditWorkerExit, seccomp.ScriptRole, w.pid, "reason", why, "status", status)
			if sigsys {
				s.m.log.reportSeccompKill(seccomp.ScriptRole, w.pid) // the call, from the kernel log (audit_kmsg.go)
			}
		}
		if n, since := crashes.died(began, time.Now()); n >= crashLimitOr(s.crashLimit) {
			s.giveUp(n, since)
			return
		}
		if !s.m.waitRestart(ctx, seccomp.ScriptRole, began, &delay) {
			return
		}
	}
}

// giveUp stops restarting a helper that keeps dying (a broken script
// does not kill the helper: this is the helper itself failing, e.g. a
// seccomp kill). Unlike a worker's, its end does not stop the master:
// DNS and DHCP carry on, and lease changes are no longer queued.
func (s *scriptService) giveUp(crashes int, over time.Duration) {
	over = over.Round(time.Millisecond)
	s.mu.Lock()
	s.stopped = true
	lost := len(s.queue)
	s.queue, s.inflight = nil, nil
	s.mu.Unlock()
	s.m.log.auditEvent(auditWorkerGiveUp, seccomp.ScriptRole, 0, "crashes", crashes, "over", over, "healthy-run", healthyRun, "then", "helper-stopped")
	s.m.log.printf("master", "%s died %d times in a row, each within %v of its start (over %v): not restarting it; dhcp-script %s is no longer run (%d queued lease changes dropped); DNS and DHCP carry on; restart moatd to run the script again",
		seccomp.ScriptRole, crashes, healthyRun, over, s.m.cfg.DHCP.Script, lost)
}

// spawn starts the helper: not in new namespaces (the script must see
// the system's processes, mounts and network), with the master's own
// environment as dnsmasq passes its invoker's to the script, minus
// moatd's internal variables.
func (s *scriptService) spawn() (*worker, error) {
	masterEnd, helperEnd, err := ipc.Pair()
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	defer helperEnd.Close()
	role := seccomp.ScriptRole
	cmd := exec.Command(s.m.workerExe(), append([]string{WorkerArg, role}, s.opts.Args()...)...)
	cmd.Args[0] = "moatd-" + role
	cmd.Env = scriptHelperEnv(os.Environ())
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{helperEnd}
	logw, err := s.m.log.workerPipe(role)
	if err != nil {
		masterEnd.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logw.w, logw.w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		masterEnd.Close()
		logw.abandon()
		return nil, fmt.Errorf("start %s: %w", role, err)
	}
	logw.follow(cmd.Process.Pid)
	w := &worker{role: role, cmd: cmd, conn: ipc.NewConn(masterEnd), pid: cmd.Process.Pid}
	s.m.log.auditSpawn(role, w.pid, s.opts.Spec.UID, "keep-root", s.opts.Spec.KeepRoot)
	return w, nil
}

// scriptHelperEnv drops moatd's own variables from the environment.
func scriptHelperEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if strings.HasPrefix(kv, readyFDEnv+"=") || strings.HasPrefix(kv, "DNSMASQ_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// serve takes a new helper through handshake and Ready, then sends it
// events one at a time until ctx ends or the helper goes away.
func (s *scriptService) serve(ctx context.Context, w *worker) string {
	startTimer := time.AfterFunc(startTimeout, func() { _ = w.cmd.Process.Kill() })
	defer startTimer.Stop()
	if _, err := w.conn.Handshake(seccomp.ScriptRole); err != nil {
		return "handshake: " + err.Error()
	}
	m, fds, err := w.conn.Recv()
	closeFDs(fds)
	if err != nil {
		return "waiting for Ready: " + err.Error()
	}
	if m.GetReady() == nil {
		return w.violation(s.m.log, fmt.Sprintf("expected Ready, got %s", ipc.MessageName(m)))
	}
	if err := s.verify(w.pid, m.GetReady().GetSandbox()); err != nil {
		return w.violation(s.m.log, "sandbox not in force: "+err.Error())
	}
	startTimer.Stop()
	s.m.log.printf("master", "%s[%d] ready: %s", seccomp.ScriptRole, w.pid, describeScriptSandbox(m.GetReady().GetSandbox()))

	// A reader goroutine turns the helper's messages into answers; the
	// loop below waits on them or on ctx, never on a blocked Recv.
	answers := make(chan *ipcpb.ScriptDone)
	gone := make(chan string, 1)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			m, fds, err := w.conn.Recv()
			closeFDs(fds)
			switch {
			case err != nil:
				gone <- "closed its IPC connection: " + err.Error()
				return
			case m.GetScriptDone() == nil:
				gone <- w.violation(s.m.log, "unexpected "+ipc.MessageName(m))
				return
			}
			select {
			case answers <- m.GetScriptDone():
			case <-quit:
				return
			}
		}
	}()
	stopWatch := context.AfterFunc(ctx, func() {
		_ = w.conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_Shutdown{Shutdown: &ipcpb.Shutdown{Reason: "master stopping"}}})
	})
	defer stopWatch()
	for {
		ev, why := s.next(ctx, gone)
		if ev == nil {
			return why
		}
		s.refreshInterfaces() // for the events still to come
		if err := w.conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_ScriptEvent{ScriptEvent: ev}}); err != nil {
			return "send event: " + err.Error()
		}
		s.m.log.auditEvent(auditScriptRun, seccomp.ScriptRole, w.pid, "action", ev.GetAction(), "addr", scriptAddr(ev)) // issue 7 (audit.go)
		select {
		case <-ctx.Done():
			return "master stopping"
		case why := <-gone:
			return why
		case done := <-answers:
			if done.GetSeq() != ev.GetSeq() {
				return w.violation(s.m.log, fmt.Sprintf("answered event %d, expected %d", done.GetSeq(), ev.GetSeq()))
			}
			s.answered()
			if done.GetError() != "" {
				s.m.log.printf("master", "dhcp-script %s %s: %s", ev.GetAction(), scriptAddr(ev), done.GetError())
			}
		}
	}
}

// verify checks the helper's confinement as reported and as the kernel
// shows it: no_new_privs, the seccomp filter, the expected user, and no
// capabilities unless dhcp-scriptuser is root.
func (s *scriptService) verify(pid int, reported *ipcpb.SandboxStatus) error {
	if reported == nil {
		return errors.New("no sandbox status")
	}
	seen, err := readProcStatus(pid)
	if err != nil {
		return err
	}
	for _, st := range []*ipcpb.SandboxStatus{reported, seen} {
		spec := s.opts.Spec
		switch {
		case !st.GetNoNewPrivs():
			return errors.New("no_new_privs not set")
		case st.GetSeccompMode() != 2:
			return fmt.Errorf("seccomp mode %d, want 2 (filter)", st.GetSeccompMode())
		case spec.KeepRoot:
			continue
		case st.GetCapEff() != 0 || st.GetCapPrm() != 0 || st.GetCapAmb() != 0:
			return fmt.Errorf("capabilities left: eff=%x prm=%x amb=%x", st.GetCapEff(), st.GetCapPrm(), st.GetCapAmb())
		case st.GetUid() == 0:
			return errors.New("uid 0 without dhcp-scriptuser=root")
		case spec.SwitchUser && (int(st.GetUid()) != spec.UID || int(st.GetGid()) != spec.GID):
			return fmt.Errorf("uid %d gid %d, want %d %d", st.GetUid(), st.GetGid(), spec.UID, spec.GID)
		}
	}
	return nil
}

// scriptAddr names an event's address for the log.
func scriptAddr(ev *ipcpb.ScriptEvent) string {
	if a, ok := netip.AddrFromSlice(ev.GetAddr()); ok {
		return a.String()
	}
	return "-"
}

func describeScriptSandbox(st *ipcpb.SandboxStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "uid=%d gid=%d capeff=%x no_new_privs=%v seccomp=%d", st.GetUid(), st.GetGid(), st.GetCapEff(), st.GetNoNewPrivs(), st.GetSeccompMode())
	for _, n := range st.GetNotes() {
		b.WriteString("; " + n)
	}
	return b.String()
}
