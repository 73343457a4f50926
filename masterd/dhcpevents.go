package masterd

import (
	"net/netip"
	"sync"

	"github.com/moatdns/moat/internal/leases"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// leaseEvent is one change to the lease table that the master has made
// durable: Old is nil for a new lease, New is nil for a lease released,
// expired or deleted; both are set when a lease was renewed or changed
// (MAC, client-id, hostname or expiry). Consumers: lease names for dnsd
// (dhcpnames.go) and the dhcp-script helper (dhcpscript.go).
type leaseEvent struct {
	Old, New *leases.Lease
	// Txn is the DHCP request that made New, when dhcpd sent it with the
	// commit (a new lease, or a client asking anew for the lease it
	// holds): the dhcp-script's transaction data. Nil otherwise.
	Txn *ipcpb.LeaseTxn
}

// attachTxn gives a commit's transaction to the event of its lease. The
// master validated that one of the commit's records writes that lease
// (ipc/validate_txn.go), and changes reports every address a commit
// writes, so the event is there.
func attachTxn(evs []leaseEvent, txn *ipcpb.LeaseTxn) []leaseEvent {
	if txn == nil {
		return evs
	}
	addr, ok := netip.AddrFromSlice(txn.GetAddr())
	if !ok {
		return evs
	}
	for i := range evs {
		if n := evs[i].New; n != nil && n.Addr == addr {
			evs[i].Txn = txn
		}
	}
	return evs
}

// leaseObservers fans durable lease changes out to the master's
// consumers, in commit order. Observers run on the committing goroutine
// and must not block: they queue work for their own goroutines.
type leaseObservers struct {
	mu  sync.Mutex
	fns []func([]leaseEvent)
}

// observe registers fn for every later batch of changes.
func (o *leaseObservers) observe(fn func([]leaseEvent)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fns = append(o.fns, fn)
}

// emit hands one batch to every observer; an empty batch is not sent.
func (o *leaseObservers) emit(evs []leaseEvent) {
	if len(evs) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, fn := range o.fns {
		fn(evs)
	}
}
