package masterd

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// The series /metrics serves (docs/operations.md lists them): the
// master's own (workers, restarts, leases per range, socket filter
// drops) and the workers' counters, asked for at each scrape.

// scrape gathers every series into one exposition.
func (m *master) scrape(ctx context.Context, now time.Time) []byte {
	var e exposition
	e.family("moat_build_info", "gauge", "moatd's version; always 1.")
	e.sample("moat_build_info", []label{{"version", Version}}, 1)
	e.single("moat_start_time_seconds", "gauge", "When the master started serving, in seconds since the Unix epoch.", float64(m.stats.started.UnixNano())/1e9)

	var dnsM *ipcpb.DNSMetrics
	var dhcpM *ipcpb.DHCPMetrics
	if env, err := m.askOne(ctx, "dnsd", metricsRequest); err == nil {
		dnsM = env.GetDnsMetrics()
	}
	if env, err := m.askOne(ctx, "dhcpd", metricsRequest); err == nil {
		dhcpM = env.GetDhcpMetrics()
	}
	m.workerSeries(&e, map[string]bool{"dnsd": dnsM != nil, "dhcpd": dhcpM != nil})
	if dnsM != nil {
		dnsSeries(&e, dnsM)
	}
	m.filterSeries(&e)
	if dhcpM != nil {
		dhcpSeries(&e, dhcpM)
	}
	if m.leases != nil {
		m.leaseSeries(&e, now)
	}
	return e.b.Bytes()
}

func metricsRequest(id uint64) *ipcpb.Envelope {
	return &ipcpb.Envelope{Msg: &ipcpb.Envelope_MetricsRequest{MetricsRequest: &ipcpb.MetricsRequest{Id: id}}}
}

