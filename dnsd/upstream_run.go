package dnsd

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/miekg/dns"
)

// Running one flight (area C): the tries, the retry timer, the client's
// retries, the end. The policy decisions are serverGroup's.

// tryResult is the outcome of one try (one query to one server).
type tryResult struct {
	idx   int
	reply *dns.Msg
	err   error
	rtt   time.Duration
}

// flightRun is the state of one runFlight.
type flightRun struct {
	s    *Server
	f    *flight
	req  *request
	pol  *upstreamPolicy
	g    *serverGroup
	wire []byte
	ctx  context.Context

	results                                 chan tryResult
	asked, refused                          []bool // refused: failed in this flight (error, SERVFAIL, REFUSED)
	pending                                 []int  // tries in progress per server
	outstanding, highest, sends, sendFailed int
	fallback                                *dns.Msg

	targets       []int         // the servers the first try goes to
	delay, budget time.Duration // time per try, for the whole flight
	started       time.Time
	cancel        context.CancelFunc

	fast fastTry // the first try, when the miss reader makes it
	// upReq is req as the upstream query asks it: the question name in
	// the random case of 0x20 (forward_case.go); the replies are matched
	// against it.
	upReq    request
	flagsBuf [8]bool // asked and refused, for up to 4 servers
	pendBuf  [4]int  // pending, for up to 4 servers
}

// newFlightRun prepares a flight: the upstream query, the times, the
// first servers to ask. With ok false the flight ends at once with end.
func (s *Server) newFlightRun(f *flight) (r *flightRun, end flightEnd, ok bool) {
	req := f.first
	r = &flightRun{s: s, f: f, req: req, pol: &req.st.cfg.upstream.policy, g: f.key.group, highest: -1}
	wire, err := upstreamQuery(req)
	if err != nil {
		return nil, flightEnd{rcode: dns.RcodeServerFailure}, false
	}
	r.wire = wire
	r.upReq = *req
	if sent := s.up.cases.encode(wire); sent != "" { // 0x20, unless no-0x20-encode (forward_case.go)
		r.upReq.q.Name = sent
	}
	r.budget, r.delay = s.budget, s.udpTry
	if req.tcp {
		r.delay = s.tcpTry
	}
	if r.pol.fastRetry > 0 {
		r.delay = r.pol.fastRetry
		r.budget = max(r.budget, r.pol.fastRetryTotal+r.delay)
	}
	n := len(r.g.servers)
	flags, pending := r.flagsBuf[:0], r.pendBuf[:0]
	if n > len(r.pendBuf) {
		flags, pending = make([]bool, 0, 2*n), make([]int, 0, n)
	}
	flags, pending = flags[:2*n], pending[:n]
	r.asked, r.refused, r.pending = flags[:n:n], flags[n:], pending
	r.started = time.Now()
	r.targets, _ = r.g.firstTargets(r.pol, r.started)
	if len(r.targets) == 0 {
		return nil, flightEnd{rcode: dns.RcodeRefused}, false // every server is disabled (dns-loop-detect)
	}
	return r, flightEnd{}, true
}

// startContext gives the flight its deadline (the budget from its start)
// and the channel its tries report on, before any try runs in a goroutine
// of its own.
func (r *flightRun) startContext() {
	r.ctx, r.cancel = context.WithDeadline(r.s.ctx, r.started.Add(r.budget))
	r.results = make(chan tryResult, len(r.g.servers))
}

// runFlight asks the flight's servers as the policy says until one gives
// a usable answer, every server has failed, or the time is up.
func (s *Server) runFlight(f *flight) flightEnd {
	r, end, ok := s.newFlightRun(f)
	if !ok {
		return end
	}
	return s.runPrepared(r)
}

// runPrepared is runFlight after newFlightRun.
func (s *Server) runPrepared(r *flightRun) flightEnd {
	r.startContext()
	defer r.cancel()
	if len(r.targets) == 1 {
		// One server to ask: ask it from this goroutine, up to the first
		// retry. The common case costs no goroutine hand-off.
		if end, done := r.inlineTry(r.targets[0], r.delay); done {
			return end
		}
	} else {
		for _, i := range r.targets {
			r.send(i)
		}
	}
	return r.wait()
}

// wait runs the flight once its first tries are under way (or over):
// retries at the timer or the client's retry, further servers after
// errors, until an end.
func (r *flightRun) wait() flightEnd {
	delay := r.delay
	timer := time.NewTimer(delay)
	defer timer.Stop()
	if r.outstanding == 0 { // the first try timed out: retry at once
		timer.Reset(0)
	}
	retryNow := func() {
		r.retry()
		if r.pol.fastRetry > 0 {
			delay *= 2
			if time.Since(r.started) >= r.pol.fastRetryTotal {
				return // no more retries; wait for the budget
			}
		}
		timer.Reset(delay)
	}
	ctx := r.ctx
	for {
		select {
		case res := <-r.results:
			r.outstanding--
			r.pending[res.idx]--
			if end, done := r.handle(res); done {
				return end
			}
			if r.outstanding > 0 {
				continue
			}
			if end, done := r.afterErrors(); done {
				return end
			}
			timer.Reset(delay)
		case <-timer.C:
			retryNow()
		case <-r.f.retry:
			retryNow()
		case <-ctx.Done():
			for i, p := range r.pending {
				if p > 0 {
					r.g.servers[i].state.failed.Add(1)
				}
			}
			if r.fallback != nil {
				return flightEnd{reply: r.fallback}
			}
			return flightEnd{rcode: dns.RcodeServerFailure}
		}
	}
}

