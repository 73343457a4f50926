package masterd

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/leases"
	"github.com/moatdns/moat/internal/leasestore"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// commitTimeout bounds one LeaseCommit's wait for the journal; a commit
// that takes longer is answered not ok and dhcpd drops the held ACK.
const commitTimeout = 10 * time.Second

// leaseService is the master's side of dhcpd's lease commits: it checks
// every record against the configuration (dhcpd is not trusted) and makes
// it durable in the lease store before dhcpd may send the ACK.
type leaseService struct {
	store  *leasestore.Store
	ranges []config.DHCPRange
	// isHostAddr says whether an address belongs to a dhcp-host of the
	// current configuration or hosts files (re-read on SIGHUP).
	isHostAddr func(netip.Addr) bool
	log        *logger
	// events reports every durable change (dhcpevents.go).
	events leaseObservers
	// expiryAt is when runExpiry's timer fires (Unix seconds, 0 = none):
	// a commit wakes it only for a lease that ends earlier.
	expiryAt atomic.Int64
}

// openLeaseService opens the lease store named by dhcp-leasefile.
func openLeaseService(cfg *config.Config, isHostAddr func(netip.Addr) bool, log *logger) (*leaseService, error) {
	opts := leasestore.OptionsFromConfig(&cfg.DHCP)
	opts.Logf = func(format string, args ...any) { log.printf("master", "leases: "+format, args...) }
	st, err := leasestore.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("lease store: %w", err)
	}
	if isHostAddr == nil {
		isHostAddr = func(netip.Addr) bool { return false }
	}
	s := &leaseService{store: st, ranges: cfg.DHCP.Ranges, isHostAddr: isHostAddr, log: log}
	log.printf("master", "lease store %s: %d leases", st.JournalPath(), st.Len())
	return s, nil
}

// handle answers one LeaseCommit on its own goroutine, so that commits
// arriving while one fsync runs join the next group commit.
func (s *leaseService) handle(conn *ipc.Conn, c *ipcpb.LeaseCommit) {
	id := c.GetId()
	recs, err := s.records(c.GetRecords())
	go func() {
		ok := err == nil
		if ok {
			before := s.snapshot(recs)
			ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
			err = s.store.Commit(ctx, recs)
			cancel()
			ok = err == nil
			if ok {
				s.log.auditLeaseCommit(id, recs) // issue 7 (audit.go)
				s.events.emit(attachTxn(changes(before, recs), c.GetTxn()))
			}
		}
		if err != nil {
			s.log.printf("master", "lease commit %d refused: %v", id, err)
		}
		reply := &ipcpb.Envelope{Msg: &ipcpb.Envelope_LeaseCommitted{LeaseCommitted: &ipcpb.LeaseCommitted{Id: id, Ok: ok}}}
		if err := conn.Send(reply); err != nil {
			s.log.printf("master", "lease commit %d: answer dhcpd: %v", id, err)
		}
	}()
}

// records converts and checks a commit's records: the address must be in
// a dhcp-range or be a dhcp-host address, the hardware address no longer
// than the journal holds, the host name a single legal DNS label.
func (s *leaseService) records(in []*ipcpb.LeaseRecord) ([]leases.Record, error) {
	out := make([]leases.Record, 0, len(in))
	for i, r := range in {
		addr, _ := netip.AddrFromSlice(r.GetAddr())
		if !addr.Is4() {
			return nil, fmt.Errorf("record %d: address is not IPv4", i)
		}
		if r.GetDelete() {
			out = append(out, leases.DeleteRecord(addr))
			continue
		}
		if !s.allowed(addr) && !s.onlyLosesName(addr, r) {
			return nil, fmt.Errorf("record %d: %v is in no dhcp-range and no dhcp-host", i, addr)
		}
		if len(r.GetHwAddr()) > leases.MaxHWAddr || len(r.GetClientId()) > leases.MaxClientID {
			return nil, fmt.Errorf("record %d: hardware address or client-id too long", i)
		}
		if n := r.GetHostname(); n != "" && !legalLabel(n) {
			return nil, fmt.Errorf("record %d: host name %q is not a legal DNS label", i, n)
		}
		out = append(out, leases.PutRecord(leases.Lease{Addr: addr, HWType: uint8(r.GetHwType()),
			HWAddr: r.GetHwAddr(), ClientID: r.GetClientId(), Hostname: r.GetHostname(), Expires: r.GetExpires()}))
	}
	return out, nil
}

