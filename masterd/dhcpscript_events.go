package masterd

import (
	"bytes"
	"net/netip"
	"strings"
	"time"

	"github.com/moatdns/moat/internal/leases"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// scriptEventsFor turns one durable lease change into the dhcp-script
// calls dnsmasq 2.90 makes for it (lease.c do_script_run):
//   - a new lease: "add";
//   - a lease gone (released, expired, deleted): "del", with its name;
//   - the address now held by another client: "del" of the old lease,
//     then "add" of the new;
//   - the same client with a changed name: first an "old" without a name
//     and DNSMASQ_OLD_HOSTNAME set to the name it lost, then "old" with
//     the new state; a changed MAC address: "old";
//   - the same client asking anew for the lease it holds (a REQUEST with
//     option 50, as after DISCOVER or a reboot: the change has a Txn):
//     "old", even when only the expiry changed;
//   - a changed client-id or expiry without a Txn (a renewal): nothing,
//     except with leasefile-ro, where dnsmasq calls "old" so the script
//     can keep the database.
//
// The calls for the lease the request made carry its transaction data
// (ev.Txn); the others have DNSMASQ_DATA_MISSING, as in dnsmasq.
// domainFor gives the DHCP domain of an address (DNSMASQ_DOMAIN).
func scriptEventsFor(ev leaseEvent, now time.Time, leaseFileRO bool, domainFor func(netip.Addr) string) []*ipcpb.ScriptEvent {
	o, n := ev.Old, ev.New
	switch {
	case o == nil && n == nil:
		return nil
	case o == nil:
		return []*ipcpb.ScriptEvent{withTxn(leaseScriptEvent("add", *n, now, domainFor), ev.Txn)}
	case n == nil:
		return []*ipcpb.ScriptEvent{leaseScriptEvent("del", *o, now, domainFor)}
	case !sameLeaseClient(*o, *n):
		return []*ipcpb.ScriptEvent{leaseScriptEvent("del", *o, now, domainFor), withTxn(leaseScriptEvent("add", *n, now, domainFor), ev.Txn)}
	}
	var out []*ipcpb.ScriptEvent
	nameChanged := !strings.EqualFold(o.Hostname, n.Hostname)
	if nameChanged && o.Hostname != "" {
		lost := leaseScriptEvent("old", *n, now, domainFor)
		lost.Hostname, lost.OldHostname = "", o.Hostname
		if domainFor != nil { // dnsmasq passes the lost name qualified
			lost.Domain = domainFor(n.Addr)
		}
		out = append(out, withTxn(lost, ev.Txn))
	}
	hwChanged := o.HWType != n.HWType || !bytes.Equal(o.HWAddr, n.HWAddr)
	auxChanged := !bytes.Equal(o.ClientID, n.ClientID) || o.Expires != n.Expires
	if nameChanged || hwChanged || ev.Txn != nil || (auxChanged && leaseFileRO) {
		out = append(out, withTxn(leaseScriptEvent("old", *n, now, domainFor), ev.Txn))
	}
	return out
}

// withTxn adds a transaction's data to an event: DNSMASQ_DATA_MISSING
// goes, and DNSMASQ_INTERFACE is where the request arrived (a relayed
// client's too, as in dnsmasq).
func withTxn(ev *ipcpb.ScriptEvent, txn *ipcpb.LeaseTxn) *ipcpb.ScriptEvent {
	if txn == nil {
		return ev
	}
	ev.Txn, ev.DataMissing = txn, false
	if txn.GetInterface() != "" {
		ev.Interface = txn.GetInterface()
	}
	return ev
}

// sameLeaseClient: dnsmasq keeps a lease (and reports "old") while the
// client is the same by its rule: the same client-id when both have one,
// else the same hardware address.
func sameLeaseClient(a, b leases.Lease) bool {
	if len(a.ClientID) > 0 && len(b.ClientID) > 0 {
		return bytes.Equal(a.ClientID, b.ClientID)
	}
	return len(a.HWAddr) > 0 && a.HWType == b.HWType && bytes.Equal(a.HWAddr, b.HWAddr)
}

// leaseScriptEvent fills the fields the lease record knows. The
// transaction's data (tags, supplied name, classes, relay) is not in the
// record, so DNSMASQ_DATA_MISSING is set, as dnsmasq sets it whenever it
// has none; withTxn adds the data where a commit brought it.
func leaseScriptEvent(action string, l leases.Lease, now time.Time, domainFor func(netip.Addr) string) *ipcpb.ScriptEvent {
	ev := &ipcpb.ScriptEvent{
		Action: action, Addr: l.Addr.AsSlice(), HwType: uint32(l.HWType), HwAddr: bytes.Clone(l.HWAddr),
		ClientId: bytes.Clone(l.ClientID), Hostname: l.Hostname, Expires: l.Expires, DataMissing: true,
	}
	if l.Hostname != "" && domainFor != nil {
		ev.Domain = domainFor(l.Addr)
	}
	if l.Expires != 0 && l.Expires > now.Unix() {
		ev.TimeRemaining = uint32(min(l.Expires-now.Unix(), 1<<32-1))
	}
	return ev
}

// startupScriptEvents are the calls at start: "init" with leasefile-ro,
// then "old" for every lease still live, as dnsmasq's start-up SIGHUP
// does. Expired leases get their "del" from the master's expiry, which
// emits it like any other.
func startupScriptEvents(live []leases.Lease, now time.Time, leaseFileRO bool, domainFor func(netip.Addr) string) []*ipcpb.ScriptEvent {
	var out []*ipcpb.ScriptEvent
	if leaseFileRO {
		out = append(out, &ipcpb.ScriptEvent{Action: "init"})
	}
	return append(out, rerunScriptEvents(live, now, domainFor)...)
}

// rerunScriptEvents is "old" for every live lease (start-up and SIGHUP).
func rerunScriptEvents(live []leases.Lease, now time.Time, domainFor func(netip.Addr) string) []*ipcpb.ScriptEvent {
	var out []*ipcpb.ScriptEvent
	for _, l := range live {
		if l.Expired(now) {
			continue
		}
		out = append(out, leaseScriptEvent("old", l, now, domainFor))
	}
	return out
}

// ifaceNet is one IPv4 subnet of a DHCP interface.
type ifaceNet struct {
	name   string
	prefix netip.Prefix
}

// interfaceFor is DNSMASQ_INTERFACE as dnsmasq finds a lease's interface
// when it has not seen the client (lease_find_interfaces): the DHCP
// interface with the longest subnet holding the address. A relayed
// client's lease has none (dnsmasq names the interface the relay's
// packets arrived on; the lease record does not hold it).
func interfaceFor(nets []ifaceNet, a netip.Addr) string {
	best, bits := "", -1
	for _, n := range nets {
		if n.prefix.Contains(a) && n.prefix.Bits() > bits {
			best, bits = n.name, n.prefix.Bits()
		}
	}
	return best
}
