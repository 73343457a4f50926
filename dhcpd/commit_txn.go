package dhcpd

import (
	"unicode/utf8"

	"github.com/moatdns/moat/internal/dhcpserver"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// leaseTxn carries a grant's transaction to the master, which hands it
// to the dhcp-script (DNSMASQ_TAGS, DNSMASQ_VENDOR_CLASS and the rest).
// The engine keeps every field within what the master accepts
// (ipc/validate_txn.go); the interface name travels as a proto string,
// which must be UTF-8, so a name that is not is left out.
func leaseTxn(t *dhcpserver.Transaction) *ipcpb.LeaseTxn {
	if t == nil || !t.Addr.Is4() {
		return nil
	}
	out := &ipcpb.LeaseTxn{
		Addr: t.Addr.AsSlice(), SuppliedHostname: t.SuppliedHostname, VendorClass: t.VendorClass,
		UserClasses: t.UserClasses, RequestedOptions: t.RequestedOptions,
		CircuitId: t.CircuitID, SubscriberId: t.SubscriberID, RemoteId: t.RemoteID, MudUrl: t.MUDURL,
		CpewanOui: t.CPEWANOUI, CpewanSerial: t.CPEWANSerial, CpewanClass: t.CPEWANClass,
	}
	if utf8.ValidString(t.Interface) {
		out.Interface = t.Interface
	}
	if t.RelayAddr.Is4() {
		out.RelayAddress = t.RelayAddr.AsSlice()
	}
	if len(t.Tags) > 0 {
		out.Tags = make([][]byte, len(t.Tags))
		for i, tag := range t.Tags {
			out.Tags[i] = []byte(tag)
		}
	}
	return out
}
