package masterd

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// state is the DHCPState for a starting dhcpd: the interfaces it has
// sockets for, looked up now, and the store's leases.
func (s *leaseService) state(socks []openSocket) *ipcpb.DHCPState {
	st := &ipcpb.DHCPState{}
	for _, sock := range socks {
		if sock.desc.GetKind() != ipcpb.Socket_KIND_DHCP_UDP {
			continue
		}
		ifc, err := net.InterfaceByName(sock.desc.GetInterface())
		if err != nil {
			s.log.printf("master", "DHCP interface %s: %v", sock.desc.GetInterface(), err)
			continue
		}
		d := &ipcpb.DHCPInterface{Name: ifc.Name, Index: uint32(ifc.Index)}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				ones, _ := ipn.Mask.Size()
				ip, _ := netip.AddrFromSlice(ipn.IP.To4())
				d.Prefixes = append(d.Prefixes, netip.PrefixFrom(ip, ones).String())
			}
		}
		st.Interfaces = append(st.Interfaces, d)
	}
	for _, l := range s.store.Leases() {
		st.Leases = append(st.Leases, &ipcpb.LeaseRecord{Addr: l.Addr.AsSlice(), HwType: uint32(l.HWType),
			HwAddr: l.HWAddr, ClientId: l.ClientID, Hostname: l.Hostname, Expires: l.Expires})
	}
	return st
}

// configureDHCP is dhcpd's configuration at start: its DHCPState, then
// the DHCPConfig.
func (m *master) configureDHCP(socks []openSocket) func(*ipc.Conn) error {
	return func(conn *ipc.Conn) error {
		st := &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpState{DhcpState: m.leases.state(socks)}}
		if err := conn.Send(st); err != nil {
			return fmt.Errorf("send dhcp state: %w", err)
		}
		return m.dhcp.send(conn)
	}
}
