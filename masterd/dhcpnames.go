package masterd

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/leases"
	"github.com/moatdns/moat/internal/leasestore"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Lease names reach dnsd through the master (DESIGN.md, section 2):
// dhcpd stores a name with a lease; the master follows the lease store
// through its events, checks every name (dhcpnames_check.go) and streams
// the result to dnsd as TABLE_LEASE_NAMES, where A and PTR answers come
// from it while the lease lives, as dnsmasq answers DHCP names.
const (
	// leaseNamesGap is the least time between two sends of the table: a
	// burst of commits is one send, and a new lease still resolves well
	// within a second. A table so large that building and sending it
	// takes long (tens of thousands of leases) waits up to
	// leaseNamesMaxGap, so that re-sending it takes at most a quarter of
	// the master's time.
	leaseNamesGap    = 250 * time.Millisecond
	leaseNamesMaxGap = time.Second
	// leaseNamesCheck is how often the master checks whether dnsd has the
	// current table (a restarted dnsd, hosts data changed by a reload or
	// a hostsdir file).
	leaseNamesCheck = time.Second
)

// leaseNameTable is the master's copy of the named leases and what it
// last sent to dnsd. Its zero value is a table that is not in use (no
// DHCP): nothing is sent.
type leaseNameTable struct {
	mu      sync.Mutex
	enabled bool
	claims  map[netip.Addr]nameClaim // leases with a name, from the store
	seq     uint64
	version uint64              // counts changes to claims
	pending map[netip.Addr]bool // addresses whose lease changed, not yet re-read
	wake    chan struct{}
	auth    func(leases.Lease) bool
	log     *logger
	// logged holds the refusals logged and still true, so that each is
	// logged once, not at every send.
	logged map[string]bool

	// sendMu orders sends; the fields below are what the last one sent.
	sendMu   sync.Mutex
	shadows  shadowIndex
	sentConn *ipc.Conn
	sentGen  uint64
	sent     []*ipcpb.LocalRecord
	sentDNS  [2]uint64 // dnsData generation and local.dynGen the table was checked against
	built    uint64    // the claims version the table was built from
}

// serveLeaseNames keeps dnsd's lease names current until ctx ends: it
// follows the lease events (commits and the master's own expiries),
// re-reads the changed leases from the store and sends the checked table
// at most every leaseNamesGap. Without DHCP or DNS it has nothing to do.
func (m *master) serveLeaseNames(ctx context.Context) {
	if m.leases == nil || m.cfg.Port == 0 {
		return
	}
	t := &m.dns.leaseNames
	t.start(m.leases, dhcpHostAuth(m.dhcpHosts), m.log)
	gap := leaseNamesGap
	push := func() {
		began := time.Now()
		defer func() { gap = min(max(leaseNamesGap, 4*time.Since(began)), leaseNamesMaxGap) }()
		t.applyPending(m.leases.store)
		if err := m.withRole("dnsd", m.dns.sendLeaseNames); err != nil {
			m.log.printf("master", "send lease names to dnsd: %v", err)
		}
	}
	push()
	tick := time.NewTicker(leaseNamesCheck)
	defer tick.Stop()
	var due <-chan time.Time
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
			if due != nil {
				continue
			}
			if wait := gap - time.Since(last); wait > 0 {
				due = time.After(wait)
				continue
			}
			push()
			last = time.Now()
		case <-due:
			due = nil
			push()
			last = time.Now()
		case <-tick.C:
			// Cheap when nothing changed: the table is rebuilt only for a
			// new dnsd or new DNS data, and sent only if it differs.
			if due == nil {
				push()
			}
		}
	}
}

// dhcpHosts is every dhcp-host of the current DHCP data.
func (m *master) dhcpHosts() []config.DHCPHost {
	m.dhcp.mu.Lock()
	defer m.dhcp.mu.Unlock()
	return m.dhcp.hosts
}

// start loads the named leases already in the store and follows the
// store's events from now on.
func (t *leaseNameTable) start(svc *leaseService, auth func(leases.Lease) bool, log *logger) {
	t.mu.Lock()
	t.enabled, t.auth, t.log = true, auth, log
	t.claims, t.pending, t.logged = map[netip.Addr]nameClaim{}, map[netip.Addr]bool{}, map[string]bool{}
	t.wake = make(chan struct{}, 1)
	t.mu.Unlock()
	svc.events.observe(t.note)
	all := svc.store.Leases()
	// Which of two stored leases with one name asked for it last is not
	// recorded; the one that runs longer was renewed last.
	sort.SliceStable(all, func(i, j int) bool { return expiresOrder(all[i]) < expiresOrder(all[j]) })
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range all {
		t.setLocked(l)
	}
}

// expiresOrder sorts infinite leases (Expires 0) after every other one.
func expiresOrder(l leases.Lease) int64 {
	if l.Infinite() {
		return 1<<63 - 1
	}
	return l.Expires
}

