package masterd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// SIGUSR1 statistics and the NetState refresher (area D).
const (
	// statsWait bounds how long a SIGUSR1 waits for dnsd's report.
	statsWait = 3 * time.Second
	// netStateRefresh is how often the master re-reads the local networks
	// and the neighbour table for local-service and add-mac, and sends
	// them to dnsd when they changed. dnsmasq reads the neighbour table
	// when a query needs it; a second keeps a new client's MAC missing
	// from its forwarded queries for a second at most.
	netStateRefresh = time.Second
	// netStateFirstTry is how soon the master tries again when dnsd was
	// not running yet, so that dnsd has the table right after it starts.
	netStateFirstTry = 10 * time.Millisecond
)

// statsState is the master's side of the statistics requests.
type statsState struct {
	mu     sync.Mutex
	nextID uint64

	// Issue 6 (stats_requests.go): the other answers workers send when
	// asked (cache dumps, metrics), by request id; the workers' last
	// Ready, for moatctl status; when serving started.
	answers map[uint64]chan *ipcpb.Envelope
	workers map[string]workerReady
	started time.Time
}

// dumpStats is SIGUSR1: it asks dnsd for its counters and writes them to
// the log in dnsmasq's words. It returns at once; the report is logged
// when it arrives (or a line saying it did not).
func (m *master) dumpStats() {
	// The report, then the rest of a long cache dump in more reports.
	ch, forget, err := m.ask("dnsd", statsChunks, func(id uint64) *ipcpb.Envelope {
		return &ipcpb.Envelope{Msg: &ipcpb.Envelope_StatsRequest{StatsRequest: &ipcpb.StatsRequest{Id: id}}}
	})
	if errors.Is(err, errRoleDisabled) {
		m.log.printf("master", "statistics: DNS is disabled")
		return
	}
	if err != nil {
		m.log.printf("master", "statistics: dnsd is not running (%v)", err)
		return
	}
	go func() {
		defer forget()
		timeout := time.After(statsWait)
		first := true
		for {
			select {
			case env := <-ch:
				r := env.GetStatsReport()
				var lines []string
				if first {
					lines = formatStats(r, time.Now())
					if r.GetDumpCache() {
						lines = append(lines, cacheDumpHead()...)
					}
					first = false
				}
				lines = append(lines, formatCacheDump(r.GetCacheDump())...)
				for _, line := range lines {
					m.log.printf("master", "%s", line)
				}
				if !r.GetDumpContinues() {
					return
				}
			case <-timeout:
				m.log.printf("master", "statistics: no (complete) answer from dnsd within %v", statsWait)
				return
			}
		}
	}()
}

// statsChunks bounds the reports of one SIGUSR1 that wait to be logged;
// a dump needing more loses its tail (and says so by the timeout line).
const statsChunks = 64

// handleWorkerMessage takes a message a worker sent after Ready. It
// reports false for anything the master did not ask for, which the
// supervisor treats as a protocol violation.
func (m *master) handleWorkerMessage(role string, env *ipcpb.Envelope) bool {
	if id, ok := askedAnswer(role, env); ok { // stats_requests.go
		return m.deliverAnswer(id, env)
	}
	return false
}

// formatStats writes a report in the lines dnsmasq 2.90 logs on SIGUSR1
// (without its DNSSEC and memory-pool lines, which have no meaning here;
// the TCP line counts connections, which dnsmasq serves in child
// processes and moat in goroutines). With log-queries the cache dump
// follows (formatCacheDump).
func formatStats(r *ipcpb.StatsReport, now time.Time) []string {
	lines := []string{
		fmt.Sprintf("time %d", now.Unix()),
		fmt.Sprintf("cache size %d, %d/%d cache insertions re-used unexpired cache entries.",
			r.GetCacheSize(), r.GetCacheLiveEvictions(), r.GetCacheInserts()),
		fmt.Sprintf("queries forwarded %d, queries answered locally %d", r.GetQueriesForwarded(), r.GetQueriesAnsweredLocally()),
	}
	if r.GetUseStaleCache() {
		lines = append(lines, fmt.Sprintf("queries answered from stale cache %d", r.GetStaleAnswers()))
	}
	lines = append(lines, "queries for authoritative zones 0")
	lines = append(lines, fmt.Sprintf("child processes for TCP requests: in use %d, highest since last SIGUSR1 %d, max allowed %d.",
		r.GetTcpInUse(), r.GetTcpHighest(), r.GetTcpMax()))
	for _, s := range r.GetServers() {
		addr := s.GetAddress()
		if ap, err := netip.ParseAddrPort(addr); err == nil {
			addr = ap.Addr().String() + "#" + strconv.Itoa(int(ap.Port()))
		}
		lines = append(lines, fmt.Sprintf("server %s: queries sent %d, retried %d, failed %d, nxdomain replies %d, avg. latency %dms",
			addr, s.GetQueries(), s.GetRetried(), s.GetFailed(), s.GetNxdomain(), s.GetAvgLatencyMs()))
	}
	if n := r.GetServersOmitted(); n > 0 {
		lines = append(lines, fmt.Sprintf("%d more servers not listed", n))
	}
	if n := r.GetLogLinesLost(); n > 0 {
		lines = append(lines, fmt.Sprintf("log-queries lines lost because logging fell behind: %d", n))
	}
	return lines
}

// refreshNetState keeps dnsd's view of the local networks (local-service)
// and the neighbour table (add-mac) current: it reads both every
// netStateRefresh and sends a NetState when they changed or dnsd was
// restarted. It does nothing when neither option is on.
func (m *master) refreshNetState(ctx context.Context) {
	f := m.cfg.Filters
	wantNets := m.cfg.Port != 0 && localServiceMode(m.cfg) == ipcpb.LocalService_LOCAL_SERVICE_NET
	wantNeighbours := m.cfg.Port != 0 && (f.AddMAC || f.AddMACBase64 || f.AddMACText)
	sup := m.supervisorOf("dnsd")
	if sup == nil || (!wantNets && !wantNeighbours) {
		return
	}
	var lastConn *ipc.Conn
	var lastSent *ipcpb.NetState
	warned := map[string]bool{}
	warn := func(what string, err error) {
		if !warned[what] {
			warned[what] = true
			m.log.printf("master", "%s: %v", what, err)
		}
	}
	for {
		ns := &ipcpb.NetState{}
		if wantNets {
			nets, err := localNetworks()
			if err != nil {
				warn("local-service", err)
			}
			ns.LocalNetworks = nets
		}
		if wantNeighbours {
			nbs, err := readNeighbours()
			if err != nil {
				warn("add-mac", err)
			}
			ns.Neighbours = nbs
		}
		if dropped := fitNetState(ns); dropped > 0 {
			warn("add-mac", fmt.Errorf("neighbour table too large: %d entries not sent to dnsd", dropped))
		}
		sent := false
		_ = sup.withReady(func(c *ipc.Conn) error {
			sent = true
			if c == lastConn && proto.Equal(ns, lastSent) {
				return nil
			}
			if err := c.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_NetState{NetState: ns}}); err != nil {
				sent = false
				return err
			}
			lastConn, lastSent = c, ns
			return nil
		})
		wait, ready := netStateRefresh, (<-chan struct{})(nil)
		if !sent {
			// dnsd is starting: send as soon as it is ready.
			wait, ready = netStateFirstTry, sup.firstReady
		}
		select {
		case <-ctx.Done():
			return
		case <-ready:
		case <-time.After(wait):
		}
	}
}
