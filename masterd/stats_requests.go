package masterd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Issue 6: the master's questions to its workers for moatctl and
// /metrics, and what it keeps of their Ready for moatctl status. An
// answer is routed by its request id to the one waiting for it; an answer
// nobody asked for is a protocol violation (the supervisor kills the
// worker), a late answer to an abandoned question is dropped.

// answerWait bounds how long a worker's read loop waits to hand an
// answer to a slow reader (a moatctl dump being written out).
const answerWait = time.Second

// workerReady is what moatctl status shows of a worker's last start.
type workerReady struct {
	pid     int
	since   time.Time
	sandbox *ipcpb.SandboxStatus
}

// noteWorkerReady records a worker that passed its sandbox check.
func (m *master) noteWorkerReady(role string, pid int, sandbox *ipcpb.SandboxStatus) {
	m.stats.mu.Lock()
	defer m.stats.mu.Unlock()
	if m.stats.workers == nil {
		m.stats.workers = map[string]workerReady{}
	}
	m.stats.workers[role] = workerReady{pid: pid, since: time.Now(), sandbox: sandbox}
}

// workerInfo returns the last Ready of role.
func (m *master) workerInfo(role string) (workerReady, bool) {
	m.stats.mu.Lock()
	defer m.stats.mu.Unlock()
	w, ok := m.stats.workers[role]
	return w, ok
}

// askedAnswer says whether env is an answer to one of the master's issue
// 6 questions, from the role that answers it, and its id.
func askedAnswer(role string, env *ipcpb.Envelope) (uint64, bool) {
	switch m := env.GetMsg().(type) {
	case *ipcpb.Envelope_StatsReport:
		return m.StatsReport.GetId(), role == "dnsd"
	case *ipcpb.Envelope_CacheDumpChunk:
		return m.CacheDumpChunk.GetId(), role == "dnsd"
	case *ipcpb.Envelope_DnsMetrics:
		return m.DnsMetrics.GetId(), role == "dnsd"
	case *ipcpb.Envelope_DhcpMetrics:
		return m.DhcpMetrics.GetId(), role == "dhcpd"
	}
	return 0, false
}

// deliverAnswer hands env to whoever waits for id; false for an id never
// handed out.
func (m *master) deliverAnswer(id uint64, env *ipcpb.Envelope) bool {
	m.stats.mu.Lock()
	if id == 0 || id > m.stats.nextID {
		m.stats.mu.Unlock()
		return false
	}
	ch := m.stats.answers[id]
	m.stats.mu.Unlock()
	if ch == nil {
		return true // abandoned
	}
	select {
	case ch <- env:
	case <-time.After(answerWait):
	}
	return true
}

// supervisorOf returns role's supervisor, nil when the role is disabled.
func (m *master) supervisorOf(role string) *supervisor {
	for _, s := range m.sups {
		if s.role == role {
			return s
		}
	}
	return nil
}

// withRole runs f on role's ready worker (supervisor.withReady): nil,
// and f not run, when the role is disabled or no worker is ready now; a
// worker that becomes ready later gets the current data at its start.
func (m *master) withRole(role string, f func(*ipc.Conn) error) error {
	s := m.supervisorOf(role)
	if s == nil {
		return nil
	}
	return s.withReady(f)
}

var errRoleDisabled = errors.New("disabled in this configuration")

// ask sends role the request build makes for a fresh id and returns the
// channel its answers arrive on (buffer of them may wait) and the
// function that stops waiting.
func (m *master) ask(role string, buffer int, build func(id uint64) *ipcpb.Envelope) (<-chan *ipcpb.Envelope, func(), error) {
	sup := m.supervisorOf(role)
	if sup == nil {
		return nil, nil, fmt.Errorf("%s: %w", role, errRoleDisabled)
	}
	ch := make(chan *ipcpb.Envelope, buffer)
	m.stats.mu.Lock()
	m.stats.nextID++
	id := m.stats.nextID
	if m.stats.answers == nil {
		m.stats.answers = map[uint64]chan *ipcpb.Envelope{}
	}
	m.stats.answers[id] = ch
	m.stats.mu.Unlock()
	forget := func() {
		m.stats.mu.Lock()
		delete(m.stats.answers, id)
		m.stats.mu.Unlock()
	}
	sent := false
	err := sup.withReady(func(c *ipc.Conn) error {
		sent = true
		return c.Send(build(id))
	})
	if err == nil && !sent {
		err = errors.New("not running")
	}
	if err != nil {
		forget()
		return nil, nil, fmt.Errorf("%s: %w", role, err)
	}
	return ch, forget, nil
}

// askOne asks role and waits for its one answer.
func (m *master) askOne(ctx context.Context, role string, build func(id uint64) *ipcpb.Envelope) (*ipcpb.Envelope, error) {
	ch, forget, err := m.ask(role, 1, build)
	if err != nil {
		return nil, err
	}
	defer forget()
	select {
	case env := <-ch:
		return env, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", role, ctx.Err())
	case <-time.After(workerAskTimeout):
		return nil, fmt.Errorf("%s: no answer within %v", role, workerAskTimeout)
	}
}

// askStatsReport asks dnsd for SIGUSR1's counters (the first report; a
// cache dump that may follow with log-queries is not waited for).
func (m *master) askStatsReport(ctx context.Context) (*ipcpb.StatsReport, error) {
	env, err := m.askOne(ctx, "dnsd", func(id uint64) *ipcpb.Envelope {
		return &ipcpb.Envelope{Msg: &ipcpb.Envelope_StatsRequest{StatsRequest: &ipcpb.StatsRequest{Id: id}}}
	})
	if err != nil {
		return nil, err
	}
	return env.GetStatsReport(), nil
}

// maxDumpChunks bounds the chunks of one moatctl dump the master takes.
const maxDumpChunks = 4096

// askCacheDump asks dnsd for its cache records; truncated says the dump
// is not complete (dnsd's bound, or chunks that did not arrive).
func (m *master) askCacheDump(ctx context.Context) (entries []*ipcpb.CacheDumpEntry, now time.Time, truncated bool, err error) {
	ch, forget, err := m.ask("dnsd", 64, func(id uint64) *ipcpb.Envelope {
		return &ipcpb.Envelope{Msg: &ipcpb.Envelope_CacheDumpRequest{CacheDumpRequest: &ipcpb.CacheDumpRequest{Id: id}}}
	})
	if err != nil {
		return nil, time.Time{}, false, err
	}
	defer forget()
	timeout := time.After(workerAskTimeout)
	for range maxDumpChunks {
		select {
		case env := <-ch:
			c := env.GetCacheDumpChunk()
			entries = append(entries, c.GetEntries()...)
			now = time.Unix(c.GetNow(), 0)
			if !c.GetMore() {
				return entries, now, c.GetTruncated(), nil
			}
		case <-ctx.Done():
			return nil, now, false, fmt.Errorf("dnsd: %w", ctx.Err())
		case <-timeout:
			if len(entries) == 0 {
				return nil, now, false, fmt.Errorf("dnsd: no answer within %v", workerAskTimeout)
			}
			return entries, now, true, nil
		}
	}
	return entries, now, true, nil
}
