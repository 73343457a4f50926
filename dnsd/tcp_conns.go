package dnsd

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Held-open TCP connections must not deny TCP service to other clients
// (dnsmasq's fixed pool of TCP children can be filled by anyone who opens
// connections and sends nothing). A listener keeps at most max
// connections and at most perClient from one address; when it is full, a
// new connection evicts the one that has waited longest for its next
// query. A connection that is answering a query is never evicted, so a
// client that asks gets its answer; one that only holds a slot loses it
// to the next client.

// tcpConn is one accepted connection as the table sees it.
type tcpConn struct {
	c      *net.TCPConn
	client netip.Addr
	busy   atomic.Bool  // a query is being answered
	idleAt atomic.Int64 // when it began waiting for a query (UnixNano)
}

func (tc *tcpConn) setBusy(busy bool) {
	if !busy {
		tc.idleAt.Store(time.Now().UnixNano())
	}
	tc.busy.Store(busy)
}

// tcpTable is one listener's connections.
type tcpTable struct {
	max, perClient int

	mu       sync.Mutex
	conns    map[*tcpConn]struct{}
	byClient map[netip.Addr]int
}

func newTCPTable(max int) *tcpTable {
	per := max / 4
	if per < 1 {
		per = 1
	}
	return &tcpTable{max: max, perClient: per, conns: map[*tcpConn]struct{}{}, byClient: map[netip.Addr]int{}}
}

// admit adds tc unless its client already has its share, or the table
// is full of busy connections. evicted is the idle connection closed to
// make room, if any.
func (t *tcpTable) admit(tc *tcpConn) (ok, evicted bool) {
	tc.setBusy(false)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byClient[tc.client] >= t.perClient {
		return false, false
	}
	if len(t.conns) >= t.max {
		victim := t.longestIdleLocked()
		if victim == nil {
			return false, false
		}
		t.removeLocked(victim)
		// Its goroutine's read fails at once and it exits.
		_ = victim.c.Close()
		evicted = true
	}
	t.conns[tc] = struct{}{}
	t.byClient[tc.client]++
	return true, evicted
}

func (t *tcpTable) longestIdleLocked() *tcpConn {
	var victim *tcpConn
	for tc := range t.conns {
		if tc.busy.Load() {
			continue
		}
		if victim == nil || tc.idleAt.Load() < victim.idleAt.Load() {
			victim = tc
		}
	}
	return victim
}

// remove forgets tc (its connection ended); a no-op after eviction.
func (t *tcpTable) remove(tc *tcpConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(tc)
}

func (t *tcpTable) removeLocked(tc *tcpConn) {
	if _, ok := t.conns[tc]; !ok {
		return
	}
	delete(t.conns, tc)
	if t.byClient[tc.client]--; t.byClient[tc.client] <= 0 {
		delete(t.byClient, tc.client)
	}
}