// onlyLosesName reports whether r rewrites the lease the store holds at
// addr with nothing changed but its host name taken away. dhcpd does that
// when a new lease claims the name (dnsmasq's lease_set_hostname), also
// for a lease left outside the ranges by a configuration change; refusing
// it would refuse the new client's whole commit, and with it its ACK.
func (s *leaseService) onlyLosesName(addr netip.Addr, r *ipcpb.LeaseRecord) bool {
	l, ok := s.store.Lease(addr)
	return ok && r.GetHostname() == "" && l.Hostname != "" &&
		l.HWType == uint8(r.GetHwType()) && bytes.Equal(l.HWAddr, r.GetHwAddr()) &&
		bytes.Equal(l.ClientID, r.GetClientId()) && l.Expires == r.GetExpires()
}

// snapshot is the lease at each record's address before the commit,
// for the events after it.
func (s *leaseService) snapshot(recs []leases.Record) map[netip.Addr]*leases.Lease {
	before := make(map[netip.Addr]*leases.Lease, len(recs))
	for _, r := range recs {
		if _, seen := before[r.Lease.Addr]; seen {
			continue
		}
		if l, ok := s.store.Lease(r.Lease.Addr); ok {
			before[r.Lease.Addr] = &l
		} else {
			before[r.Lease.Addr] = nil
		}
	}
	return before
}

// changes turns a committed batch into events: the first state of each
// address before the batch against its last state after it.
func changes(before map[netip.Addr]*leases.Lease, recs []leases.Record) []leaseEvent {
	after := map[netip.Addr]*leases.Lease{}
	var order []netip.Addr
	for _, r := range recs {
		a := r.Lease.Addr
		if _, seen := after[a]; !seen {
			order = append(order, a)
		}
		if r.Delete {
			after[a] = nil
		} else {
			l := r.Lease
			after[a] = &l
		}
	}
	var evs []leaseEvent
	for _, a := range order {
		if before[a] == nil && after[a] == nil {
			continue
		}
		evs = append(evs, leaseEvent{Old: before[a], New: after[a]})
	}
	return evs
}

func (s *leaseService) allowed(a netip.Addr) bool {
	if s.isHostAddr(a) {
		return true
	}
	for _, r := range s.ranges {
		if !a.Less(r.Start) && !r.End.Less(a) {
			return true
		}
	}
	return false
}

// legalLabel: letters, digits and inner hyphens, 1 to 63 bytes.
func legalLabel(n string) bool {
	if len(n) == 0 || len(n) > 63 || n[0] == '-' || n[len(n)-1] == '-' {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// serveLeases runs the master's own lease work until ctx ends: the
// expiry of leases and the lease names for dnsd (dhcpnames.go).
func (m *master) serveLeases(ctx context.Context) {
	if m.leases == nil {
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.serveLeaseNames(ctx)
	}()
	m.leases.runExpiry(ctx)
	wg.Wait()
}

// expiryRetry is the wait after a failed expiry (the journal could not
// be written) before the next try.
const expiryRetry = time.Second

// expiryIdle is the pause after an expiry that found nothing to delete.
const expiryIdle = 100 * time.Millisecond

// runExpiry deletes leases when they end, as dnsmasq does, and reports
// the deletions as events (their names leave the DNS, the script runs
// "del"). dhcpd also deletes expired leases on its own tick; whichever
// comes first deletes, and the store reports each lease once.
func (s *leaseService) runExpiry(ctx context.Context) {
	wake := make(chan struct{}, 1)
	s.events.observe(func(evs []leaseEvent) {
		at := s.expiryAt.Load()
		for _, e := range evs {
			if e.New == nil || e.New.Infinite() {
				continue
			}
			if at == 0 || e.New.Expires+1 < at {
				select {
				case wake <- struct{}{}:
				default:
				}
				return
			}
		}
	})
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := s.store.NextExpiry()
		timer.Stop()
		if next.IsZero() {
			s.expiryAt.Store(0)
		} else {
			s.expiryAt.Store(next.Unix())
			timer.Reset(time.Until(next))
		}
		var fire <-chan time.Time
		if !next.IsZero() {
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
			continue
		case <-fire:
		}
		gone, err := s.store.Expire(ctx, time.Now())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.printf("master", "lease expiry: %v", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(expiryRetry):
			}
			continue
		}
		s.log.auditLeaseExpiry(gone) // issue 7 (audit.go)
		if len(gone) == 0 {
			// Renewed in the meantime, or held by a commit in flight:
			// never spin on an expiry that is not ready.
			select {
			case <-ctx.Done():
				return
			case <-time.After(expiryIdle):
			}
			continue
		}
		evs := make([]leaseEvent, 0, len(gone))
		for i := range gone {
			evs = append(evs, leaseEvent{Old: &gone[i]})
		}
		s.events.emit(evs)
	}
}

func (s *leaseService) close() {
	if err := s.store.Close(); err != nil {
		s.log.printf("master", "lease store: close: %v", err)
	}
}
