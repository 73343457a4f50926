package leasestore

import (
	"context"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/leases"
)

// TestExpire: NextExpiry names the moment the first lease is over, and
// Expire removes (durably) exactly the leases over at its time.
func TestExpire(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	if !s.NextExpiry().IsZero() {
		t.Errorf("empty store: next expiry %v", s.NextExpiry())
	}
	l1, l2, l3, inf := testLease(1, 1000), testLease(2, 2000), testLease(3, 3000), testLease(4, 0)
	commit(t, s, puts(l3, l1, inf, l2)...)
	for _, step := range []struct {
		now     int64
		expired []leases.Lease
		next    int64 // Unix seconds; 0 for none
		left    []leases.Lease
	}{
		{now: 999, next: 1001, left: sortedLeases(l1, l2, l3, inf)},
		{now: 1000, next: 1001, left: sortedLeases(l1, l2, l3, inf)}, // kept through its last second
		{now: 1001, expired: []leases.Lease{l1}, next: 2001, left: sortedLeases(l2, l3, inf)},
		{now: 1001, next: 2001, left: sortedLeases(l2, l3, inf)}, // nothing twice
		{now: 5000, expired: sortedLeases(l2, l3), next: 0, left: sortedLeases(inf)},
		{now: 1 << 40, next: 0, left: sortedLeases(inf)}, // infinite is never over
	} {
		got, err := s.Expire(context.Background(), time.Unix(step.now, 0))
		if err != nil {
			t.Fatal(err)
		}
		sameLeases(t, "expired", got, step.expired)
		sameLeases(t, "left", s.Leases(), step.left)
		next := s.NextExpiry()
		if (step.next == 0) != next.IsZero() || (step.next != 0 && next.Unix() != step.next) {
			t.Errorf("at %d: next expiry %v, want %d", step.now, next, step.next)
		}
	}
	s.Close()
	sameLeases(t, "reopened", openTest(t, dir, nil).Leases(), sortedLeases(inf))
}

// TestExpireRenewedInSameGroup: a renewal written in the same group just
// before an Expire is not expired by it.
func TestExpireRenewedInSameGroup(t *testing.T) {
	g := newGate()
	s := openTest(t, "", func(o *Options) { o.hooks = &hooks{syncJournal: g.sync} })
	old := testLease(1, 1000)
	commit(t, s, puts(old, testLease(2, 1000))...)
	g.armed.Store(true)
	errs := make(chan error, 2)
	go func() { errs <- s.Commit(context.Background(), puts(testLease(9, far))) }()
	g.wait(t)
	go func() { errs <- s.Commit(context.Background(), puts(withExpiry(old, far))) }()
	waitQueued(t, s, 1)
	type result struct {
		ls  []leases.Lease
		err error
	}
	expired := make(chan result, 1)
	go func() {
		ls, err := s.Expire(context.Background(), time.Unix(2000, 0))
		expired <- result{ls, err}
	}()
	waitQueued(t, s, 2)
	close(g.release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	r := <-expired
	if r.err != nil {
		t.Fatal(r.err)
	}
	sameLeases(t, "expired", r.ls, []leases.Lease{testLease(2, 1000)})
	sameLeases(t, "left", s.Leases(), sortedLeases(withExpiry(old, far), testLease(9, far)))
}

// TestExpiryHeapStaysSmall: renewals leave stale heap entries; the heap
// is rebuilt before they pile up, and stale entries never expire a lease.
func TestExpiryHeapStaysSmall(t *testing.T) {
	s := openTest(t, "", nil)
	l := testLease(1, 1000)
	for i := range 3000 {
		commit(t, s, puts(withExpiry(l, 1000+int64(i)))...)
	}
	s.mu.RLock()
	n := len(s.expiries)
	s.mu.RUnlock()
	if n > 2*1+1024 {
		t.Errorf("%d heap entries for one lease", n)
	}
	got, err := s.Expire(context.Background(), time.Unix(3000, 0))
	if err != nil || len(got) != 0 {
		t.Errorf("a stale entry expired the renewed lease: %+v %v", got, err)
	}
	if next := s.NextExpiry().Unix(); next != 1000+2999+1 {
		t.Errorf("next expiry %d", next)
	}
}
