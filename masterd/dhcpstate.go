package masterd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// state is the DHCPState for a starting dhcpd: the interfaces it has
// sockets for, looked up now, and the store's leases.
func (s *leaseService) state(socks []openSocket) *ipcpb.DHCPState {
	st := &ipcpb.DHCPState{Interfaces: dhcpInterfaceStates(socks, s.log)}
	for _, l := range s.store.Leases() {
		st.Leases = append(st.Leases, &ipcpb.LeaseRecord{Addr: l.Addr.AsSlice(), HwType: uint32(l.HWType),
			HwAddr: l.HWAddr, ClientId: l.ClientID, Hostname: l.Hostname, Expires: l.Expires})
	}
	return st
}

// dhcpInterfaceStates describes the interfaces of the DHCP UDP sockets
// as they are now: index and IPv4 prefixes. An interface that is gone is
// logged and left out.
func dhcpInterfaceStates(socks []openSocket, log *logger) []*ipcpb.DHCPInterface {
	var out []*ipcpb.DHCPInterface
	for _, sock := range socks {
		if sock.desc.GetKind() != ipcpb.Socket_KIND_DHCP_UDP {
			continue
		}
		ifc, err := net.InterfaceByName(sock.desc.GetInterface())
		if err != nil {
			log.printf("master", "DHCP interface %s: %v", sock.desc.GetInterface(), err)
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
		out = append(out, d)
	}
	return out
}

// configureDHCP is dhcpd's configuration at start: its DHCPState (with
// the leases in chunks and a DHCPStateEnd), then the DHCPConfig. The
// dhcpd so configured is the one told of later address changes on its
// interfaces (dhcpIfaceWatch).
func (m *master) configureDHCP(socks []openSocket) func(*ipc.Conn) error {
	w := &dhcpIfaceWatch{socks: socks, log: m.log}
	return func(conn *ipc.Conn) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.conn = nil
		// Subscribed before the state is read: no change is missed.
		w.once.Do(w.start)
		st := m.leases.state(socks)
		// Streamed: a large lease table does not fit one message.
		if err := ipc.SendDHCPState(conn, st); err != nil {
			return fmt.Errorf("send dhcp state: %w", err)
		}
		if err := m.dhcp.send(conn); err != nil {
			return err
		}
		w.conn, w.last = conn, st.GetInterfaces()
		return nil
	}
}

// dhcpIfaceWatch follows the addresses of the DHCP interfaces after
// start: dhcpd, in an empty network namespace, cannot see them, and the
// ranges it serves on an interface depend on them (an address added
// later, a DHCP client on the router changing its own address). On
// every rtnetlink address or link event it looks again and, when the
// interfaces differ from what dhcpd was last told, sends them in a
// DHCPInterfaces message. Registration (configureDHCP) and refresh hold
// the same lock, so no change falls between a dhcpd's DHCPState and its
// first DHCPInterfaces.
type dhcpIfaceWatch struct {
	socks []openSocket
	log   *logger
	once  sync.Once

	mu   sync.Mutex
	conn *ipc.Conn // the dhcpd told of changes; nil while none
	last []*ipcpb.DHCPInterface
}

// start subscribes to rtnetlink and follows it for the life of the
// master. Without rtnetlink, addresses are read only at dhcpd's start.
func (w *dhcpIfaceWatch) start() {
	events, err := subscribeAddrEvents()
	if err != nil {
		w.log.printf("master", "DHCP: %v: interface address changes are seen only when dhcpd restarts", err)
		return
	}
	go w.follow(events)
}

func (w *dhcpIfaceWatch) follow(events *os.File) {
	defer events.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := events.Read(buf); err != nil && !errors.Is(err, unix.ENOBUFS) {
			// ENOBUFS: events were lost, which the refresh makes good.
			w.log.printf("master", "DHCP: read rtnetlink: %v: interface address changes are seen only when dhcpd restarts", err)
			return
		}
		drainEvents(events, buf)
		w.refresh()
	}
}

// refresh tells dhcpd the interfaces if they changed.
func (w *dhcpIfaceWatch) refresh() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return
	}
	now := dhcpInterfaceStates(w.socks, w.log)
	if slices.EqualFunc(now, w.last, func(a, b *ipcpb.DHCPInterface) bool { return proto.Equal(a, b) }) {
		return
	}
	msg := &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpInterfaces{DhcpInterfaces: &ipcpb.DHCPInterfaces{Interfaces: now}}}
	if err := w.conn.Send(msg); err != nil {
		// dhcpd is gone or going; its successor starts from a new state.
		w.log.printf("master", "DHCP: tell dhcpd the interfaces: %v", err)
		w.conn = nil
		return
	}
	w.last = now
	for _, d := range now {
		w.log.printf("master", "DHCP interface %s: addresses now %v", d.GetName(), d.GetPrefixes())
	}
}
