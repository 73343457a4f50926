package leasestore

import (
	"bytes"
	"container/heap"
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/moatdns/moat/internal/leases"
)

// applyLocked performs a durable record on the table, the list order and
// the expiry heap. The caller holds mu (or owns the store, in Open).
func (s *Store) applyLocked(r leases.Record) {
	addr := r.Lease.Addr
	if r.Delete {
		s.table.Delete(addr)
		delete(s.meta, addr)
		return
	}
	// dnsmasq updates a renewed lease in place and puts a new one at the
	// head of its list: a renewal keeps the lease's place in the file.
	m, had := s.meta[addr]
	if !had || !s.sameClientLocked(addr, r.Lease) {
		s.nextOrder++
		m.order = s.nextOrder
	}
	s.table.Put(r.Lease)
	m.expires = r.Lease.Expires
	s.meta[addr] = m
	if m.expires != 0 {
		heap.Push(&s.expiries, expiry{at: m.expires, addr: addr})
		// Renewals leave stale entries behind; rebuild before they
		// outnumber the leases.
		if len(s.expiries) > 2*len(s.meta)+1024 {
			s.rebuildExpiriesLocked()
		}
	}
}

// sameClientLocked reports whether the lease at addr has l's identity.
func (s *Store) sameClientLocked(addr netip.Addr, l leases.Lease) bool {
	old, ok := s.table.ByAddr(addr)
	return ok && old.HWType == l.HWType && bytes.Equal(old.HWAddr, l.HWAddr) && bytes.Equal(old.ClientID, l.ClientID)
}

func (s *Store) rebuildExpiriesLocked() {
	s.expiries = s.expiries[:0]
	for addr, m := range s.meta {
		if m.expires != 0 {
			s.expiries = append(s.expiries, expiry{at: m.expires, addr: addr})
		}
	}
	heap.Init(&s.expiries)
}

// live reports whether a heap entry still describes a lease.
func (s *Store) live(e expiry) bool {
	m, ok := s.meta[e.addr]
	return ok && m.expires == e.at
}

// NextExpiry is when the lease that ends first is over (Expire returns it
// from that moment: one second after its Expires, as dnsmasq keeps a lease
// through the second it expires); the zero Time when no lease expires.
func (s *Store) NextExpiry() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.expiries) > 0 {
		if e := s.expiries[0]; s.live(e) {
			return time.Unix(e.at+1, 0)
		}
		heap.Pop(&s.expiries)
	}
	return time.Time{}
}

// Expire deletes the leases that are over at now, durably (through the
// journal, like a commit), and returns them sorted by address: their
// names leave the DNS and the script runs "del" for them. A lease renewed
// by a commit that is written before the deletion is not returned.
func (s *Store) Expire(ctx context.Context, now time.Time) ([]leases.Lease, error) {
	r := newRequest()
	r.expireAt = now
	if err := s.submit(ctx, r); err != nil {
		return nil, err
	}
	out := r.expired
	putRequest(r)
	return out, nil
}

// expiredLocked returns the leases over at now, except at addresses in
// skip. It walks only the part of the heap that is due.
func (s *Store) expiredLocked(now time.Time, skip map[netip.Addr]bool) []leases.Lease {
	limit := now.Unix() // over when now > Expires
	var out []leases.Lease
	seen := map[netip.Addr]bool{}
	var walk func(i int)
	walk = func(i int) {
		if i >= len(s.expiries) || s.expiries[i].at >= limit {
			return
		}
		if e := s.expiries[i]; s.live(e) && !seen[e.addr] && !skip[e.addr] {
			seen[e.addr] = true
			if l, ok := s.table.ByAddr(e.addr); ok {
				out = append(out, l)
			}
		}
		walk(2*i + 1)
		walk(2*i + 2)
	}
	walk(0)
	slices.SortFunc(out, func(a, b leases.Lease) int { return a.Addr.Compare(b.Addr) })
	return out
}

// expiry is a heap entry: a lease at addr ending at at. Entries whose
// lease changed since are stale and skipped.
type expiry struct {
	at   int64
	addr netip.Addr
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