// note is the lease observer: it only records which addresses changed
// (the store is re-read for them, so that events delivered out of order
// by concurrent commits cannot leave a stale name) and wakes the loop.
func (t *leaseNameTable) note(evs []leaseEvent) {
	t.mu.Lock()
	for _, e := range evs {
		for _, l := range []*leases.Lease{e.Old, e.New} {
			if l != nil {
				t.pending[l.Addr] = true
			}
		}
	}
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// applyPending re-reads the changed addresses from the store.
func (t *leaseNameTable) applyPending(store *leasestore.Store) {
	t.mu.Lock()
	addrs := make([]netip.Addr, 0, len(t.pending))
	for a := range t.pending {
		addrs = append(addrs, a)
	}
	clear(t.pending)
	t.mu.Unlock()
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	for _, a := range addrs {
		l, ok := store.Lease(a)
		t.mu.Lock()
		if ok {
			t.setLocked(l)
		} else if _, had := t.claims[a]; had {
			delete(t.claims, a)
			t.version++
		}
		t.mu.Unlock()
	}
}

// setLocked records the lease l: a lease that gains a name or changes it
// claims it now (a new sequence number); one that keeps its name keeps
// its place.
func (t *leaseNameTable) setLocked(l leases.Lease) {
	old, had := t.claims[l.Addr]
	if l.Hostname == "" {
		if had {
			delete(t.claims, l.Addr)
			t.version++
		}
		return
	}
	t.version++
	c := nameClaim{addr: l.Addr, name: l.Hostname, expires: l.Expires, seq: old.seq, auth: t.auth != nil && t.auth(l)}
	if !had || !strings.EqualFold(old.name, l.Hostname) {
		t.seq++
		c.seq = t.seq
	}
	t.claims[l.Addr] = c
}

// sendLeaseNames sends dnsd the lease name table when conn does not have
// the current one; dnsData.send calls it for every dnsd it configures.
// New refusals are logged.
func (d *dnsData) sendLeaseNames(conn *ipc.Conn) error {
	t := &d.leaseNames
	t.mu.Lock()
	enabled, version, log := t.enabled, t.version, t.log
	t.mu.Unlock()
	if !enabled {
		return nil
	}
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	d.mu.Lock()
	dnsGen := [2]uint64{d.generation, d.local.dynGen}
	d.mu.Unlock()
	if conn == t.sentConn && dnsGen == t.sentDNS && version == t.built {
		return nil // dnsd has the table of these leases and this DNS data
	}
	claims, version := t.snapshot()

	want := map[string]bool{}
	d.mu.Lock()
	dnsGen = [2]uint64{d.generation, d.local.dynGen}
	res, cfg := d.local.domains, d.local.cfg
	for _, c := range claims {
		key := strings.ToLower(c.name)
		want[key] = true
		if res != nil {
			if dom := res.domainFor(c.addr); dom != "" {
				want[key+"."+dom] = true
			}
		}
	}
	t.shadows.prepare(d, want)
	d.mu.Unlock()
	rules := nameRules{
		domainFor: func(a netip.Addr) string {
			if res == nil {
				return ""
			}
			return res.domainFor(a)
		},
		shadowOf: t.shadows.lookup,
		now:      time.Now().Unix(),
	}
	if cfg != nil {
		rules.ttl = cfg.LeaseNameTTL()
	}
	recs, refusals := buildLeaseNames(claims, rules)
	t.logRefusals(refusals, log)
	if conn == t.sentConn && sameRecords(recs, t.sent) {
		t.sentDNS, t.built = dnsGen, version
		return nil
	}
	t.sentGen++
	if err := ipc.SendLeaseNames(conn, t.sentGen, recs); err != nil {
		t.sentConn = nil // try again at the next check
		return fmt.Errorf("send lease names: %w", err)
	}
	t.sentConn, t.sent, t.sentDNS, t.built = conn, recs, dnsGen, version
	return nil
}

// snapshot copies the claims, sorted by address, and their version.
func (t *leaseNameTable) snapshot() ([]nameClaim, uint64) {
	t.mu.Lock()
	claims := make([]nameClaim, 0, len(t.claims))
	for _, c := range t.claims {
		claims = append(claims, c)
	}
	version := t.version
	t.mu.Unlock()
	sort.Slice(claims, func(i, j int) bool { return claims[i].addr.Less(claims[j].addr) })
	return claims, version
}

// logRefusals logs each refusal once while it holds.
func (t *leaseNameTable) logRefusals(refusals []string, log *logger) {
	if log == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := make(map[string]bool, len(refusals))
	for _, r := range refusals {
		now[r] = true
		if !t.logged[r] {
			log.printf("master", "%s", r)
		}
	}
	t.logged = now
}

// dhcpHostAuth reports whether a lease's name is the name a dhcp-host
// gives the lease's client (dnsmasq's LEASE_AUTH_NAME), reading the
// current dhcp-host list (it changes on SIGHUP) each time.
func dhcpHostAuth(current func() []config.DHCPHost) func(leases.Lease) bool {
	return func(l leases.Lease) bool {
		var named []leases.Host
		for _, h := range current() {
			if h.Name != "" && strings.EqualFold(h.Name, l.Hostname) {
				named = append(named, hostForLeases(h))
			}
		}
		if len(named) == 0 {
			return false
		}
		c := leases.Client{HWType: l.HWType, HWAddr: l.HWAddr, ClientID: l.ClientID}
		if leases.FindHost(named, c, nil, nil) != nil {
			return true
		}
		for _, h := range named {
			if h.Addr == l.Addr {
				return true
			}
		}
		return false
	}
}

// hostForLeases is the allocator's view of a dhcp-host, for FindHost.
func hostForLeases(h config.DHCPHost) leases.Host {
	out := leases.Host{ClientID: h.ClientID, IgnoreClientID: h.IgnoreClientID, Name: h.Name,
		Addr: h.Addr, Tags: h.Tags, Ignore: h.Ignore}
	for _, hw := range h.HWAddrs {
		out.HWAddrs = append(out.HWAddrs, leases.HWAddr{Type: hw.Type, Addr: hw.Addr, Wild: hw.Wild})
	}
	return out
}
