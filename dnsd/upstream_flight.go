package dnsd

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Forwarding (area C): one "flight" per distinct question in progress
// upstream. Identical questions that arrive while it is in progress wait
// for it (in-flight de-duplication: one upstream query for N clients), as
// dnsmasq attaches them to its forward record; the flight asks servers
// as the policy says (upstream_select.go) and answers every waiter.

// upstreamRuntime is the Server's forwarding state (Server.up).
type upstreamRuntime struct {
	reg upstreamRegistry

	mu      sync.Mutex
	flights map[flightKey]*flight
	extra   int // waiters beyond the first of each flight, bounded by dns-forward-max
	table   []*ipcpb.Upstream
	shared  map[sharedKey]*sharedSocket
	fullLog time.Time // last "Maximum number of concurrent DNS queries" line
	// perClient counts each client address's queries waiting on flights
	// (upstream_client_limit.go).
	perClient map[netip.Addr]int
	clientLog time.Time // last per-client limit line

	// fast reads the replies to the common misses (upstream_fast.go),
	// started at the first; fastFailed: it could not be.
	fast       *missReader
	fastFailed bool

	loop loopState

	// cases is 0x20's record of servers that change the case of the
	// question (forward_case.go).
	cases caseTable

	joined  atomic.Uint64 // client queries that joined a flight in progress
	retries atomic.Uint64 // client retries of a query in progress
	full    atomic.Uint64 // queries refused at dns-forward-max
}

// flightKey says which queries are the same question: name (lower case),
// type, class and the client's CD and DO bits, over TCP or UDP, to the
// same server group. A query whose upstream query carries options of its
// own client (add-mac, add-subnet from the client's address) is keyed by
// that client as well: its answer is for that client only.
// The header bits the upstream query copies from the first client (RD, AD,
// CD, DO) are part of the key: an RD=1 client must not get, or cache, the
// answer to another client's non-recursive query.
type flightKey struct {
	name                string
	qtype, qclass       uint16
	rd, ad, cd, do, tcp bool
	group               *serverGroup
	client              netip.AddrPort
}

type waiter struct {
	req     *request
	deliver func([]byte)
	// sender and to (data unset) name a UDP client's socket and address
	// instead of deliver: the goroutine that ends a flight sends the
	// reply in a batch of its own (upstream_fast.go) or through the
	// sender. Neither deliver nor sender: nobody waits (a background
	// refresh).
	sender *replySender
	to     outReply
	// counted: the wait counts against its client's share
	// (upstream_client_limit.go).
	counted bool
}

type flight struct {
	key     flightKey
	first   *request // the query the flight asks upstream
	waiters []waiter // guarded by upstreamRuntime.mu
	retry   chan struct{}
	// stopInline ends the try the flight's goroutine is waiting on
	// itself, so that a client's retry is acted on at once; guarded by
	// upstreamRuntime.mu.
	stopInline context.CancelFunc
	// fast is the first try while the miss reader waits for it
	// (upstream_fast.go); a client's retry ends it as stopInline ends
	// the inline try. Guarded by upstreamRuntime.mu.
	fast *fastTry
	// one holds the first waiter, without an allocation of its own.
	one [1]waiter
}

// flightEnd is how a flight ended.
type flightEnd struct {
	reply  *dns.Msg // an upstream answer: usable, or the last SERVFAIL/REFUSED
	usable bool
	rcode  int // with no reply: SERVFAIL (nothing in time) or REFUSED (no server could be asked)
	netErr bool
}

func flightKeyOf(req *request) flightKey {
	k := flightKey{name: req.key, qtype: req.q.Qtype, qclass: req.q.Qclass,
		rd: req.msg.RecursionDesired, ad: req.msg.AuthenticatedData,
		cd: req.msg.CheckingDisabled, tcp: req.tcp, group: req.servers[0].group}
	if opt := req.msg.IsEdns0(); opt != nil {
		k.do = opt.Do()
	}
	if req.filt.noCache {
		k.client = req.client
	}
	return k
}

// forwardAsync forwards req and calls deliver exactly once, from another
// goroutine or before it returns, with the packed reply for the client,
// or nil when the client gets no reply (its retry was folded into the
// query in progress). deliver may be nil (a background refresh that only
// fills the cache). req.servers must not be empty.
func (s *Server) forwardAsync(req *request, deliver func([]byte)) {
	s.forwardWaiter(waiter{req: req, deliver: deliver})
}

