package masterd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// dhcpLinks are the DHCP interfaces and their sockets (UDP :67 bound to
// the device, and the AF_PACKET send socket), kept up to date while moat
// runs. dnsmasq binds the wildcard :67 and learns a request's interface
// from IP_PKTINFO, so it serves an interface that appears after start (a
// bridge libvirt or Incus creates later) as soon as it has an address in
// a dhcp-range; moat's per-device sockets must be opened for it. On every
// rtnetlink link or address event the master looks again: an interface
// that now qualifies (dhcpInterfaces) gets its sockets, which go to dhcpd
// in a DHCPSocketsChanged; one that is gone (or was re-created with a new
// index) has its sockets closed and is named in the same message; the
// addresses of the rest go in a DHCPInterfaces when they change. dhcpd
// keeps its engine, leases and what it has in flight throughout.
//
// The supervisor hands dhcpd only the shared sockets (routed, ICMP) in
// its SocketSet; a starting dhcpd gets the interfaces' current sockets
// from configure, before its DHCPState. Registration (configure) and
// refresh hold the same lock, so no change falls between a dhcpd's
// DHCPState and the first change it is told of.
type dhcpLinks struct {
	cfg *config.Config
	log *logger
	// open opens an interface's sockets (openDHCPInterface).
	open func(net.Interface) ([]openSocket, error)
	// qualify lists the interfaces that should be served now
	// (dhcpInterfaces of cfg).
	qualify func() ([]net.Interface, error)
	once    sync.Once
	events  *os.File // rtnetlink, once subscribed

	mu     sync.Mutex
	links  map[string]*dhcpLink // by interface name
	conn   *ipc.Conn            // the dhcpd told of changes; nil while none
	last   []*ipcpb.DHCPInterface
	closed bool
}

// dhcpLink is one served interface: the index its sockets are bound to,
// and the sockets.
type dhcpLink struct {
	index int
	socks []openSocket
}

// openDHCPLinks opens the sockets of the interfaces that qualify now. A
// socket that cannot be opened at start is an error, as before; later
// ones are logged and tried again on the next event.
func openDHCPLinks(cfg *config.Config, log *logger) (*dhcpLinks, error) {
	d := &dhcpLinks{cfg: cfg, log: log, open: openDHCPInterface, links: map[string]*dhcpLink{},
		qualify: func() ([]net.Interface, error) { return dhcpInterfaces(cfg) }}
	ifs, err := d.qualify()
	if err != nil {
		return nil, err
	}
	if len(ifs) == 0 {
		log.printf("master", "DHCP: no interface has an IPv4 network holding a dhcp-range yet: interfaces are served as they get one")
	}
	for _, ifc := range ifs {
		socks, err := d.open(ifc)
		if err != nil {
			d.close()
			return nil, err
		}
		d.links[ifc.Name] = &dhcpLink{index: ifc.Index, socks: socks}
		d.log.auditSockets(auditSocketOpen, socks) // issue 7 (audit.go)
	}
	return d, nil
}

// openDHCPInterface opens one interface's UDP and AF_PACKET sockets.
func openDHCPInterface(ifc net.Interface) ([]openSocket, error) {
	u, err := openDHCPUDP(ifc.Name)
	if err != nil {
		return nil, err
	}
	p, err := openDHCPPacket(ifc)
	if err != nil {
		closeSockets([]openSocket{u})
		return nil, err
	}
	return []openSocket{u, p}, nil
}

// close closes every socket and the rtnetlink subscription; dhcpd keeps
// its own copies until it exits.
func (d *dhcpLinks) close() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.events != nil {
		_ = d.events.Close()
	}
	for name, l := range d.links {
		closeSockets(l.socks)
		delete(d.links, name)
	}
}

// sync brings the links up to date with the interfaces: gone ones (or
// re-created: another index) are closed and returned in removed, ones
// that now qualify are opened and returned in added. Callers hold d.mu.
func (d *dhcpLinks) sync() (added, removed []string) {
	if d.closed {
		return nil, nil
	}
	for _, name := range d.names() {
		l := d.links[name]
		ifc, err := net.InterfaceByName(name)
		if err == nil && ifc.Index == l.index {
			continue
		}
		d.log.closeSockets(l.socks) // issue 7 (audit.go)
		delete(d.links, name)
		removed = append(removed, name)
		d.log.printf("master", "DHCP interface %s: gone, its sockets closed", name)
	}
	ifs, err := d.qualify()
	if err != nil {
		d.log.printf("master", "DHCP: %v", err)
		return added, removed
	}
	for _, ifc := range ifs {
		if d.links[ifc.Name] != nil {
			continue
		}
		socks, err := d.open(ifc)
		if err != nil {
			d.log.printf("master", "DHCP interface %s: %v (tried again on the next interface change)", ifc.Name, err)
			continue
		}
		d.links[ifc.Name] = &dhcpLink{index: ifc.Index, socks: socks}
		d.log.auditSockets(auditSocketOpen, socks) // issue 7 (audit.go)
		added = append(added, ifc.Name)
		d.log.printf("master", "DHCP interface %s appeared: serving it", ifc.Name)
	}
	return added, removed
}

