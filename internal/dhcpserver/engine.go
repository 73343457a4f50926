package dhcpserver

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/dhcpopts"
	"github.com/moatdns/moat/internal/leases"
)

// Timers, in dnsmasq's terms where it has them.
const (
	// declineBackoff: an address a client declined is not offered again
	// for this long (dnsmasq's DECLINE_BACKOFF, which it applies to
	// dhcp-host addresses; moat applies it to every address).
	declineBackoff = 600 * time.Second
	// inUseBackoff: an address that answered a ping is left alone.
	inUseBackoff = 600 * time.Second
	// offerHold: an offered address is kept for its client, and a probe
	// that found it free stays good, this long (dnsmasq's
	// PING_CACHE_TIME).
	offerHold = 30 * time.Second
	// pendingTimeout: a probe or commit the worker never answered is
	// forgotten after this long (Tick).
	pendingTimeout = 60 * time.Second
	// maxProbeRounds bounds how often one DISCOVER is probed again after
	// its addresses turned out to be in use.
	maxProbeRounds = 8
)

// Engine is the DHCPv4 server state machine. See the package comment.
type Engine struct {
	c          *compiled
	store      *store
	alloc      leases.Allocator
	rng        *rand.Rand
	domain     func(netip.Addr) string
	lookupHost func(string) netip.Addr
	noDNS      bool
	maxProbes  int
	logf       func(string, ...any)

	now time.Time

	// Per-call scratch, reused.
	req       request
	ctxs      []netCtx
	tags      tagSets
	tagsOpt   leases.TagSet // option_filter's first tag set
	optOK     []bool
	subs      []dhcpopts.SubOption
	scratchUC []byte
	wbuf      []byte
	pkt       packet
	out       []Outbound
	acts      []Action

	nextID        uint64
	probes        map[uint64]*pendingProbe
	probeByClient map[string]uint64
	overloaded    bool // MaxProbes reached: offers go out unprobed (logged once)
	commits       map[uint64]*pendingCommit
	// held are addresses offered to a client (by hash), with whether a
	// probe found them free; busy those declined or found in use, until
	// a Unix time.
	held map[netip.Addr]hold
	busy map[netip.Addr]int64
}

type hold struct {
	hash   uint32
	until  int64
	probed bool
}

type pendingProbe struct {
	in      Inbound
	key     string
	addr    netip.Addr
	hash    uint32
	pool    *leases.Pool
	rounds  int
	started int64
}

type pendingCommit struct {
	reply   Outbound
	held    bool
	undo    []undo
	started int64
}

// undo restores one address after a commit failed: the lease that was
// there before (had false: none) unless the address changed since.
type undo struct {
	addr  netip.Addr
	now   leases.Lease // what the commit wrote (had: whether it wrote one)
	wrote bool
	prev  leases.Lease
	had   bool
}

// New builds an engine.
func New(s Settings) (*Engine, error) {
	c, err := compile(&s)
	if err != nil {
		return nil, fmt.Errorf("dhcpserver: %w", err)
	}
	e := &Engine{c: c, store: newStore(), rng: newRand(s.Seed), domain: s.Domain, lookupHost: s.LookupHost,
		noDNS: s.NoDNSOption, maxProbes: s.MaxProbes, logf: s.Logf,
		tags: newTagSets(), tagsOpt: leases.TagSet{}, wbuf: make([]byte, dhcpPacketMax),
		probes: map[uint64]*pendingProbe{}, probeByClient: map[string]uint64{},
		commits: map[uint64]*pendingCommit{}, held: map[netip.Addr]hold{}, busy: map[netip.Addr]int64{}}
	if e.maxProbes <= 0 {
		e.maxProbes = DefaultMaxProbes
	}
	if e.domain == nil {
		e.domain = func(netip.Addr) string { return "" }
	}
	e.alloc = leases.Allocator{Leases: e.store.t, Hosts: c.hosts, Sequential: c.flags.Sequential, Busy: e.isBusy}
	return e, nil
}

