package leases

import (
	"math/bits"
	"net/netip"
	"time"
)

// The allocator's search for a free address (dnsmasq's address_allocate)
// walks a range from a seed. Clients whose MACs count up (load
// generators) hash to consecutive seeds, so done address by address each
// new client walks the whole run of earlier ones: O(leases) a client. The
// table therefore keeps, for each range the allocator has asked about, a
// bitmap of the addresses it holds a lease for, and the walk skips 64
// leased addresses a step. The other reasons not to offer an address
// (dhcp-host reservations, the server's addresses, .0 and .255 of the old
// class C space, Busy) are still tested on each candidate, so the walk
// visits the free addresses in exactly the order it did before.

// maxOccupancyRange bounds the size of a range given a bitmap (2 MiB for
// 2^24 addresses); larger ranges are walked address by address.
const maxOccupancyRange = 1 << 24

// maxOccupancyRanges bounds how many ranges a table tracks: pools that a
// reloaded configuration left behind are forgotten, oldest first.
const maxOccupancyRanges = 64

// occupancy is the bitmap of one range: bit i of words[i/64] is set
// when the table holds a lease (expired or not) for start+i.
type occupancy struct {
	start, end uint32
	words      []uint64
}

func (o *occupancy) set(addr uint32, on bool) {
	if addr < o.start || addr > o.end {
		return
	}
	i := addr - o.start
	if on {
		o.words[i/64] |= 1 << (i % 64)
	} else {
		o.words[i/64] &^= 1 << (i % 64)
	}
}

// nextClear returns the offset of the first clear bit in [from, to), or
// to when there is none.
func (o *occupancy) nextClear(from, to uint64) uint64 {
	for from < to {
		w := ^o.words[from/64] >> (from % 64) // free bits at and above from
		if w != 0 {
			n := from + uint64(bits.TrailingZeros64(w))
			return min(n, to)
		}
		from = (from/64 + 1) * 64
	}
	return to
}

// markOccupancy updates the tracked ranges for a lease put (on) or
// deleted at addr.
func (t *Table) markOccupancy(addr netip.Addr, on bool) {
	if len(t.ranges) == 0 || !addr.Is4() {
		return
	}
	n := be32(addr)
	for _, o := range t.ranges {
		o.set(n, on)
	}
}

// occupancyOf returns the bitmap of [start, end], building it from the
// leases on first use; nil when the range is too large to track.
func (t *Table) occupancyOf(start, end uint32) *occupancy {
	if end < start || uint64(end)-uint64(start)+1 > maxOccupancyRange {
		return nil
	}
	for _, o := range t.ranges {
		if o.start == start && o.end == end {
			return o
		}
	}
	size := uint64(end) - uint64(start) + 1
	o := &occupancy{start: start, end: end, words: make([]uint64, (size+63)/64)}
	for a := range t.byAddr {
		if a.Is4() {
			o.set(be32(a), true)
		}
	}
	if len(t.ranges) >= maxOccupancyRanges {
		t.ranges = append(t.ranges[:0], t.ranges[1:]...)
	}
	t.ranges = append(t.ranges, o)
	return o
}

// anyExpired reports whether the table holds a lease that is over at
// now. expiryFloor is a lower bound of the earliest finite expiry, so
// the full look happens only once now has passed it.
func (t *Table) anyExpired(now time.Time) bool {
	if t.expiryFloor == 0 || now.Unix() <= t.expiryFloor {
		return false
	}
	t.expiryFloor = t.NextExpiry()
	return t.expiryFloor != 0 && now.Unix() > t.expiryFloor
}
