package dhcpserver

import (
	"net/netip"
	"strings"
	"time"

	"github.com/moatdns/moat/internal/leases"
)

// store is the worker's copy of the lease table, with the indexes the
// engine needs besides leases.Table's: host names (one lease holds a
// name at a time) and the next expiry.
type store struct {
	t     *leases.Table
	names map[string]netip.Addr // lower-case host name -> address
	// nextExpiry is a lower bound of the earliest finite expiry (0: none
	// known): pruning runs only once it has passed.
	nextExpiry int64
}

func newStore() *store {
	return &store{t: leases.NewTable(), names: map[string]netip.Addr{}}
}

func nameKey(n string) string { return strings.ToLower(n) }

func (s *store) put(l leases.Lease) {
	s.dropName(l.Addr)
	s.t.Put(l)
	if l.Hostname != "" {
		s.names[nameKey(l.Hostname)] = l.Addr
	}
	if l.Expires != 0 && (s.nextExpiry == 0 || l.Expires < s.nextExpiry) {
		s.nextExpiry = l.Expires
	}
}

func (s *store) delete(addr netip.Addr) bool {
	s.dropName(addr)
	return s.t.Delete(addr)
}

func (s *store) dropName(addr netip.Addr) {
	if old, ok := s.t.ByAddr(addr); ok && old.Hostname != "" {
		if k := nameKey(old.Hostname); s.names[k] == addr {
			delete(s.names, k)
		}
	}
}

func (s *store) byName(name string) (leases.Lease, bool) {
	a, ok := s.names[nameKey(name)]
	if !ok {
		return leases.Lease{}, false
	}
	return s.t.ByAddr(a)
}

func (s *store) ByClient(c leases.Client) (leases.Lease, bool) { return s.t.ByClient(c) }

// load replaces the table.
func (s *store) load(ls []leases.Lease) {
	s.t = leases.NewTable()
	clear(s.names)
	s.nextExpiry = 0
	for _, l := range ls {
		s.put(l)
	}
}

// prune removes the leases that are over at now and returns them.
func (s *store) prune(now time.Time) []leases.Lease {
	if s.nextExpiry == 0 || now.Unix() <= s.nextExpiry {
		return nil
	}
	gone := s.t.Expired(now)
	for _, l := range gone {
		s.delete(l.Addr)
	}
	s.nextExpiry = s.t.NextExpiry()
	return gone
}
