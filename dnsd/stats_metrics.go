package dnsd

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/moatdns/moat/internal/cache"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Issue 6: the counters behind the master's /metrics (DNSMetrics) and
// moatctl dump's cache records (CacheDumpChunk). dnsd only reports; the
// master formats and serves them, so no worker listens on anything new.

// latencyHistogram counts upstream answer latencies in the buckets of
// ipc.UpstreamLatencyBoundsMs (one more for the slower answers). It is
// lock-free: the forwarding path adds to it concurrently.
type latencyHistogram struct {
	buckets [latencyBuckets]atomic.Uint64
	sumUs   atomic.Uint64
}

// latencyBuckets is len(ipc.UpstreamLatencyBoundsMs)+1, as a constant
// for the array (checked by a test).
const latencyBuckets = 12

// observe adds one answer's latency.
func (h *latencyHistogram) observe(d time.Duration) {
	d = max(d, 0)
	ms := float64(d) / float64(time.Millisecond)
	i := 0
	for i < len(ipc.UpstreamLatencyBoundsMs) && ms > ipc.UpstreamLatencyBoundsMs[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumUs.Add(uint64(d / time.Microsecond))
}

// snapshot copies the buckets (not atomically as a whole: a count may be
// one answer ahead of the sum, which a scrape tolerates).
func (h *latencyHistogram) snapshot() ([]uint64, uint64) {
	out := make([]uint64, latencyBuckets)
	for i := range out {
		out[i] = h.buckets[i].Load()
	}
	return out, h.sumUs.Load()
}

// metrics gathers DNSMetrics (without the id).
func (s *Server) metrics() *ipcpb.DNSMetrics {
	st := s.st.Load()
	var cs cache.Stats
	m := &ipcpb.DNSMetrics{
		Queries:          s.stats.queries.Load(),
		AnsweredLocal:    s.stats.hostsAnswers.Load() + s.stats.localAnswers.Load(),
		AnsweredFiltered: s.filt.filtered.Load(),
		AnsweredChaos:    s.filt.chaos.Load(),
		Forwarded:        s.stats.forwarded.Load(),
		Refused:          s.stats.refused.Load(),
		Servfail:         s.stats.servfail.Load(),
		Malformed:        s.stats.malformed.Load(),
		NotImplemented:   s.stats.notImplemented.Load(),
		Disallowed:       s.stats.disallowed.Load(),
		ForwardDropped:   s.stats.forwardDropped.Load(),
		ClientLimited:    s.stats.clientLimited.Load(),
		UpstreamErrors:   s.stats.upstreamErrors.Load(),
		UpstreamMismatch: s.stats.upstreamMismatch.Load(),
		UpstreamBad:      s.stats.upstreamBad.Load(),
		TcpRejected:      s.stats.tcpRejected.Load(),
		WriteErrors:      s.stats.writeErrors.Load(),
		RebindBlocked:    s.filt.rebindBlocked.Load(),
		BogusNxdomain:    s.filt.bogusNX.Load(),
		NonLocalDropped:  s.filt.nonLocal.Load(),
		ResponsesByRcode: s.stats.rcodes.snapshot(), // stats_rcode.go
	}
	if st != nil {
		cs = s.filt.totals.total(st.cache)
		m.CacheSize = uint64(st.cfg.cacheSize)
		if st.cache != nil {
			m.CacheEntries = uint64(st.cache.Len())
		}
	}
	m.AnsweredCache = cs.Hits + cs.StaleHits
	m.CacheHits, m.CacheMisses, m.CacheInserts = cs.Hits, cs.Misses, cs.Inserts
	m.CacheEvictions, m.CacheExpired, m.CacheStaleHits = cs.Evictions, cs.Expired, cs.StaleHits
	m.Servers = s.upstreamMetrics(st)
	if len(m.Servers) > ipc.MaxStatsServers {
		m.ServersOmitted = uint32(len(m.Servers) - ipc.MaxStatsServers)
		m.Servers = m.Servers[:ipc.MaxStatsServers]
	}
	return m
}

// upstreamMetrics lists each server address once, in configuration
// order, summing the states of the same address (as serverStats does).
func (s *Server) upstreamMetrics(st *state) []*ipcpb.UpstreamMetrics {
	if st == nil {
		return nil
	}
	index := map[netip.AddrPort]*ipcpb.UpstreamMetrics{}
	var out []*ipcpb.UpstreamMetrics
	for _, u := range st.cfg.upstream.servers {
		um := index[u.id.addr]
		if um == nil {
			um = &ipcpb.UpstreamMetrics{Address: u.id.addr.String(), LatencyBuckets: make([]uint64, latencyBuckets)}
			index[u.id.addr] = um
			out = append(out, um)
		}
		um.Sent += u.sent.Load()
		um.Retried += u.retried.Load()
		um.Failed += u.failed.Load()
		um.Answered += u.answered.Load()
		um.Nxdomain += u.nxdomain.Load()
		buckets, sum := u.latency.snapshot()
		for i, n := range buckets {
			um.LatencyBuckets[i] += n
		}
		um.LatencySumUs += sum
	}
	return out
}

// reportMetrics answers a MetricsRequest.
func (s *Server) reportMetrics(conn *ipc.Conn, req *ipcpb.MetricsRequest) error {
	m := s.metrics()
	m.Id = req.GetId()
	if err := conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsMetrics{DnsMetrics: m}}); err != nil {
		return fmt.Errorf("send metrics: %w", err)
	}
	return nil
}

// reportCacheDump answers a CacheDumpRequest: the records of one snapshot
// of the cache (cacheDump, the same records as the SIGUSR1 dump), in
// chunks under the message size cap.
func (s *Server) reportCacheDump(conn *ipc.Conn, req *ipcpb.CacheDumpRequest) error {
	var entries []*ipcpb.CacheDumpEntry
	if st := s.st.Load(); st != nil {
		entries = cacheDump(st.cache)
	}
	return sendCacheDump(conn, req.GetId(), time.Now(), entries, len(entries) >= maxDumpEntries)
}

// sendCacheDump sends entries as CacheDumpChunks with id, at least one
// (an empty cache is one empty chunk).
func sendCacheDump(conn *ipc.Conn, id uint64, now time.Time, entries []*ipcpb.CacheDumpEntry, truncated bool) error {
	for first := true; first || len(entries) > 0; first = false {
		c := &ipcpb.CacheDumpChunk{Id: id, Now: now.Unix()}
		size := 0
		for len(entries) > 0 && len(c.Entries) < ipc.MaxCacheDumpChunkEntries {
			n := proto.Size(entries[0]) + 8
			if size+n > dumpChunkBytes && len(c.Entries) > 0 {
				break
			}
			c.Entries = append(c.Entries, entries[0])
			entries = entries[1:]
			size += n
		}
		c.More = len(entries) > 0
		c.Truncated = truncated && !c.More
		if err := conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_CacheDumpChunk{CacheDumpChunk: c}}); err != nil {
			return fmt.Errorf("send cache dump: %w", err)
		}
	}
	return nil
}
