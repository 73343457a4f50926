package dnsd

import (
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/cache"
)

// fastState is a pipeline state's licence for the fast path. owner is the
// state it was made for: a state copied and modified without install
// (new local data swapped in some other way) does not own it, and the
// fast path stays off for that state rather than serve past new data.
type fastState struct {
	owner *state
	// stamp numbers the state; cache entries confirmed under it are
	// served by the fast path while it is current.
	stamp   uint64
	enabled bool
}

// stampCounter numbers pipeline states across the process (0 = none).
var stampCounter atomic.Uint64

// cacheClock is the clock of every cache dnsd makes; tests move it.
var cacheClock = time.Now

// valid reports whether st may use the fast path.
func (f *fastState) valid(st *state) bool { return f.enabled && f.owner == st }

// installCache completes next, the state about to be installed after
// old (nil at start): it keeps old's cache when the cache options and
// epoch are the same, or makes a new, empty one (SIGHUP, clear-on-reload,
// changed options); and it gives next a fresh fast-path stamp, so that no
// answer confirmed under old is served before the pipeline has seen it
// again under next.
func installCache(old, next *state) {
	cc := next.cfg.cache
	if old != nil && old.cache != nil && old.cfg.cache.epoch == cc.epoch && old.cache.Options() == cc.opts {
		next.cache = old.cache
	} else {
		next.cache = cache.NewWithClock(cc.opts, cacheClock)
	}
	next.fast = fastState{owner: next, stamp: stampCounter.Add(1), enabled: cc.fastPath}
}

// answerFromCache is the pipeline's cache stage: it answers req from the
// cache, or reports false. A fresh hit that the fast path would answer
// with the very same bytes is confirmed for it; a stale one (use-stale-
// cache) is answered with TTL 0 and refreshed upstream in the background.
func (s *Server) answerFromCache(req *request, raw []byte) ([]byte, bool) {
	st := req.st
	a, ok := st.cache.Get(req.q)
	if !ok {
		return nil, false
	}
	s.stats.cacheHits.Add(1)
	m := s.newReply(req, a.Rcode)
	m.Answer, m.Ns, m.Extra = a.Answer, a.Ns, a.Extra
	if st.cfg.logQueries {
		how := "cached"
		if a.Stale {
			how = "cached-stale"
		}
		s.logAnswerFor(req, how, m)
	}
	out := s.finish(req, m)
	switch {
	case a.Stale:
		s.refreshStale(req, a)
	case !req.tcp && out != nil && st.fast.valid(st):
		var q cache.Query
		if cache.ParseQuery(raw, &q) {
			s.sizeFastQuery(st, &q)
			st.cache.Confirm(a, &q, out, st.fast.stamp)
		}
	}
	return out, true
}

// sizeFastQuery sets the reply limits of a fast-path query as the
// pipeline does: 512 bytes without EDNS; with EDNS, the client's size,
// at least 512 and at most edns-packet-max.
func (s *Server) sizeFastQuery(st *state, q *cache.Query) {
	q.MaxSize = dns.MinMsgSize
	q.EDNSSize = st.cfg.ednsMax
	if q.EDNS {
		q.MaxSize = int(min(max(q.UDPSize, dns.MinMsgSize), st.cfg.ednsMax))
	}
}

// refreshStale asks upstream again for a stale entry, once at a time per
// entry, in the background (a flight nobody waits for, within the
// forward limit); the answer replaces the entry through the usual
// forward path.
func (s *Server) refreshStale(req *request, a cache.Answer) {
	servers := req.st.cfg.route(req.key).servers
	if len(servers) == 0 || !req.st.cache.ClaimRefresh(a) {
		return
	}
	r := *req
	r.servers = servers
	s.forwardAsync(&r, nil)
}

// cacheReply stores an upstream answer and applies max-ttl to the reply
// the client gets: answer records are given at most max-ttl, as dnsmasq
// does for forwarded replies (the cache keeps the true TTL).
func (s *Server) cacheReply(req *request, upstream, client *dns.Msg) {
	req.st.cache.Put(req.q, cacheCopy(req, upstream)) // without DO's DNSSEC records (compat_query.go)
	limit := req.st.cfg.cache.opts.MaxClientTTL
	if limit == 0 {
		return
	}
	// The records and slice are shared with upstream's message: copy
	// before changing them.
	answer := make([]dns.RR, len(client.Answer))
	for i, rr := range client.Answer {
		if rr.Header().Ttl > limit {
			rr = dns.Copy(rr)
			rr.Header().Ttl = limit
		}
		answer[i] = rr
	}
	client.Answer = answer
}