// names are the links' interface names, sorted (messages and logs come
// out in a stable order).
func (d *dhcpLinks) names() []string {
	names := make([]string, 0, len(d.links))
	for name := range d.links {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// states describes the named links' interfaces as they are now: index
// and IPv4 prefixes. An interface gone since sync is left out (the next
// event removes it).
func (d *dhcpLinks) states(names []string) []*ipcpb.DHCPInterface {
	var out []*ipcpb.DHCPInterface
	for _, name := range names {
		l := d.links[name]
		ifc, err := net.InterfaceByName(name)
		if l == nil || err != nil || ifc.Index != l.index {
			continue
		}
		s := &ipcpb.DHCPInterface{Name: ifc.Name, Index: uint32(ifc.Index)}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				ones, _ := ipn.Mask.Size()
				ip, _ := netip.AddrFromSlice(ipn.IP.To4())
				s.Prefixes = append(s.Prefixes, netip.PrefixFrom(ip, ones).String())
			}
		}
		out = append(out, s)
	}
	return out
}

// sendSockets sends the sockets of the added interfaces (those states
// describes) and the removed names in DHCPSocketsChanged messages of at
// most ipc.MaxFDs descriptors.
func (d *dhcpLinks) sendSockets(conn *ipc.Conn, states []*ipcpb.DHCPInterface, removed []string) error {
	msg := &ipcpb.DHCPSocketsChanged{Removed: removed}
	var fds []int
	flush := func() error {
		if len(msg.GetAdded()) == 0 && len(msg.GetRemoved()) == 0 {
			return nil
		}
		err := conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpSocketsChanged{DhcpSocketsChanged: msg}}, fds...)
		msg, fds = &ipcpb.DHCPSocketsChanged{}, nil
		return err
	}
	for _, st := range states {
		l := d.links[st.GetName()]
		if len(fds)+len(l.socks) > ipc.MaxFDs {
			if err := flush(); err != nil {
				return err
			}
		}
		if err := checkRoleSockets("dhcpd", l.socks); err != nil {
			return err
		}
		msg.Interfaces = append(msg.Interfaces, st)
		for _, s := range l.socks {
			msg.Added = append(msg.Added, s.desc)
			fds = append(fds, int(s.file.Fd()))
		}
	}
	return flush()
}

// configure is dhcpd's configuration at start (the supervisor's
// configure): every interface's sockets, its DHCPState (with the leases
// in chunks and a DHCPStateEnd), then the DHCPConfig, streamed. The dhcpd
// so configured is the one told of later changes.
func (d *dhcpLinks) configure(m *master) func(*ipc.Conn) error {
	return func(conn *ipc.Conn) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.conn = nil
		// Subscribed before the interfaces are read: no change is missed.
		d.once.Do(d.start)
		d.sync()
		states := d.states(d.names())
		if err := d.sendSockets(conn, states, nil); err != nil {
			return fmt.Errorf("send dhcp sockets: %w", err)
		}
		st := m.leases.state(states)
		// Streamed: a large lease table does not fit one message.
		if err := ipc.SendDHCPState(conn, st); err != nil {
			return fmt.Errorf("send dhcp state: %w", err)
		}
		if err := m.dhcp.send(conn); err != nil {
			return err
		}
		d.conn, d.last = conn, states
		return nil
	}
}

// start subscribes to rtnetlink and follows it for the life of the
// master. Without rtnetlink, interfaces are looked at only when dhcpd
// starts.
func (d *dhcpLinks) start() {
	events, err := subscribeAddrEvents()
	if err != nil {
		d.log.printf("master", "DHCP: %v: interface changes are seen only when dhcpd restarts", err)
		return
	}
	d.events = events
	go d.follow(events)
}

func (d *dhcpLinks) follow(events *os.File) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := events.Read(buf); err != nil && !errors.Is(err, unix.ENOBUFS) {
			// ENOBUFS: events were lost, which the refresh makes good.
			if !errors.Is(err, os.ErrClosed) {
				d.log.printf("master", "DHCP: read rtnetlink: %v: interface changes are seen only when dhcpd restarts", err)
			}
			return
		}
		drainEvents(events, buf)
		d.refresh()
	}
}

// refresh brings the links up to date and tells dhcpd what changed: the
// sockets of interfaces that appeared and the names of those gone, then
// the addresses of all when they differ from what it was last told.
func (d *dhcpLinks) refresh() {
	d.mu.Lock()
	defer d.mu.Unlock()
	added, removed := d.sync()
	if d.conn == nil {
		return // the next dhcpd gets the current links in configure
	}
	if err := d.sendSockets(d.conn, d.states(added), removed); err != nil {
		// dhcpd is gone or going; its successor starts from a new state.
		d.log.printf("master", "DHCP: tell dhcpd the interfaces: %v", err)
		d.conn = nil
		return
	}
	now := d.states(d.names())
	if slices.EqualFunc(now, d.last, func(a, b *ipcpb.DHCPInterface) bool { return proto.Equal(a, b) }) {
		return
	}
	msg := &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpInterfaces{DhcpInterfaces: &ipcpb.DHCPInterfaces{Interfaces: now}}}
	if err := d.conn.Send(msg); err != nil {
		d.log.printf("master", "DHCP: tell dhcpd the interfaces: %v", err)
		d.conn = nil
		return
	}
	before := map[string]*ipcpb.DHCPInterface{}
	for _, s := range d.last {
		before[s.GetName()] = s
	}
	d.last = now
	for _, s := range now {
		if !proto.Equal(s, before[s.GetName()]) {
			d.log.printf("master", "DHCP interface %s: addresses now %v", s.GetName(), s.GetPrefixes())
		}
	}
}
