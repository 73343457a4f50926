package dnsd

import (
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Server selection (area C), dnsmasq 2.90's forward_query and reply_query:
//
//   - default: a query goes to the server of its group that answered last
//     ("last_server"); every forwardTest-th query, after forwardTime, or
//     when no server has answered yet, it goes to all of them and the
//     first to answer becomes the one used: the fastest server wins, and
//     a server that stops answering loses its place at the next retry.
//   - strict-order: the first server; the next one only when it fails.
//   - all-servers: every query to every server; the first answer wins.
//
// A retry (the client asked again, or nothing came back in time) goes to
// every server in the default mode, to the next one in strict order.

const (
	forwardTest = 50               // dnsmasq's FORWARD_TEST
	forwardTime = 20 * time.Second // dnsmasq's FORWARD_TIME
)

// serverGroup is the selection state of one route's server list
// (dnsmasq's "server group": the servers for one domain).
type serverGroup struct {
	servers []upstream

	mu           sync.Mutex
	last         int // index of the server that answered last; -1 = none yet
	forwardCount int
	forwardTime  time.Time
	// inflight counts this group's queries upstream now (dns-forward-max);
	// guarded by upstreamRuntime.mu, not mu.
	inflight int
}

func newServerGroup() *serverGroup {
	return &serverGroup{last: -1}
}

// usable reports whether server i may be asked (not disabled by loop
// detection).
func (g *serverGroup) usable(i int) bool { return !g.servers[i].state.looped.Load() }

// firstTargets returns the servers a new query goes to and whether it
// goes to all of them (the first answer then decides).
func (g *serverGroup) firstTargets(pol *upstreamPolicy, now time.Time) (targets []int, all bool) {
	switch {
	case pol.allServers:
		return g.allUsable(nil), true
	case pol.strictOrder:
		for i := range g.servers {
			if g.usable(i) {
				return []int{i}, false
			}
		}
		return nil, false
	}
	g.mu.Lock()
	last := g.last
	probe := last < 0 || !g.usable(last) || now.Sub(g.forwardTime) > forwardTime
	g.forwardCount++
	if g.forwardCount > forwardTest {
		probe = true
	}
	if probe {
		g.forwardTime, g.forwardCount = now, 0
	}
	g.mu.Unlock()
	if !probe {
		return []int{last}, false
	}
	return g.allUsable(nil), true
}

// allUsable lists the usable servers, leaving out those in skip.
func (g *serverGroup) allUsable(skip []bool) []int {
	out := make([]int, 0, len(g.servers))
	for i := range g.servers {
		if g.usable(i) && (skip == nil || !skip[i]) {
			out = append(out, i)
		}
	}
	return out
}

// noteReply records which server answered, as reply_query does: any
// answer but REFUSED makes it the one to use; REFUSED from the one in use
// forgets it.
func (g *serverGroup) noteReply(i, rcode int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case rcode != dns.RcodeRefused:
		g.last = i
	case g.last == i:
		g.last = -1
	}
}

// retryTargets returns the servers to ask when the query must go on:
// afterError when every server asked has answered without a usable
// answer, otherwise because time ran out or the client asked again.
// refused marks servers that answered SERVFAIL or REFUSED in this query;
// highest is the highest index asked so far.
func (g *serverGroup) retryTargets(pol *upstreamPolicy, refused []bool, highest int, afterError bool) []int {
	if !pol.strictOrder {
		return g.allUsable(refused)
	}
	for i := highest + 1; i < len(g.servers); i++ {
		if g.usable(i) && !refused[i] {
			return []int{i}
		}
	}
	// Strict order at the end of the list: a timeout asks the last server
	// again (dnsmasq keeps retrying it); an error answer ends the query.
	if !afterError && highest >= 0 && !refused[highest] && g.usable(highest) {
		return []int{highest}
	}
	return nil
}