// LoadLeases replaces the engine's lease table (the master's table at
// start, or after the worker was restarted).
func (e *Engine) LoadLeases(ls []leases.Lease) {
	e.store.load(ls)
	e.alloc.Leases = e.store.t
}

// ContinueIDs makes e number its probes and commits after old's, so that
// an answer the worker receives for one of old's (after a configuration
// reload replaced the engine) can never be taken for one of e's.
func (e *Engine) ContinueIDs(old *Engine) {
	e.nextID = max(e.nextID, old.nextID)
}

// Lease returns the lease at addr.
func (e *Engine) Lease(addr netip.Addr) (leases.Lease, bool) { return e.store.t.ByAddr(addr) }

// Leases returns every lease, sorted by address.
func (e *Engine) Leases() []leases.Lease { return e.store.t.All() }

// begin starts a call at now: the output lists are reused, and leases
// that are over are dropped (a Commit of their deletions goes out).
func (e *Engine) begin(now time.Time) {
	e.now = now
	e.out = e.out[:0]
	e.acts = e.acts[:0]
	if gone := e.store.prune(now); len(gone) > 0 {
		recs := make([]leases.Record, len(gone))
		for i, l := range gone {
			recs[i] = leases.DeleteRecord(l.Addr)
		}
		e.nextID++
		e.acts = append(e.acts, Action{Kind: Commit, ID: e.nextID, Records: recs})
	}
}

// Handle answers one request. The returned slices are reused by the next
// call on the engine; the packets and records in them belong to the
// caller.
func (e *Engine) Handle(in Inbound, now time.Time) (out []Outbound, actions []Action) {
	e.begin(now)
	e.handle(&in, 0)
	return e.out, e.acts
}

// handle runs one request (again, for a probed DISCOVER: round > 0).
func (e *Engine) handle(in *Inbound, round int) {
	r := &e.req
	if !e.parseRequest(in, r) || e.c.ifaceExcluded(in.Interface.Name) {
		return
	}
	e.tags.reset()
	e.classTags(r, &e.tags)
	e.findContexts(r)
	if len(e.ctxs) == 0 {
		e.log("no address range available for DHCP request via %s", via(r))
		return
	}
	e.findHost(r)
	if r.msgType == 0 {
		e.bootp(r)
		return
	}
	e.prepare(r)
	switch dhcpv4.MessageType(r.msgType) {
	case dhcpv4.MessageTypeDiscover:
		e.discover(r, round)
	case dhcpv4.MessageTypeRequest:
		e.request(r)
	case dhcpv4.MessageTypeDecline:
		e.decline(r)
	case dhcpv4.MessageTypeRelease:
		e.release(r)
	case dhcpv4.MessageTypeInform:
		e.inform(r)
	}
}

func via(r *request) string {
	switch {
	case r.subnetSel.IsValid():
		return "subnet selector " + r.subnetSel.String()
	case r.giaddr.IsValid():
		return r.giaddr.String()
	}
	return r.in.Interface.Name
}

// findHost looks up the client's dhcp-host (client-id, then MAC, then
// wildcard MACs; tagged entries first) among those usable on its
// network, and sets "known", or "known-othernet" when one matches only
// on another network.
func (e *Engine) findHost(r *request) {
	e.runTagIf(&e.tags, "")
	c := r.client
	r.host, r.hostIdx = nil, -1
	if i := e.c.hostIndex.FindIndex(c, e.usable, e.tags.tagif); i >= 0 {
		r.host, r.hostIdx = &e.c.hosts[i], i
		e.tags.add(tagKnown)
	} else if e.c.hostIndex.Find(c, nil, e.tags.tagif) != nil {
		e.tags.add(tagKnownOthernet)
	}
}

// usable is dnsmasq's is_config_in_context for the current contexts.
func (e *Engine) usable(h *leases.Host) bool {
	if !h.Addr.IsValid() {
		return true
	}
	for i := range e.ctxs {
		if sameNet(h.Addr, e.ctxs[i].r.cfg.Start, e.ctxs[i].netmask) {
			return true
		}
	}
	return false
}

