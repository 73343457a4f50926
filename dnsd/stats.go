package dnsd

import (
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/moatdns/moat/internal/cache"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// statsSnapshot is what dnsmasq's SIGUSR1 dump and its CHAOS *.bind names
// report, counted since dnsd started (a new cache after SIGHUP does not
// reset them, as dnsmasq's metrics are not reset).
type statsSnapshot struct {
	cacheSize      int
	inserts        uint64
	liveEvictions  uint64 // entries evicted to make room ("re-used")
	forwarded      uint64 // dnsmasq's "queries forwarded" (misses.bind)
	answeredLocal  uint64 // dnsmasq's "queries answered locally" (hits.bind)
	staleAnswers   uint64
	useStaleCache  bool
	servers        []*ipcpb.ServerStats
	logLinesLost   uint64
	nonLocalDrops  uint64
	rebindBlocked  uint64
	bogusNXDomains uint64
}

// cacheTotals carries the counters of caches that were replaced (SIGHUP
// starts a new cache), so totals keep counting.
type cacheTotals struct {
	mu      sync.Mutex
	current *cache.Cache
	carried cache.Stats
}

// total returns the counters of c plus those of every cache before it.
// A replaced cache is read once more when it is noticed, so answers it
// gave after the last look are counted too.
func (t *cacheTotals) total(c *cache.Cache) cache.Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c != t.current {
		if t.current != nil {
			t.carried = addCacheStats(t.carried, t.current.Stats())
		}
		t.current = c
	}
	if c == nil {
		return t.carried
	}
	return addCacheStats(t.carried, c.Stats())
}

func addCacheStats(a, b cache.Stats) cache.Stats {
	a.Hits += b.Hits
	a.Misses += b.Misses
	a.Inserts += b.Inserts
	a.Evictions += b.Evictions
	a.Expired += b.Expired
	a.StaleHits += b.StaleHits
	return a
}

// snapshot gathers the counters.
func (s *Server) snapshot() statsSnapshot {
	st := s.st.Load()
	var cs cache.Stats
	snap := statsSnapshot{
		forwarded:      s.stats.forwarded.Load(),
		logLinesLost:   s.log.dropped.Load(),
		nonLocalDrops:  s.filt.nonLocal.Load(),
		rebindBlocked:  s.filt.rebindBlocked.Load(),
		bogusNXDomains: s.filt.bogusNX.Load(),
	}
	if st != nil {
		cs = s.filt.totals.total(st.cache)
		snap.cacheSize = st.cfg.cacheSize
		snap.useStaleCache = st.cfg.cache.opts.Stale
	}
	snap.servers = s.serverStats()
	snap.inserts = cs.Inserts
	snap.liveEvictions = cs.Evictions
	snap.staleAnswers = cs.StaleHits
	// Everything answered without asking upstream: the cache, hosts and
	// local data, local=/dom/, the query filters and CHAOS names.
	snap.answeredLocal = cs.Hits + cs.StaleHits + s.stats.hostsAnswers.Load() + s.stats.localAnswers.Load() +
		s.filt.filtered.Load() + s.filt.chaos.Load()
	return snap
}

// serverStats lists every upstream server once, in configuration order,
// with the upstream code's counters; entries for the same address (a
// server given twice, for different domains or interfaces) are summed, as
// dnsmasq sums them.
func (s *Server) serverStats() []*ipcpb.ServerStats {
	index := map[netip.AddrPort]int{}
	var out []*ipcpb.ServerStats
	var latency []time.Duration
	var counted []uint64
	for _, u := range s.upstreamStats() {
		i, ok := index[u.Addr]
		if !ok {
			i = len(out)
			index[u.Addr] = i
			out = append(out, &ipcpb.ServerStats{Address: u.Addr.String()})
			latency, counted = append(latency, 0), append(counted, 0)
		}
		sv := out[i]
		sv.Queries += u.Sent
		sv.Retried += u.Retried
		sv.Failed += u.Failed
		sv.Nxdomain += u.NXDomain
		latency[i] += u.AvgLatency
		counted[i]++
	}
	for i, sv := range out {
		sv.AvgLatencyMs = uint64((latency[i] / time.Duration(counted[i])).Milliseconds())
	}
	return out
}

// reportStats answers the master's StatsRequest.
func (s *Server) reportStats(conn *ipc.Conn, req *ipcpb.StatsRequest) error {
	snap := s.snapshot()
	r := &ipcpb.StatsReport{
		Id:                     req.GetId(),
		CacheSize:              uint64(snap.cacheSize),
		CacheInserts:           snap.inserts,
		CacheLiveEvictions:     snap.liveEvictions,
		QueriesForwarded:       snap.forwarded,
		QueriesAnsweredLocally: snap.answeredLocal,
		StaleAnswers:           snap.staleAnswers,
		UseStaleCache:          snap.useStaleCache,
		TcpMax:                 uint32(s.tcpMaxConns),
		LogLinesLost:           snap.logLinesLost,
	}
	r.TcpInUse, r.TcpHighest = s.filt.tcp.report()
	servers := snap.servers
	if len(servers) > ipc.MaxStatsServers {
		r.ServersOmitted = uint32(len(servers) - ipc.MaxStatsServers)
		servers = servers[:ipc.MaxStatsServers]
	}
	r.Servers = servers
	// dnsmasq dumps its cache after the counters when it logs queries.
	if st := s.st.Load(); st != nil && st.cfg.logQueries {
		r.DumpCache = true
		return sendDump(conn, r, cacheDump(st.cache))
	}
	return sendReport(conn, r)
}

// chaosServers is servers.bind's text: one string per server,
// "ip#port queries failed".
func chaosServers(servers []*ipcpb.ServerStats) []string {
	out := make([]string, 0, len(servers))
	for _, sv := range servers {
		ap, err := netip.ParseAddrPort(sv.GetAddress())
		if err != nil {
			continue
		}
		out = append(out, ap.Addr().String()+"#"+strconv.Itoa(int(ap.Port()))+" "+
			strconv.FormatUint(sv.GetQueries(), 10)+" "+strconv.FormatUint(sv.GetFailed(), 10))
	}
	return out
}

// handleStatsMessage handles the master's area D messages: a StatsRequest
// (SIGUSR1) and a NetState (local networks and neighbours).
func (s *Server) handleStatsMessage(conn *ipc.Conn, env *ipcpb.Envelope) error {
	switch m := env.GetMsg().(type) {
	case *ipcpb.Envelope_StatsRequest:
		return s.reportStats(conn, m.StatsRequest)
	case *ipcpb.Envelope_CacheDumpRequest: // issue 6: moatctl dump (stats_metrics.go)
		return s.reportCacheDump(conn, m.CacheDumpRequest)
	case *ipcpb.Envelope_MetricsRequest: // issue 6: the master's /metrics
		return s.reportMetrics(conn, m.MetricsRequest)
	case *ipcpb.Envelope_NetState:
		if err := s.filt.setNetState(m.NetState); err != nil {
			return fmt.Errorf("ipc: %w", err)
		}
	}
	return nil
}
