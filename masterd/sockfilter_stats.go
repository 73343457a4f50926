package masterd

import "github.com/moatdns/moat/sockfilter"

// The socket filters' counters for the operator (issue 5): SIGUSR1 logs
// them ("socket filter counters: ...", logStats in sockfilter.go) and the
// metrics export reads them here. Only the eBPF filters count; the
// classic ones cannot (no maps).

// socketFilterDrops returns the datagrams the socket filters dropped in
// the kernel, by reason (sockfilter.Reason names: upstream_short,
// upstream_not_reply, upstream_wrong_id, listener_short,
// listener_reply), every reason present even at 0. It returns nil when
// nothing counts: DNS disabled, socket-filter=off or classic, or the
// counters could not be read.
func (m *master) socketFilterDrops() map[string]uint64 {
	drops, _ := m.filters.counters()
	return drops
}

// socketFilterPassed returns the datagrams the filters let through, by
// filter ("upstream", "listener"); nil when nothing counts.
func (m *master) socketFilterPassed() map[string]uint64 {
	_, passed := m.filters.counters()
	return passed
}

// socketFilterActive names the filters in force: "ebpf", "classic" or
// "none" (DNS disabled counts as none).
func (m *master) socketFilterActive() string {
	if m.filters == nil {
		return sockfilter.ActiveNone.String()
	}
	return m.filters.active.String()
}

// counters splits the eBPF counters into drops by reason and passes by
// filter; both nil without eBPF or when the map cannot be read.
func (f *socketFilters) counters() (drops, passed map[string]uint64) {
	st, ok, err := f.stats()
	if !ok || err != nil {
		return nil, nil
	}
	drops, passed = map[string]uint64{}, map[string]uint64{}
	for _, r := range sockfilter.Reasons() {
		switch r {
		case sockfilter.UpstreamPassed:
			passed["upstream"] = st[r]
		case sockfilter.ListenerPassed:
			passed["listener"] = st[r]
		default:
			drops[r.String()] = st[r]
		}
	}
	return drops, passed
}
