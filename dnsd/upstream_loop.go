package dnsd

import (
	"fmt"
	"net/netip"
	"strconv"
	"sync"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// dns-loop-detect (area C), dnsmasq 2.90's loop.c: each server for every
// name (no domain) gets a TXT query for "<uid>.test", the uid naming the
// server. If such a query arrives here as a client query, the server sent
// it back to us, directly or through others: it is disabled (no query
// goes to it) and the probe is dropped. Each time the set of servers
// changes, every server is probed again, disabled ones included.

// loopTestDomain is dnsmasq's LOOP_TEST_DOMAIN.
const loopTestDomain = "test"

type loopState struct {
	mu     sync.Mutex
	uids   map[uint32]*upstreamState
	probed map[upstreamID]bool // the set of servers last probed
}

// probeLoops probes the default servers of cfg when dns-loop-detect is on
// and they differ from those probed last.
func (s *Server) probeLoops(cfg *runConfig) {
	ls := &s.up.loop
	if !cfg.upstream.policy.loopDetect {
		ls.mu.Lock()
		ls.uids, ls.probed = nil, nil
		ls.mu.Unlock()
		return
	}
	set := map[upstreamID]bool{}
	var ups []upstream
	for _, up := range cfg.defaults {
		if !set[up.state.id] {
			set[up.state.id] = true
			ups = append(ups, up)
		}
	}
	ls.mu.Lock()
	same := len(set) == len(ls.probed)
	for id := range set {
		same = same && ls.probed[id]
	}
	if same {
		ls.mu.Unlock()
		return
	}
	ls.probed = set
	ls.uids = make(map[uint32]*upstreamState, len(ups))
	for _, up := range ups {
		uid := randomUint32()
		for ls.uids[uid] != nil {
			uid = randomUint32()
		}
		up.state.loopUID.Store(uid)
		up.state.looped.Store(false)
		ls.uids[uid] = up.state
	}
	ls.mu.Unlock()
	for _, up := range ups {
		if err := sendLoopProbe(&up, &cfg.upstream.policy, up.state.loopUID.Load()); err != nil {
			s.log.printf("loop probe to %s: %v", up.label, err)
		}
	}
}

// loopProbeQuery packs the TXT query for "<uid>.test".
func loopProbeQuery(uid uint32) ([]byte, error) {
	m := new(dns.Msg)
	m.Id = randomID()
	m.RecursionDesired = true
	m.Question = []dns.Question{{Name: fmt.Sprintf("%08x.%s.", uid, loopTestDomain), Qtype: dns.TypeTXT, Qclass: dns.ClassINET}}
	return m.Pack()
}

// sendLoopProbe sends one probe from a fresh socket; the answer, if any,
// does not matter.
func sendLoopProbe(up *upstream, pol *upstreamPolicy, uid uint32) error {
	pkt, err := loopProbeQuery(uid)
	if err != nil {
		return err
	}
	port := sourcePort(up, pol)
	if port > 0 {
		port = -1 // a fixed port belongs to the shared socket
	}
	fd, raddr, err := upstreamSocket(unix.SOCK_DGRAM, up, pol, port)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Sendto(fd, pkt, 0, raddr)
}

// isLoopProbe reports whether req is one of our own loop probes coming
// back, and if so disables the server it was sent to. A probe is dropped
// (no answer), as dnsmasq drops it.
func (s *Server) isLoopProbe(req *request) bool {
	k := req.key
	if req.q.Qtype != dns.TypeTXT || req.q.Qclass != dns.ClassINET || len(k) != 9+len(loopTestDomain) ||
		k[8] != '.' || k[9:] != loopTestDomain || !req.st.cfg.upstream.policy.loopDetect {
		return false
	}
	uid, err := strconv.ParseUint(k[:8], 16, 32)
	if err != nil {
		return false
	}
	ls := &s.up.loop
	ls.mu.Lock()
	st := ls.uids[uint32(uid)]
	ls.mu.Unlock()
	if st == nil || !st.looped.CompareAndSwap(false, true) {
		return false
	}
	s.log.printf("NOT using nameserver %s - query loop detected", labelWithPort(st.id.addr))
	return true
}

// labelWithPort is dnsmasq's "192.0.2.1#53" server naming in its
// start-up and loop messages.
func labelWithPort(ap netip.AddrPort) string {
	return ap.Addr().String() + "#" + strconv.Itoa(int(ap.Port()))
}
