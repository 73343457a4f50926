package ipc

import (
	"fmt"
	"net/netip"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// SocketsChanged (bind-dynamic): the master adds and removes dnsd's DNS
// sockets while it runs. Only DNS sockets bound to one address travel
// this way; removed names such addresses.

// validateSocketsChanged checks a SocketsChanged: at most MaxFDs sockets
// added, each a DNS socket bound to a specific address and port, and
// removed addresses of the same form. A message that changes nothing is
// not sent, so it is refused.
func validateSocketsChanged(c *ipcpb.SocketsChanged) error {
	added, removed := c.GetAdded(), c.GetRemoved()
	if len(added) == 0 && len(removed) == 0 {
		return invalid("neither added nor removed sockets")
	}
	if len(added) > MaxFDs {
		return invalid("added: %d, at most %d (one descriptor each)", len(added), MaxFDs)
	}
	if len(removed) > MaxRemovedSockets {
		return invalid("removed: %d, at most %d", len(removed), MaxRemovedSockets)
	}
	for i, s := range added {
		if err := validateSocket(s); err != nil {
			return fmt.Errorf("added[%d]: %w", i, err)
		}
		if k := s.GetKind(); k != ipcpb.Socket_KIND_DNS_UDP && k != ipcpb.Socket_KIND_DNS_TCP {
			return invalid("added[%d]: kind %s is not a DNS socket", i, k)
		}
		if err := boundAddress(s.GetAddress()); err != nil {
			return fmt.Errorf("added[%d]: %w", i, err)
		}
	}
	for i, a := range removed {
		if err := boundAddress(a); err != nil {
			return fmt.Errorf("removed[%d]: %w", i, err)
		}
	}
	return nil
}

// MaxRemovedSockets bounds the addresses one SocketsChanged may remove: a
// removal names an address, not a descriptor, but no host has more
// addresses than this in one change worth a single message.
const MaxRemovedSockets = 1024

// boundAddress checks an "ip:port" of a socket bound to one address: not
// a wildcard, not port 0.
func boundAddress(s string) error {
	if err := nonEmpty("address", s, maxAddrTextLen); err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return invalid("address %q: %v", s, err)
	}
	if ap.Addr().IsUnspecified() || ap.Port() == 0 {
		return invalid("address %q: not one bound address and port", s)
	}
	return nil
}

// wantFDs is how many descriptors m must carry: one per Socket of a
// SocketSet or per added socket of a SocketsChanged, none otherwise.
func wantFDs(m *ipcpb.Envelope) int {
	if ss := m.GetSocketSet(); ss != nil {
		return len(ss.GetSockets())
	}
	if sc := m.GetSocketsChanged(); sc != nil {
		return len(sc.GetAdded())
	}
	if sc := m.GetDhcpSocketsChanged(); sc != nil { // issue 4 (validate_dhcpsockets.go)
		return len(sc.GetAdded())
	}
	return 0
}
