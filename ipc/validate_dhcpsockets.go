package ipc

import (
	"fmt"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// DHCPSocketsChanged: the master hands dhcpd the sockets of DHCP
// interfaces that appeared after start, and names the ones gone.

// validateDHCPSocketsChanged checks a DHCPSocketsChanged: at most MaxFDs
// sockets added, each a per-interface DHCP socket (KIND_DHCP_UDP or
// KIND_DHCP_PACKET) naming one of the message's interfaces, every such
// interface with exactly one UDP socket and at most one packet socket,
// and removed interface names well formed. A message that changes
// nothing is not sent, so it is refused.
func validateDHCPSocketsChanged(c *ipcpb.DHCPSocketsChanged) error {
	added, ifs, removed := c.GetAdded(), c.GetInterfaces(), c.GetRemoved()
	switch {
	case len(added) == 0 && len(removed) == 0:
		return invalid("neither added sockets nor removed interfaces")
	case len(added) > MaxFDs:
		return invalid("added: %d, at most %d (one descriptor each)", len(added), MaxFDs)
	case len(removed) > maxDHCPInterfaces:
		return invalid("removed: %d, at most %d", len(removed), maxDHCPInterfaces)
	}
	if err := validateDHCPState(&ipcpb.DHCPState{Interfaces: ifs}); err != nil {
		return err
	}
	type count struct{ udp, packet int }
	byName := map[string]*count{}
	for i, ifc := range ifs {
		if byName[ifc.GetName()] != nil {
			return invalid("interfaces[%d]: %s named twice", i, ifc.GetName())
		}
		byName[ifc.GetName()] = &count{}
	}
	for i, s := range added {
		if err := validateSocket(s); err != nil {
			return fmt.Errorf("added[%d]: %w", i, err)
		}
		n := byName[s.GetInterface()]
		if n == nil {
			return invalid("added[%d]: interface %q is not among the interfaces", i, s.GetInterface())
		}
		switch s.GetKind() {
		case ipcpb.Socket_KIND_DHCP_UDP:
			n.udp++
		case ipcpb.Socket_KIND_DHCP_PACKET:
			n.packet++
		default:
			return invalid("added[%d]: kind %s is not a DHCP interface socket", i, s.GetKind())
		}
	}
	for name, n := range byName {
		if n.udp != 1 || n.packet > 1 {
			return invalid("interface %s: %d UDP and %d packet sockets, want 1 and at most 1", name, n.udp, n.packet)
		}
	}
	for i, name := range removed {
		if err := nonEmpty(fmt.Sprintf("removed[%d]", i), name, maxIfNameLen); err != nil {
			return err
		}
	}
	return nil
}