// workerSeries: per role, whether it answered this scrape, and its
// restarts.
func (m *master) workerSeries(e *exposition, answered map[string]bool) {
	e.family("moat_worker_up", "gauge", "Whether the worker answered this scrape (1) or not (0).")
	for _, s := range m.sups {
		e.sample("moat_worker_up", []label{{"role", s.role}}, boolValue(answered[s.role]))
	}
	e.family("moat_worker_restarts_total", "counter", "Times the master restarted the worker.")
	for _, s := range m.sups {
		s.mu.Lock()
		n := s.restarts
		s.mu.Unlock()
		e.sample("moat_worker_restarts_total", []label{{"role", s.role}}, float64(n))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// dnsSeries: dnsd's counters.
func dnsSeries(e *exposition, d *ipcpb.DNSMetrics) {
	e.single("moat_dns_queries_total", "counter", "DNS queries received (UDP datagrams and TCP messages).", float64(d.GetQueries()))
	e.family("moat_dns_query_results_total", "counter",
		"DNS queries by how they ended: answered from the cache, from local data (hosts, address=, local=, leases), by a query filter or a CHAOS name; forwarded upstream; refused for want of a server; SERVFAIL after every server failed; dropped.")
	for _, r := range []struct {
		result string
		n      uint64
	}{
		{"cache", d.GetAnsweredCache()}, {"local", d.GetAnsweredLocal()}, {"filtered", d.GetAnsweredFiltered()}, {"chaos", d.GetAnsweredChaos()},
		{"forwarded", d.GetForwarded()}, {"refused", d.GetRefused()}, {"servfail", d.GetServfail()},
		{"malformed", d.GetMalformed()}, {"not_implemented", d.GetNotImplemented()}, {"disallowed", d.GetDisallowed()},
		{"forward_limit", d.GetForwardDropped()}, {"client_limit", d.GetClientLimited()},
	} {
		e.sample("moat_dns_query_results_total", []label{{"result", r.result}}, float64(r.n))
	}
	for _, c := range []struct {
		name, help string
		n          uint64
	}{
		{"moat_dns_cache_hits_total", "Cache lookups that found an answer (stale answers included).", d.GetCacheHits() + d.GetCacheStaleHits()},
		{"moat_dns_cache_misses_total", "Cache lookups that found none.", d.GetCacheMisses()},
		{"moat_dns_cache_insertions_total", "Answers stored in the cache.", d.GetCacheInserts()},
		{"moat_dns_cache_evictions_total", "Entries evicted before they expired, to make room.", d.GetCacheEvictions()},
		{"moat_dns_cache_expired_total", "Entries dropped because they expired.", d.GetCacheExpired()},
		{"moat_dns_cache_stale_answers_total", "Answers given from expired entries (use-stale-cache).", d.GetCacheStaleHits()},
	} {
		e.single(c.name, "counter", c.help, float64(c.n))
	}
	e.single("moat_dns_cache_entries", "gauge", "Entries in the cache now.", float64(d.GetCacheEntries()))
	e.single("moat_dns_cache_size", "gauge", "The cache's capacity (cache-size).", float64(d.GetCacheSize()))
	e.family("moat_dns_upstream_errors_total", "counter", "Upstream exchanges that failed: network errors and timeouts, replies not matching the query, unparsable replies.")
	e.sample("moat_dns_upstream_errors_total", []label{{"kind", "network"}}, float64(d.GetUpstreamErrors()))
	e.sample("moat_dns_upstream_errors_total", []label{{"kind", "mismatch"}}, float64(d.GetUpstreamMismatch()))
	e.sample("moat_dns_upstream_errors_total", []label{{"kind", "unparsable"}}, float64(d.GetUpstreamBad()))
	e.family("moat_dns_filtered_replies_total", "counter", "Upstream replies changed or refused by a reply filter (stop-dns-rebind, bogus-nxdomain) and queries dropped by local-service.")
	e.sample("moat_dns_filtered_replies_total", []label{{"reason", "rebind"}}, float64(d.GetRebindBlocked()))
	e.sample("moat_dns_filtered_replies_total", []label{{"reason", "bogus_nxdomain"}}, float64(d.GetBogusNxdomain()))
	e.sample("moat_dns_filtered_replies_total", []label{{"reason", "non_local"}}, float64(d.GetNonLocalDropped()))
	rcodeSeries(e, d.GetResponsesByRcode())
	e.single("moat_dns_tcp_rejected_total", "counter", "TCP connections refused (over the limit or not allowed).", float64(d.GetTcpRejected()))
	e.single("moat_dns_write_errors_total", "counter", "Replies that could not be sent to the client.", float64(d.GetWriteErrors()))
	upstreamSeries(e, d.GetServers())
}

// rcodeNames are the DNS RCODEs a header holds (RFC 1035, 2136, 8490),
// by value; 12-15 are unassigned.
var rcodeNames = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI"}

func rcodeName(i int) string {
	if i < len(rcodeNames) {
		return rcodeNames[i]
	}
	return "RCODE" + strconv.Itoa(i)
}

// rcodeAlwaysListed: NOERROR (0) to REFUSED (5), the codes a forwarder
// deals in, are listed even at 0.
const rcodeAlwaysListed = 5

// rcodeSeries: the replies dnsd sent, by the RCODE in their header.
func rcodeSeries(e *exposition, counts []uint64) {
	e.family("moat_dns_responses_total", "counter", "DNS replies sent, by the RCODE in their header, on every path (cache, local data, filters, upstream answers, errors; UDP and TCP).")
	for i := range max(len(counts), rcodeAlwaysListed+1) {
		var n uint64
		if i < len(counts) {
			n = counts[i]
		}
		if n == 0 && i > rcodeAlwaysListed {
			continue
		}
		e.sample("moat_dns_responses_total", []label{{"rcode", rcodeName(i)}}, float64(n))
	}
}

// upstreamSeries: per upstream server, its counters and latency.
func upstreamSeries(e *exposition, servers []*ipcpb.UpstreamMetrics) {
	for _, c := range []struct {
		name, help string
		get        func(*ipcpb.UpstreamMetrics) uint64
	}{
		{"moat_dns_upstream_queries_total", "Queries sent to the server, retries included.", (*ipcpb.UpstreamMetrics).GetSent},
		{"moat_dns_upstream_retries_total", "Of the queries sent, those that were retries.", (*ipcpb.UpstreamMetrics).GetRetried},
		{"moat_dns_upstream_failures_total", "Tries that got no usable answer: timeout, network error, SERVFAIL, REFUSED.", (*ipcpb.UpstreamMetrics).GetFailed},
		{"moat_dns_upstream_answers_total", "Usable answers from the server.", (*ipcpb.UpstreamMetrics).GetAnswered},
		{"moat_dns_upstream_nxdomain_total", "NXDOMAIN answers from the server.", (*ipcpb.UpstreamMetrics).GetNxdomain},
	} {
		e.family(c.name, "counter", c.help)
		for _, s := range servers {
			e.sample(c.name, []label{{"server", s.GetAddress()}}, float64(c.get(s)))
		}
	}
	e.family("moat_dns_upstream_latency_seconds", "histogram", "Latency of the server's usable answers.")
	bounds := make([]float64, len(ipc.UpstreamLatencyBoundsMs))
	for i, ms := range ipc.UpstreamLatencyBoundsMs {
		bounds[i] = ms / 1000
	}
	for _, s := range servers {
		if len(s.GetLatencyBuckets()) != len(bounds)+1 {
			continue
		}
		e.histogram("moat_dns_upstream_latency_seconds", []label{{"server", s.GetAddress()}}, bounds, s.GetLatencyBuckets(), float64(s.GetLatencySumUs())/1e6)
	}
}

// socketFilterModes are the values moat_socket_filter_active lists, each
// at 0 or 1, so a dashboard sees a change of mode as one series going to
// 0 and another to 1 (a state set) rather than a series vanishing.
var socketFilterModes = []string{"ebpf", "classic", "none"}

// filterSeries: which socket filter is active (issue 5: "the log and
// metrics say which is active"), and the eBPF socket filters' counters
// (sockfilter_stats.go): drops by reason and passes by filter; no
// counters without eBPF.
func (m *master) filterSeries(e *exposition) {
	active := m.socketFilterActive()
	e.family("moat_socket_filter_active", "gauge", "The socket filter in force on the DNS sockets (ebpf, classic or none): 1 for the active mode, 0 for the others.")
	for _, mode := range socketFilterModes {
		e.sample("moat_socket_filter_active", []label{{"mode", mode}}, boolValue(mode == active))
	}
	drops, passed := m.socketFilterDrops(), m.socketFilterPassed()
	if drops == nil && passed == nil {
		return
	}
	e.family("moat_socket_filter_drops_total", "counter", "Datagrams the eBPF socket filters dropped in the kernel, by reason.")
	for _, r := range sortedKeys(drops) {
		e.sample("moat_socket_filter_drops_total", []label{{"reason", r}}, float64(drops[r]))
	}
	e.family("moat_socket_filter_passed_total", "counter", "Datagrams the eBPF socket filters let through, by filter.")
	for _, f := range sortedKeys(passed) {
		e.sample("moat_socket_filter_passed_total", []label{{"filter", f}}, float64(passed[f]))
	}
}

// dhcpTypeNames are DHCP message types (RFC 2132, 4388, 6926) by option
// 53's value.
var dhcpTypeNames = []string{"none", "discover", "offer", "request", "decline", "ack", "nak", "release", "inform",
	"forcerenew", "leasequery", "leaseunassigned", "leaseunknown", "leaseactive", "bulkleasequery", "leasequerydone",
	"activeleasequery", "leasequerystatus", "tls"}

func dhcpTypeName(i int) string {
	if i < len(dhcpTypeNames) {
		return dhcpTypeNames[i]
	}
	return "type_" + strconv.Itoa(i)
}

// dhcpAlwaysListed: DISCOVER (1) to INFORM (8) are listed even at 0.
const dhcpAlwaysListed = 8

// dhcpSeries: dhcpd's counters; message types a server deals in are
// always listed, others when seen.
func dhcpSeries(e *exposition, d *ipcpb.DHCPMetrics) {
	for _, dir := range []struct {
		name, help string
		counts     []uint64
	}{
		{"moat_dhcp_messages_received_total", "DHCP requests received, by message type (none: BOOTP).", d.GetReceived()},
		{"moat_dhcp_messages_sent_total", "DHCP replies sent, by message type.", d.GetSent()},
	} {
		e.family(dir.name, "counter", dir.help)
		for i := range max(len(dir.counts), dhcpAlwaysListed+1) {
			var n uint64
			if i < len(dir.counts) {
				n = dir.counts[i]
			}
			if n == 0 && (i == 0 || i > dhcpAlwaysListed) {
				continue
			}
			e.sample(dir.name, []label{{"type", dhcpTypeName(i)}}, float64(n))
		}
	}
	e.single("moat_dhcp_malformed_total", "counter", "DHCP datagrams dropped as malformed.", float64(d.GetMalformed()))
	e.family("moat_dhcp_dropped_total", "counter", "DHCP datagrams dropped unserved, by reason: malformed (short, not_request, bad_hlen, bad_htype, bad_cookie, option_overrun, no_end, bad_message_type), oversize, not_ipv4, panic.")
	for _, r := range sortedKeys(d.GetDropped()) {
		e.sample("moat_dhcp_dropped_total", []label{{"reason", r}}, float64(d.GetDropped()[r]))
	}
	e.single("moat_dhcp_overload_dropped_total", "counter", "DHCP requests dropped unserved under overload.", float64(d.GetOverload()))
	e.single("moat_dhcp_send_failures_total", "counter", "DHCP replies that could not be sent.", float64(d.GetSendFailed()))
}

// leaseSeries: unexpired leases per dhcp-range, and each range's size.
func (m *master) leaseSeries(e *exposition, now time.Time) {
	ranges := m.leases.ranges
	inUse := make([]int, len(ranges))
	for _, l := range m.leases.store.Leases() {
		if l.Expired(now) {
			continue
		}
		for i, r := range ranges {
			if inRange(l.Addr, r.Start, r.End) {
				inUse[i]++
				break
			}
		}
	}
	e.family("moat_dhcp_leases", "gauge", "Unexpired leases in each dhcp-range.")
	for i, r := range ranges {
		e.sample("moat_dhcp_leases", []label{{"range", r.Start.String() + "-" + r.End.String()}}, float64(inUse[i]))
	}
	e.family("moat_dhcp_range_addresses", "gauge", "Addresses in each dhcp-range.")
	for _, r := range ranges {
		e.sample("moat_dhcp_range_addresses", []label{{"range", r.Start.String() + "-" + r.End.String()}}, float64(rangeSize(r.Start, r.End)))
	}
	e.single("moat_dhcp_leases_total", "gauge", "Leases in the lease store, expired ones not yet removed included.", float64(m.leases.store.Len()))
}

func inRange(a, start, end netip.Addr) bool {
	return a.BitLen() == start.BitLen() && a.Compare(start) >= 0 && a.Compare(end) <= 0
}

// rangeSize counts an IPv4 range's addresses (0 for anything else).
func rangeSize(start, end netip.Addr) uint64 {
	if !start.Is4() || !end.Is4() || end.Less(start) {
		return 0
	}
	s, t := start.As4(), end.As4()
	a := uint64(s[0])<<24 | uint64(s[1])<<16 | uint64(s[2])<<8 | uint64(s[3])
	b := uint64(t[0])<<24 | uint64(t[1])<<16 | uint64(t[2])<<8 | uint64(t[3])
	return b - a + 1
}

func sortedKeys(m map[string]uint64) []string {
	return slices.Sorted(maps.Keys(m))
}
