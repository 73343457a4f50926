package dnsd

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Per-upstream state and counters (area C). A server is the same server
// across configurations when its address and bind part are the same, so
// a reload (SIGHUP, a changed resolv-file) keeps its counters, as dnsmasq
// keeps the records of servers that did not change.

// upstreamID identifies a server across configurations.
type upstreamID struct {
	addr netip.AddrPort
	bind upstreamBind
}

// upstreamState is one server's counters and loop mark.
type upstreamState struct {
	id    upstreamID
	label string

	sent     atomic.Uint64 // queries sent (every try)
	retried  atomic.Uint64 // tries that were retries of a query already sent
	failed   atomic.Uint64 // tries that got no usable answer: timeout, network error, SERVFAIL, REFUSED
	answered atomic.Uint64 // usable answers
	nxdomain atomic.Uint64 // NXDOMAIN answers
	// latencyEWMA is the moving average of answer latency in
	// microseconds, each answer weighing 1/8 (dnsmasq keeps a similar
	// moving average).
	latencyEWMA atomic.Uint64
	// latency is the same answers' histogram, for metrics (issue 6,
	// stats_metrics.go).
	latency latencyHistogram

	// looped is set when dns-loop-detect saw this server's probe come
	// back; a looped server gets no queries until the next probe round.
	looped atomic.Bool
	// loopUID names this server in its loop probe ("<uid>.test").
	loopUID atomic.Uint32
}

// noteLatency folds one answer's latency into the moving average.
func (u *upstreamState) noteLatency(d time.Duration) {
	u.latency.observe(d) // issue 6: metrics (stats_metrics.go)
	us := uint64(max(d, 0) / time.Microsecond)
	for range 16 { // bounded: a lost race only skips one sample
		old := u.latencyEWMA.Load()
		next := us
		if old != 0 {
			next = old - old/8 + us/8
		}
		if u.latencyEWMA.CompareAndSwap(old, next) {
			return
		}
	}
}

// upstreamRegistry hands out each server's state. It keeps the states of
// the servers of the current configuration only, so its size is bounded
// by the configuration.
type upstreamRegistry struct {
	mu     sync.Mutex
	states map[upstreamID]*upstreamState
	next   map[upstreamID]*upstreamState // being built by the current rebuild
}

// get returns the state of id, the existing one if a previous
// configuration had the server.
func (r *upstreamRegistry) get(id upstreamID, label string) *upstreamState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == nil {
		r.next = map[upstreamID]*upstreamState{}
	}
	if st := r.next[id]; st != nil {
		return st
	}
	st := r.states[id]
	if st == nil {
		st = &upstreamState{id: id, label: label}
	}
	r.next[id] = st
	return st
}

// commit makes the states handed out since the last commit the current
// set, dropping servers no longer configured.
func (r *upstreamRegistry) commit() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states, r.next = r.next, nil
}

// upstreamStat is one upstream server's counters since dnsd started (or
// since the server first appeared in the configuration), in the terms of
// dnsmasq's SIGUSR1 line "server 192.0.2.1#53: queries sent 10, retried
// 0, failed 0, nxdomain replies 0, avg. latency 0ms".
type upstreamStat struct {
	Addr       netip.AddrPort
	Label      string // "192.0.2.1", "192.0.2.1#5353", "192.0.2.1(via eth0)"
	Sent       uint64 // queries sent, retries included
	Retried    uint64 // of those, retries
	Failed     uint64 // tries with no usable answer
	Answered   uint64 // usable answers
	NXDomain   uint64 // NXDOMAIN answers
	AvgLatency time.Duration
	Looped     bool // disabled by dns-loop-detect
}

// upstreamStats lists every server of the current configuration once, in
// configuration order (server= lines, then servers-file, then
// resolv-file), with its counters. It is safe to call from any goroutine.
func (s *Server) upstreamStats() []upstreamStat {
	st := s.st.Load()
	if st == nil {
		return nil
	}
	servers := st.cfg.upstream.servers
	out := make([]upstreamStat, 0, len(servers))
	for _, u := range servers {
		out = append(out, upstreamStat{
			Addr:       u.id.addr,
			Label:      u.label,
			Sent:       u.sent.Load(),
			Retried:    u.retried.Load(),
			Failed:     u.failed.Load(),
			Answered:   u.answered.Load(),
			NXDomain:   u.nxdomain.Load(),
			AvgLatency: time.Duration(u.latencyEWMA.Load()) * time.Microsecond,
			Looped:     u.looped.Load(),
		})
	}
	return out
}