// prepare finishes what every DHCP message needs: the client's name,
// dhcp-name-match, a dhcp-host found by name, the host's set: tags,
// tag-if, dhcp-ignore, and id:* (the host ignores client-ids).
func (e *Engine) prepare(r *request) {
	r.readClientName()
	e.nameMatchTags(r)
	if r.host != nil && e.c.hostInfo[r.hostIdx].name != "" {
		hi := &e.c.hostInfo[r.hostIdx]
		r.hostname, r.nameDomain, r.hostnameAuth = hi.name, hi.domain, true
		// Do not OFFER a name that differs from the DISCOVER's.
		if r.fqdnFlags != 0 || r.clientName == "" || equalFold(hi.name, r.clientName) {
			r.offerName = hi.name
		}
	} else if r.clientName != "" {
		host, dom := stripHostname(r.clientName)
		r.nameDomain = dom
		if r.offerName != "" {
			r.offerName = host
		}
		r.hostname = host
		if r.host == nil {
			// A dhcp-host found by name alone: only one with no MAC and
			// no client-id (no impersonation by name).
			e.runTagIf(&e.tags, "")
			c := r.client
			c.Hostname = host
			if i := e.c.hostIndex.FindIndex(c, e.usable, e.tags.tagif); i >= 0 && e.c.hosts[i].ClientID == nil && len(e.c.hosts[i].HWAddrs) == 0 {
				r.host, r.hostIdx = &e.c.hosts[i], i
				e.tags.add(tagKnown)
			}
		}
	}
	if r.host != nil {
		for _, t := range e.c.hostInfo[r.hostIdx].setTags {
			e.tags.add(t)
		}
	}
	e.runTagIf(&e.tags, "")
	r.ignore = matchAll(e.c.ignore, e.tags.tagif)
	if r.host != nil && e.c.hostInfo[r.hostIdx].noClid {
		r.clid = nil
		r.client.ClientID = nil
	}
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func (e *Engine) log(format string, args ...any) {
	if e.logf != nil {
		e.logf(format, args...)
	}
}

// logPacket logs an exchange as dnsmasq does ("DHCPOFFER(eth0) addr
// mac name"); routine lines are left out with quiet-dhcp unless
// log-dhcp is on.
func (e *Engine) logPacket(kind string, r *request, addr netip.Addr, extra, errText string) {
	if e.logf == nil || (errText == "" && !e.c.flags.Log && e.c.flags.Quiet) {
		return
	}
	a := ""
	if addr.IsValid() {
		a = addr.String() + " "
	}
	e.logf("%s(%s) %s%s %s%s", kind, r.in.Interface.Name, a, macString(r.emac), extra, errText)
}

func macString(b []byte) string {
	const hexdig = "0123456789abcdef"
	out := make([]byte, 0, len(b)*3)
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hexdig[c>>4], hexdig[c&15])
	}
	return string(out)
}

// serverID is dnsmasq's server_id: a relay's override, else the server's
// address on the client's network, else the interface's.
func (r *request) serverIDFor(ctx *netCtx, override netip.Addr) netip.Addr {
	switch {
	case override.IsValid():
		return override
	case ctx != nil && ctx.local.IsValid():
		return ctx.local
	}
	return fallback(r.in.Interface)
}

// isBusy is the allocator's test for an address that must not be offered
// to the client with hash: declined or answering pings lately, or held
// for another client's offer.
func (e *Engine) isBusy(addr netip.Addr, hash uint32) bool {
	now := e.now.Unix()
	if until, ok := e.busy[addr]; ok {
		if until > now {
			return true
		}
		delete(e.busy, addr)
	}
	if h, ok := e.held[addr]; ok {
		if h.until <= now {
			delete(e.held, addr)
		} else if h.hash != hash {
			return true
		}
	}
	return false
}
