package dhcpserver

import (
	"net/netip"

	"github.com/moatdns/moat/internal/leases"
)

// CarryOver moves into e, a new engine built from a reloaded
// configuration, everything of old's that outlives a configuration:
// the lease table, the numbering of probes and commits, and what
// clients are waiting for. A DISCOVER parked for its ping check is
// answered by e when the worker reports the probe (under e's
// configuration: its ranges, options and hosts), and an ACK held for
// its commit leaves when the master's answer comes, so a client in the
// middle of an exchange during a reload is not left to time out. The
// addresses set aside for offers, and those found in use or declined,
// stay so for as long as they were to.
//
// old must not be used afterwards: e takes its state over, it does not
// copy it.
func (e *Engine) CarryOver(old *Engine) {
	e.store = old.store
	e.alloc.Leases = e.store.t
	e.ContinueIDs(old)
	e.probes, e.probeByClient = old.probes, old.probeByClient
	for _, p := range e.probes {
		p.pool = e.poolFor(p)
	}
	e.overloaded = old.overloaded
	e.commits = old.commits
	e.held, e.busy = old.held, old.busy
	// old is left empty rather than sharing: a stray call on it cannot
	// touch e's state.
	old.probes, old.probeByClient = map[uint64]*pendingProbe{}, map[string]uint64{}
	old.commits = map[uint64]*pendingCommit{}
	old.held, old.busy = map[netip.Addr]hold{}, map[netip.Addr]int64{}
	old.store = newStore()
	old.alloc.Leases = old.store.t
}

// poolFor is the range of e that stands for the old engine's range of
// probe p (the same start and end), nil when the new configuration has
// none: an address found in use then moves no range's choices along.
func (e *Engine) poolFor(p *pendingProbe) *leases.Pool {
	if p.pool == nil {
		return nil
	}
	for _, ri := range e.c.ranges {
		if ri.pool.Start == p.pool.Start && ri.pool.End == p.pool.End {
			return &ri.pool
		}
	}
	return nil
}
