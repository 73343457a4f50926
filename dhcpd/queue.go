package dhcpd

import (
	"net/netip"
	"time"
)

// Overload. A DHCP exchange is two requests: a DISCOVER, answered at
// once with an OFFER, then a REQUEST, whose ACK waits for the lease's
// fsync. When requests come faster than they can be served, a server
// that serves them in arrival order (and lets the kernel drop at random
// what does not fit in the socket's buffer) spends ever more of its time
// on DISCOVERs whose REQUEST it then drops or answers too late: the
// exchanges it completes fall far below what it can do, and their latency
// climbs to what the queues hold. dhcpd instead reads every datagram at
// once (cheap) into two bounded queues and serves
//
//   - REQUESTs (and every other message: DECLINE, RELEASE, INFORM,
//     BOOTP) first: each finishes an exchange already begun;
//   - DISCOVERs with what is left, but at least one for every
//     requestsPerDiscover other messages while both wait (a flood of
//     REQUESTs cannot shut out new clients), and none while
//     maxCommitsInFlight ACKs wait for the master (the lease store is
//     the bottleneck then: more OFFERs would only bring more REQUESTs
//     to wait);
//   - none that waited longer than its class's maxWait: the client has
//     given up or sent it again, and answering would only waste time
//     that fresher requests need. The oldest is dropped when a queue is
//     full.
//
// Under overload the completed exchanges thus stay near the most the
// server can do, and their latency near discoverMaxWait.
const (
	discoverQueueLen    = 1024
	requestQueueLen     = 2048
	discoverMaxWait     = 200 * time.Millisecond
	requestMaxWait      = 2 * time.Second
	maxCommitsInFlight  = 512
	requestsPerDiscover = 4
	// serveBurst is how many queued datagrams the serving goroutine
	// handles before it looks for new arrivals and master messages.
	serveBurst = 16
)

// queued is a datagram waiting to be served; data is its own buffer,
// reused by later datagrams in the same slot.
type queued struct {
	link *link
	data []byte
	src  netip.AddrPort
	dst  netip.Addr
	at   time.Time
}

// pktQueue is a bounded FIFO ring of datagrams; a push to a full queue
// drops the oldest.
type pktQueue struct {
	items   []queued
	head, n int
	maxWait time.Duration
}

func newPktQueue(size int, maxWait time.Duration) *pktQueue {
	return &pktQueue{items: make([]queued, size), maxWait: maxWait}
}

func (q *pktQueue) len() int { return q.n }

// push copies a datagram in; it reports whether the oldest was dropped
// to make room.
func (q *pktQueue) push(l *link, data []byte, src netip.AddrPort, dst netip.Addr, at time.Time) (dropped bool) {
	if q.n == len(q.items) {
		q.head = (q.head + 1) % len(q.items)
		q.n--
		dropped = true
	}
	it := &q.items[(q.head+q.n)%len(q.items)]
	it.link, it.data, it.src, it.dst, it.at = l, append(it.data[:0], data...), src, dst, at
	q.n++
	return dropped
}

// pop removes the oldest datagram. The pointer is valid until the next
// push.
func (q *pktQueue) pop() *queued {
	if q.n == 0 {
		return nil
	}
	it := &q.items[q.head]
	q.head = (q.head + 1) % len(q.items)
	q.n--
	return it
}

// messageType is a request's DHCP message type (option 53) without
// decoding it: 0 for BOOTP or a datagram too malformed to say (the
// decoder then judges it).
func messageType(b []byte) uint8 {
	const optionsStart = 240
	for i := optionsStart; i+1 < len(b); {
		switch code := b[i]; code {
		case 0:
			i++
		case 255:
			return 0
		case 53:
			if b[i+1] >= 1 && i+2 < len(b) {
				return b[i+2]
			}
			return 0
		default:
			i += 2 + int(b[i+1])
		}
	}
	return 0
}

// dhcpDiscover is option 53's value for a DHCPDISCOVER.
const dhcpDiscover = 1

// intake is the serving goroutine's two queues (see Overload above).
type intake struct {
	discovers, others *pktQueue
	sinceDiscover     int // others served since the last DISCOVER
}

func newIntake() *intake {
	return &intake{discovers: newPktQueue(discoverQueueLen, discoverMaxWait), others: newPktQueue(requestQueueLen, requestMaxWait)}
}

// add queues the datagrams of a batch; it returns how many older ones
// were dropped for lack of room.
func (in *intake) add(b *rxBatch) (dropped int) {
	for i := 0; i < b.n; i++ {
		if b.lens[i] < 0 {
			continue
		}
		data := b.data[i][:b.lens[i]]
		q := in.others
		if messageType(data) == dhcpDiscover {
			q = in.discovers
		}
		if q.push(b.link, data, b.src[i], b.dst[i], b.at) {
			dropped++
		}
	}
	return dropped
}

// next is the datagram to serve now, or nil when there is none or only
// DISCOVERs that must wait (discoversOK false: too many ACKs wait for
// the master). Datagrams that waited too long are dropped on the way
// (stale counts them).
func (in *intake) next(now time.Time, discoversOK bool, stale *int) *queued {
	for {
		preferDiscover := discoversOK && in.discovers.len() > 0 &&
			(in.others.len() == 0 || in.sinceDiscover >= requestsPerDiscover)
		q := in.others
		if preferDiscover {
			q = in.discovers
		}
		it := q.pop()
		if it == nil {
			return nil
		}
		if now.Sub(it.at) > q.maxWait {
			*stale++
			continue
		}
		if preferDiscover {
			in.sinceDiscover = 0
		} else {
			in.sinceDiscover++
		}
		return it
	}
}

// ready reports whether next would find work.
func (in *intake) ready(discoversOK bool) bool {
	return in.others.len() > 0 || (discoversOK && in.discovers.len() > 0)
}