// forwardWaiter is forwardAsync for a waiter that may name its UDP
// client (waiter.sender).
func (s *Server) forwardWaiter(w waiter) {
	if f := s.joinOrStart(w); f != nil {
		s.startFlight(f, w.sender)
	}
}

// startFlight runs a new flight without waiting for it. A UDP query for
// one server from a random port is sent from this goroutine and its
// reply read by the miss reader (upstream_fast.go); anything else runs
// in a goroutine of its own. sender, when given, is the client's socket,
// whose loop sends the query after its batch (replySender.sendDeferred).
func (s *Server) startFlight(f *flight, sender *replySender) {
	s.wg.Add(1)
	r, end, ok := s.newFlightRun(f)
	if !ok {
		s.endFlight(f, end, nil)
		s.wg.Done()
		return
	}
	if s.tryFast(r, sender) {
		return
	}
	go func() {
		defer s.wg.Done()
		s.endFlight(f, s.runPrepared(r), nil)
	}()
}

// joinOrStart adds req to the flight for its question, or answers it at
// once (dns-forward-max, a client's retry), or returns a new flight the
// caller must run.
func (s *Server) joinOrStart(w waiter) *flight {
	req := w.req
	key := flightKeyOf(req)
	pol := &req.st.cfg.upstream.policy
	u := &s.up
	u.mu.Lock()
	if f := u.flights[key]; f != nil {
		if w.silent() {
			u.mu.Unlock()
			return nil
		}
		if !req.tcp && f.hasClient(req) {
			// The client asked again: the query in progress answers it,
			// and goes on to other servers now (dnsmasq's retry).
			if f.stopInline != nil {
				f.stopInline()
			}
			if f.fast != nil {
				f.fast.m.cancel(f.fast)
			}
			u.mu.Unlock()
			u.retries.Add(1)
			select {
			case f.retry <- struct{}{}:
			default:
			}
			s.deliverTo(w, nil, nil)
			return nil
		}
		if u.extra >= pol.forwardMax {
			u.mu.Unlock()
			s.refuseFull(w, pol.forwardMax)
			return nil
		}
		var ok bool
		if w.counted, ok = u.admitClientLocked(req, pol); !ok {
			u.mu.Unlock()
			s.refuseClient(w, pol)
			return nil
		}
		f.waiters = append(f.waiters, w)
		u.extra++
		u.mu.Unlock()
		u.joined.Add(1)
		return nil
	}
	g := key.group
	if g.inflight >= pol.forwardMax {
		u.mu.Unlock()
		s.refuseFull(w, pol.forwardMax)
		return nil
	}
	var admitted bool
	if w.counted, admitted = u.admitClientLocked(req, pol); !admitted {
		u.mu.Unlock()
		s.refuseClient(w, pol)
		return nil
	}
	g.inflight++
	f := &flight{key: key, first: req, retry: make(chan struct{}, 1)}
	f.one[0] = w
	f.waiters = f.one[:]
	if u.flights == nil {
		u.flights = map[flightKey]*flight{}
	}
	u.flights[key] = f
	u.mu.Unlock()
	s.stats.forwarded.Add(1)
	return f
}

// hasClient reports whether the same client already waits with the same
// ID: a retransmission, not a new question. Called with the lock held.
func (f *flight) hasClient(req *request) bool {
	for _, w := range f.waiters {
		if w.req.client == req.client && w.req.msg.Id == req.msg.Id {
			return true
		}
	}
	return false
}

// refuseFull answers a query over dns-forward-max with REFUSED, as
// dnsmasq does, logging at most every 5 seconds.
func (s *Server) refuseFull(w waiter, max int) {
	req := w.req
	s.up.full.Add(1)
	s.stats.forwardDropped.Add(1)
	s.up.mu.Lock()
	now := time.Now()
	logIt := now.Sub(s.up.fullLog) > 5*time.Second
	if logIt {
		s.up.fullLog = now
	}
	s.up.mu.Unlock()
	if logIt {
		s.log.printf("Maximum number of concurrent DNS queries reached (max: %d)", max)
	}
	if w.silent() {
		return
	}
	m := s.newReply(req, dns.RcodeRefused)
	if req.st.cfg.logQueries {
		s.logAnswerFor(req, "config", m)
	}
	s.deliverTo(w, s.finish(req, m), nil)
}