// inlineTry asks server i from the flight's goroutine for at most delay.
// done reports that the flight ended; otherwise the try got no usable
// answer in time (or failed) and the flight goes on.
func (r *flightRun) inlineTry(i int, delay time.Duration) (flightEnd, bool) {
	r.count(i)
	tctx, cancel := context.WithTimeout(r.ctx, delay)
	u := &r.s.up
	u.mu.Lock()
	r.f.stopInline = cancel
	u.mu.Unlock()
	res := r.exchange(tctx, i)
	u.mu.Lock()
	r.f.stopInline = nil
	u.mu.Unlock()
	// The socket's deadline can fire a moment before tctx's own timer.
	timedOut := res.err != nil && r.ctx.Err() == nil &&
		(tctx.Err() != nil || errors.Is(res.err, os.ErrDeadlineExceeded))
	cancel()
	if timedOut {
		// Nothing in time, or the client asked again: as a retry would
		// count it; the retry follows at once.
		r.g.servers[i].state.failed.Add(1)
		select {
		case <-r.f.retry:
		default:
		}
		return flightEnd{}, false
	}
	if end, done := r.handle(res); done {
		return end, true
	}
	return r.afterErrors()
}

// count records a try to server i.
func (r *flightRun) count(i int) {
	up := &r.g.servers[i]
	if r.asked[i] {
		up.state.retried.Add(1)
	}
	r.asked[i] = true
	r.highest = max(r.highest, i)
	r.sends++
	up.state.sent.Add(1)
	if r.req.st.cfg.logQueries {
		r.s.logForwarded(r.req, *up)
	}
}

// exchange runs one try.
func (r *flightRun) exchange(ctx context.Context, i int) tryResult {
	up := &r.g.servers[i]
	start := time.Now()
	res := tryResult{idx: i}
	if r.req.tcp {
		res.reply, res.err = r.s.exchangeTCP(ctx, up, &r.upReq, r.wire)
	} else {
		res.reply, res.err = r.s.exchangeUDP(ctx, up, &r.upReq, r.wire)
	}
	res.rtt = time.Since(start)
	return res
}

// send starts a try to server i: the wait for its reply runs in its own
// goroutine. A UDP query from a random port is sent before send returns,
// so that the tries of one round leave in order and all of them have
// left when the first answer ends the flight.
func (r *flightRun) send(i int) {
	r.count(i)
	r.outstanding++
	r.pending[i]++
	up := &r.g.servers[i]
	var sent *os.File
	var id uint16
	var sendErr error
	start := time.Now()
	udp := !r.req.tcp && sourcePort(up, r.pol) < 0
	if udp {
		sent, id, sendErr = sendUDP(up, r.pol, r.wire)
	}
	r.s.wg.Add(1)
	go func() {
		defer r.s.wg.Done()
		var res tryResult
		switch {
		case udp:
			res = tryResult{idx: i, err: sendErr}
			if sendErr == nil {
				res.reply, res.err = r.s.awaitUDP(r.ctx, sent, id, up, &r.upReq)
			}
			res.rtt = time.Since(start)
		default:
			res = r.exchange(r.ctx, i)
		}
		select {
		case r.results <- res:
		case <-r.ctx.Done():
		}
	}()
}

// handle takes one try's outcome; done reports a usable answer.
func (r *flightRun) handle(res tryResult) (flightEnd, bool) {
	g := r.g
	if res.reply != nil {
		restoreCase(res.reply, r.upReq.q.Name, r.req.q.Name)
	}
	st := g.servers[res.idx].state
	switch {
	case res.err != nil:
		st.failed.Add(1)
		r.s.stats.upstreamErrors.Add(1)
		r.refused[res.idx] = true
		var se *sendError
		if errors.As(res.err, &se) {
			r.sendFailed++
			r.s.log.printf("%v", se.err)
		}
	case res.reply.Rcode == dns.RcodeServerFailure || res.reply.Rcode == dns.RcodeRefused:
		g.noteReply(res.idx, res.reply.Rcode)
		st.failed.Add(1)
		r.refused[res.idx] = true
		r.fallback = res.reply
	default:
		g.noteReply(res.idx, res.reply.Rcode)
		st.answered.Add(1)
		st.noteLatency(res.rtt)
		if res.reply.Rcode == dns.RcodeNameError {
			st.nxdomain.Add(1)
		}
		return flightEnd{reply: res.reply, usable: true}, true
	}
	return flightEnd{}, false
}

// afterErrors goes on when every server asked is done and nothing usable
// came back: at once to the next servers, rather than at the timer; or
// ends the flight when none is left.
func (r *flightRun) afterErrors() (flightEnd, bool) {
	next := r.g.retryTargets(r.pol, r.refused, r.highest, true)
	if len(next) == 0 {
		switch {
		case r.fallback != nil:
			return flightEnd{reply: r.fallback}, true
		case r.sendFailed == r.sends:
			return flightEnd{rcode: dns.RcodeRefused, netErr: true}, true
		}
		return flightEnd{rcode: dns.RcodeServerFailure}, true
	}
	for _, i := range next {
		r.send(i)
	}
	return flightEnd{}, false
}

// retry sends the query again, when time ran out or the client asked
// again. Servers that have not answered by now count a failure, as
// dnsmasq counts one for the server a retried query went to.
func (r *flightRun) retry() {
	for i, p := range r.pending {
		if p > 0 {
			r.g.servers[i].state.failed.Add(1)
		}
	}
	for _, i := range r.g.retryTargets(r.pol, r.refused, r.highest, false) {
		r.send(i)
	}
}
