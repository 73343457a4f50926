package leases

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// TestFromPoolMatchesWalk: over random ranges and random occupancy
// (leases in and around the range, some expired, dhcp-host reservations,
// server addresses, busy addresses, epochs, sequential mode), the bitmap
// search finds exactly the address, and leaves exactly the epoch, that
// the address-by-address walk does. The table changes between searches,
// so the bitmaps kept up to date by Put and Delete are checked too.
func TestFromPoolMatchesWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bases := []uint32{be32(ip("10.1.0.0")), be32(ip("192.168.3.0")), be32(ip("172.16.255.0"))}
	now := time.Unix(1_000_000, 0)
	const rounds = 300
	for round := range rounds {
		start := bases[rng.IntN(len(bases))] + uint32(rng.IntN(130))
		size := uint32(1 + rng.IntN(700))
		if rng.IntN(10) == 0 {
			size = uint32(1 + rng.IntN(3))
		}
		end := start + size - 1
		pool := &Pool{Start: fromBE32(start), End: fromBE32(end)}
		around := func() netip.Addr { // an address in or near the range
			return fromBE32(start - 70 + uint32(rng.IntN(int(size)+140)))
		}
		density := rng.Float64()
		expiring := rng.IntN(4) == 0 // some leases expired at now
		tbl := NewTable()
		a := &Allocator{Pools: []*Pool{pool}, Leases: tbl, Sequential: rng.IntN(4) == 0, Now: now}
		for range int(float64(size) * density) {
			tbl.Put(randomLease(rng, around(), now, expiring))
		}
		for range rng.IntN(5) {
			a.Hosts = append(a.Hosts, Host{Addr: around()})
		}
		for range rng.IntN(3) {
			a.Server = append(a.Server, around())
		}
		busy := map[netip.Addr]bool{}
		for range rng.IntN(6) {
			busy[around()] = true
		}
		a.Busy = func(addr netip.Addr, _ uint32) bool { return busy[addr] }
		for step := range 20 {
			hash := rng.Uint32() | 1
			pool.epoch = uint32(rng.IntN(3))
			seed := start + uint32((uint64(hash)+uint64(pool.epoch))%uint64(size))
			if a.Sequential {
				seed = be32(tbl.maxAddrIn(pool.Start, pool.End))
			}
			epoch := pool.epoch
			want, wantOK := a.walkPool(pool, seed, hash)
			wantEpoch := pool.epoch
			pool.epoch = epoch
			got, gotOK := a.fromPool(pool, hash)
			if got != want || gotOK != wantOK || pool.epoch != wantEpoch {
				t.Fatalf("round %d step %d: range %v-%v seed %v sequential %v epoch %d: got %v %v (epoch %d), the walk %v %v (epoch %d)",
					round, step, pool.Start, pool.End, fromBE32(seed), a.Sequential, epoch, got, gotOK, pool.epoch, want, wantOK, wantEpoch)
			}
			// Change the table: lease the address found, put and delete
			// others.
			if gotOK {
				tbl.Put(randomLease(rng, got, now, false))
			}
			for range rng.IntN(8) {
				if rng.IntN(2) == 0 {
					tbl.Put(randomLease(rng, around(), now, expiring))
				} else {
					tbl.Delete(around())
				}
			}
		}
	}
}

func randomLease(rng *rand.Rand, addr netip.Addr, now time.Time, expiring bool) Lease {
	l := Lease{Addr: addr, HWType: 1, HWAddr: []byte{0x52, 0x54, 0, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}}
	switch {
	case rng.IntN(5) == 0:
		l.Expires = 0 // infinite
	case expiring && rng.IntN(3) == 0:
		l.Expires = now.Unix() - int64(1+rng.IntN(100))
	default:
		l.Expires = now.Unix() + int64(rng.IntN(1000))
	}
	return l
}

// TestOccupancyNextClear checks the word scan at word boundaries.
func TestOccupancyNextClear(t *testing.T) {
	o := &occupancy{start: 0, end: 199, words: make([]uint64, 4)}
	for i := uint32(0); i < 200; i++ {
		if i != 63 && i != 64 && i != 130 && i != 199 {
			o.set(i, true)
		}
	}
	for _, tc := range []struct{ from, to, want uint64 }{
		{0, 200, 63}, {63, 200, 63}, {64, 200, 64}, {65, 200, 130},
		{65, 130, 130}, {131, 200, 199}, {131, 199, 199}, {200, 200, 200},
	} {
		if got := o.nextClear(tc.from, tc.to); got != tc.want {
			t.Errorf("nextClear(%d, %d) = %d, want %d", tc.from, tc.to, got, tc.want)
		}
	}
}