// forward forwards req and waits for the packed reply (nil: none), or
// for ctx to end. A new flight runs in the calling goroutine, which waits
// anyway: one goroutine hand-off less on the miss path.
func (s *Server) forward(ctx context.Context, req *request) []byte {
	ch := make(chan []byte, 1)
	if f := s.joinOrStart(waiter{req: req, deliver: func(b []byte) { ch <- b }}); f != nil {
		s.wg.Add(1)
		s.fly(f)
	}
	select {
	case b := <-ch:
		return b
	case <-ctx.Done():
		return nil
	}
}

// forwardAndFinish forwards req and returns the packed reply for the
// client (nil: none).
func (s *Server) forwardAndFinish(ctx context.Context, req *request) []byte {
	return s.forward(ctx, req)
}

// fly runs a flight and answers its waiters.
func (s *Server) fly(f *flight) {
	defer s.wg.Done()
	s.endFlight(f, s.runFlight(f), nil)
}

// endFlight retires a flight and answers its waiters; with b, UDP
// clients' replies are added to b for the caller to send.
func (s *Server) endFlight(f *flight, end flightEnd, b *sendBatch) {
	u := &s.up
	u.mu.Lock()
	delete(u.flights, f.key)
	waiters := f.waiters
	u.extra -= len(waiters) - 1
	for _, w := range waiters {
		if w.counted {
			u.releaseClientLocked(w.req)
		}
	}
	f.key.group.inflight--
	u.mu.Unlock()
	s.answerWaiters(waiters, end, b)
}

// answerWaiters builds each waiter's reply from the flight's end. The
// reply filters and the cache see the answer once, with the first
// query; the others get the same result with their own ID, question
// spelling and size.
func (s *Server) answerWaiters(waiters []waiter, end flightEnd, b *sendBatch) {
	first := waiters[0].req
	switch {
	case end.reply != nil && end.usable:
		reply, cacheable := s.filterReply(first, end.reply)
		reply = s.localNXToNodata(first, reply) // area A: NXDOMAIN for a local name is NODATA (local.go)
		m0 := s.clientReply(first, reply)
		if cacheable {
			s.cacheReply(first, reply, m0)
		}
		s.logReply(first, m0)
		for i, w := range waiters {
			m := m0
			if i > 0 {
				w.req.filt.ede, w.req.filt.source = first.filt.ede, first.filt.source
				m = s.clientReply(w.req, reply)
				m.Answer = m0.Answer // as the cache stage limited its TTLs
			}
			s.deliverTo(w, s.finish(w.req, m), b)
		}
	case end.reply != nil:
		// Every server answered SERVFAIL or REFUSED: pass the last on.
		for i, w := range waiters {
			m := s.clientReply(w.req, end.reply)
			if i == 0 {
				s.logReply(w.req, m)
			}
			s.deliverTo(w, s.finish(w.req, m), b)
		}
	default:
		if end.rcode == dns.RcodeServerFailure {
			s.stats.servfail.Add(1)
		} else {
			s.stats.refused.Add(1)
		}
		for i, w := range waiters {
			if end.netErr {
				w.req.filt.ede = edeNetworkError
			}
			m := s.newReply(w.req, end.rcode)
			if i == 0 && w.req.st.cfg.logQueries {
				source := "reply"
				if end.rcode == dns.RcodeRefused {
					source = "config" // dnsmasq: "config error is REFUSED (EDE: network error)"
				}
				s.logAnswerFor(w.req, source, m)
			}
			s.deliverTo(w, s.finish(w.req, m), b)
		}
	}
}

// silent reports a waiter nobody waits on (a background refresh).
func (w *waiter) silent() bool { return w.deliver == nil && w.sender == nil }

// deliverTo hands a waiter its reply (nil: none): a UDP client's into b
// when b is given, else to its socket's sender; anyone else's through
// its deliver function.
func (s *Server) deliverTo(w waiter, out []byte, b *sendBatch) {
	if w.sender == nil {
		if w.deliver != nil {
			w.deliver(out)
		}
		return
	}
	if len(out) == 0 || s.ctx.Err() != nil {
		return
	}
	o := w.to
	o.data = out
	if b != nil && batchable(o) {
		b.add(w.sender, o)
		return
	}
	w.sender.send(o)
}

// edeNetworkError is RFC 8914's "Network Error", which dnsmasq attaches
// when no server could be asked.
const edeNetworkError = 23
