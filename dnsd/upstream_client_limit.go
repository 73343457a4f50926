package dnsd

import (
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// One client must not fill dns-forward-max by itself: a client address
// may have at most two thirds of it waiting on upstream answers at once
// (100 of dnsmasq's default 150), so that others can still be forwarded
// while it floods. dnsmasq has no such limit; the queries over it are
// refused as dns-forward-max refuses them. A dns-forward-max set below
// minSharedForwardMax is taken as meant for every client together, as in
// dnsmasq: no share then.

const minSharedForwardMax = 30

// clientShare is the number of waiting queries one client address may
// have under forwardMax; 0: no share.
func clientShare(forwardMax int) int {
	if forwardMax < minSharedForwardMax {
		return 0
	}
	return forwardMax * 2 / 3
}

// admitClientLocked counts req against its client's share: counted says
// whether it was (a share applies), ok whether req may wait. Called with
// u.mu held.
func (u *upstreamRuntime) admitClientLocked(req *request, pol *upstreamPolicy) (counted, ok bool) {
	share := clientShare(pol.forwardMax)
	if share == 0 {
		return false, true
	}
	a := req.client.Addr()
	if u.perClient == nil {
		u.perClient = map[netip.Addr]int{}
	}
	if u.perClient[a] >= share {
		return false, false
	}
	u.perClient[a]++
	return true, true
}

// releaseClientLocked ends req's wait. Called with u.mu held.
func (u *upstreamRuntime) releaseClientLocked(req *request) {
	a := req.client.Addr()
	if n := u.perClient[a]; n > 1 {
		u.perClient[a] = n - 1
	} else {
		delete(u.perClient, a)
	}
}

// refuseClient answers a query over its client's share with REFUSED,
// logging at most every 5 seconds.
func (s *Server) refuseClient(w waiter, pol *upstreamPolicy) {
	req := w.req
	s.stats.clientLimited.Add(1)
	s.up.mu.Lock()
	now := time.Now()
	logIt := now.Sub(s.up.clientLog) > 5*time.Second
	if logIt {
		s.up.clientLog = now
	}
	s.up.mu.Unlock()
	if logIt {
		s.log.printf("client %s has %d queries waiting for upstream answers: more are refused", req.client.Addr(), clientShare(pol.forwardMax))
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
