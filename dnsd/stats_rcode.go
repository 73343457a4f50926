package dnsd

import (
	"sync/atomic"

	"github.com/moatdns/moat/ipc"
)

// Replies by RCODE (issue 6, moat_dns_responses_total): every reply dnsd
// sends is counted by the RCODE in its header, on every send path: the
// cached-answer fast path and the pipeline's replies (udpLoop.queue), the
// forwarded replies batched per socket (mmsgBatch.add), single sends
// (writeUDP) and TCP. The count is taken just before the reply is handed
// to the kernel: a client that holds its reply finds it counted, and a
// reply that then fails to send is counted here and in write_errors.
//
// The header holds the RCODE's low 4 bits. dnsd's only extended RCODE is
// BADVERS (16, an unknown EDNS version), whose header bits are 0: it
// counts as NOERROR; reading the OPT record of every reply to tell would
// cost the hot path a walk of the message.
//
// The fast path must stay free of allocations and shared-cache-line
// traffic per reply: a batch loop tallies in its own array (rcodeTally,
// no atomics, no map) and adds the tally to the shared counters once per
// batch, as it does for its cache hits.

// numRcodes is the header's 4-bit RCODE space.
const numRcodes = 16

// Checked at compile time: the report never exceeds ipc's bound.
var _ [ipc.MaxDNSRcodes - numRcodes]struct{}

// rcodeCounts are the shared counters, indexed by RCODE.
type rcodeCounts struct {
	n [numRcodes]atomic.Uint64
}

// count counts one reply sent on a path that is not batched.
func (c *rcodeCounts) count(reply []byte) {
	if len(reply) >= 4 {
		c.n[reply[3]&0x0f].Add(1)
	}
}

// snapshot returns the counters for DNSMetrics.responses_by_rcode.
func (c *rcodeCounts) snapshot() []uint64 {
	out := make([]uint64, numRcodes)
	for i := range out {
		out[i] = c.n[i].Load()
	}
	return out
}

// rcodeTally is one goroutine's count of the replies of its current
// batch; it is not safe for concurrent use.
type rcodeTally struct {
	n       [numRcodes]uint32
	pending bool
}

// note counts one reply of the batch.
func (t *rcodeTally) note(reply []byte) {
	if len(reply) >= 4 {
		t.n[reply[3]&0x0f]++
		t.pending = true
	}
}

// addTo adds the tally to c and clears it.
func (t *rcodeTally) addTo(c *rcodeCounts) {
	if !t.pending {
		return
	}
	for i, n := range t.n {
		if n != 0 {
			c.n[i].Add(uint64(n))
			t.n[i] = 0
		}
	}
	t.pending = false
}
