package masterd

import (
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// state is the DHCPState for a starting dhcpd: the interfaces it has
// sockets for, as they are now (dhcpLinks.states), and the store's leases.
func (s *leaseService) state(interfaces []*ipcpb.DHCPInterface) *ipcpb.DHCPState {
	st := &ipcpb.DHCPState{Interfaces: interfaces}
	for _, l := range s.store.Leases() {
		st.Leases = append(st.Leases, &ipcpb.LeaseRecord{Addr: l.Addr.AsSlice(), HwType: uint32(l.HWType),
			HwAddr: l.HWAddr, ClientId: l.ClientID, Hostname: l.Hostname, Expires: l.Expires})
	}
	return st
}

// configureDHCP is dhcpd's configuration at start: the interfaces'
// sockets, its DHCPState and DHCPConfig (dhcpLinks.configure, which also
// follows the interfaces afterwards).
func (m *master) configureDHCP(links *dhcpLinks) func(*ipc.Conn) error {
	return links.configure(m)
}
