package dhcpd

import (
	"fmt"
	"net/netip"
	"os"
	"slices"

	"github.com/moatdns/moat/internal/dhcpserver"
	"github.com/moatdns/moat/internal/workerproc"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// dhcpd's interfaces come and go while it runs: the master opens the
// sockets of an interface that appears (a bridge created after start)
// and passes them in a DHCPSocketsChanged, and names the interfaces that
// are gone. At start the same message carries every interface's sockets,
// before the DHCPState. The engine, its leases and what it has in flight
// stay as they are: only the set of links changes.

// socketsChange is one DHCPSocketsChanged with its descriptors.
type socketsChange struct {
	msg   *ipcpb.DHCPSocketsChanged
	files []*os.File
}

// takeSocketFiles turns the descriptors that came with m into files: a
// DHCPSocketsChanged carries one per added socket (Recv checked the
// count); any other message none, and descriptors with it are closed and
// refused.
func takeSocketFiles(m *ipcpb.Envelope, fds []int) ([]*os.File, error) {
	if m.GetDhcpSocketsChanged() == nil {
		closeFDs(fds)
		if len(fds) > 0 {
			return nil, fmt.Errorf("ipc: %d unexpected descriptors with %T", len(fds), m.GetMsg())
		}
		return nil, nil
	}
	files := make([]*os.File, len(fds))
	for i, fd := range fds {
		files[i] = os.NewFile(uintptr(fd), "dhcp-socket")
	}
	return files, nil
}

// attachSockets matches the SocketSet's sockets with the interfaces of
// the master's DHCPState, then takes the interface sockets that came in
// DHCPSocketsChanged messages before the state. A socket for an
// interface the state does not name is closed and ignored.
func (s *server) attachSockets(socks []workerproc.Socket) {
	s.routed = -1
	if s.links == nil {
		s.links = map[int]*link{}
	}
	if s.linkFiles == nil {
		s.linkFiles = map[int][]*os.File{}
	}
	byName := map[string]*link{}
	for _, ifc := range s.state.GetInterfaces() {
		byName[ifc.GetName()] = newLink(ifc)
	}
	var files = map[string][]*os.File{}
	for _, sock := range socks {
		l := byName[sock.Desc.GetInterface()]
		kind := sock.Desc.GetKind()
		switch {
		case l != nil && (kind == ipcpb.Socket_KIND_DHCP_UDP || kind == ipcpb.Socket_KIND_DHCP_PACKET):
			if f, ok := l.take(sock); ok {
				files[l.iface.Name] = append(files[l.iface.Name], f...)
			}
		case kind == ipcpb.Socket_KIND_DHCP_ROUTED && s.routed < 0:
			s.routed = int(sock.File.Fd())
			s.files = append(s.files, sock.File)
		case kind == ipcpb.Socket_KIND_ICMP && s.ping == nil:
			p, err := newPinger(int(sock.File.Fd()), dhcpserver.PingWait)
			if err != nil {
				fmt.Fprintf(os.Stderr, "ping check off: %v\n", err)
				_ = sock.File.Close()
				continue
			}
			p.drops = &s.count.drops // a parse that panics counts as ping_panic
			s.ping = p
			s.files = append(s.files, sock.File)
		default:
			_ = sock.File.Close()
		}
	}
	for name, l := range byName {
		s.addLink(l, files[name])
	}
	for _, c := range s.startSockets {
		s.changeSockets(c.msg, c.files)
	}
	s.startSockets = nil
}

func newLink(ifc *ipcpb.DHCPInterface) *link {
	di := &dhcpserver.Interface{Name: ifc.GetName(), Index: int(ifc.GetIndex()), Addrs: parsePrefixes(ifc.GetPrefixes())}
	return &link{iface: di, udp: -1, packet: -1}
}

// take makes sock the link's UDP or packet socket and returns the files
// to close with the link; a second socket of a kind, or one that cannot
// be polled, is closed.
func (l *link) take(sock workerproc.Socket) ([]*os.File, bool) {
	switch kind := sock.Desc.GetKind(); {
	case kind == ipcpb.Socket_KIND_DHCP_UDP && l.udp < 0:
		fd := int(sock.File.Fd())
		f, rc, err := pollable(fd, "dhcp-udp-"+l.iface.Name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "interface %s: %v\n", l.iface.Name, err)
			break
		}
		l.udp, l.rc = fd, rc
		return []*os.File{sock.File, f}, true
	case kind == ipcpb.Socket_KIND_DHCP_PACKET && l.packet < 0:
		l.packet = int(sock.File.Fd())
		return []*os.File{sock.File}, true
	}
	_ = sock.File.Close()
	return nil, false
}

// addLink serves l from now on if it has its UDP socket; otherwise its
// files are closed. While the serving loop runs (s.arrivals set), the
// link's reader starts at once.
func (s *server) addLink(l *link, files []*os.File) {
	if l.udp < 0 {
		closeFiles(files)
		return
	}
	if old := s.links[l.iface.Index]; old != nil {
		s.removeLink(old)
	}
	l.direct = s.linkBatch(l) // rx.go: counts what it skips
	l.free = make(chan *rxBatch, rxBatchesPerLink)
	for range rxBatchesPerLink {
		l.free <- s.linkBatch(l)
	}
	s.links[l.iface.Index] = l
	s.linkFiles[l.iface.Index] = files
	if s.arrivals != nil {
		go s.readLink(l, l.iface.Name, s.arrivals)
	}
}

// removeLink stops serving l and closes its sockets; its reader ends on
// the closed socket. Requests of l still queued are served, and their
// replies fail to send (the interface is gone).
func (s *server) removeLink(l *link) {
	delete(s.links, l.iface.Index)
	closeFiles(s.linkFiles[l.iface.Index])
	delete(s.linkFiles, l.iface.Index)
}

// changeSockets applies a DHCPSocketsChanged: the removed interfaces'
// links go first, then the added interfaces become links with their
// sockets.
func (s *server) changeSockets(sc *ipcpb.DHCPSocketsChanged, files []*os.File) {
	for _, name := range sc.GetRemoved() {
		for _, l := range s.links {
			if l.iface.Name == name {
				fmt.Fprintf(os.Stderr, "interface %s: gone, no longer served\n", name)
				s.removeLink(l)
			}
		}
	}
	added := map[string]*link{}
	var order []*link
	for _, ifc := range sc.GetInterfaces() {
		l := newLink(ifc)
		added[ifc.GetName()] = l
		order = append(order, l)
	}
	linkFiles := map[*link][]*os.File{}
	for i, desc := range sc.GetAdded() {
		if i >= len(files) {
			break // Recv checked the count; a caller of its own may not have
		}
		sock := workerproc.Socket{Desc: desc, File: files[i]}
		l := added[desc.GetInterface()]
		if l == nil {
			_ = sock.File.Close()
			continue
		}
		if f, ok := l.take(sock); ok {
			linkFiles[l] = append(linkFiles[l], f...)
		}
	}
	for _, l := range order {
		s.addLink(l, linkFiles[l])
		if l.udp >= 0 {
			fmt.Fprintf(os.Stderr, "interface %s: served, addresses %v\n", l.iface.Name, l.iface.Addrs)
		}
	}
}

// recvStartSockets reads what the master sends before the DHCPState: the
// interfaces' sockets, in DHCPSocketsChanged messages, kept until
// attachSockets. It returns the first other message.
func (s *server) recvStartSockets(conn *ipc.Conn) (*ipcpb.Envelope, error) {
	for {
		m, fds, err := conn.Recv()
		if err != nil {
			return nil, fmt.Errorf("waiting for dhcp state: %w", err)
		}
		files, err := takeSocketFiles(m, fds)
		if err != nil {
			return nil, err
		}
		sc := m.GetDhcpSocketsChanged()
		if sc == nil {
			return m, nil
		}
		if len(s.startSockets) >= maxStartSocketMessages {
			closeFiles(files)
			return nil, fmt.Errorf("ipc: more than %d DHCPSocketsChanged before the DHCP state", maxStartSocketMessages)
		}
		s.startSockets = append(s.startSockets, socketsChange{msg: sc, files: files})
	}
}

// maxStartSocketMessages bounds the DHCPSocketsChanged before the state:
// two sockets for each of the most interfaces a DHCPState names (256),
// at least MaxFDs-2 to a message, with room to spare.
const maxStartSocketMessages = 4 * 256 / ipc.MaxFDs

func closeFiles(files []*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

// updateInterfaces takes the master's new view of the DHCP interfaces:
// a link whose addresses changed gets a new dhcpserver.Interface (the
// engine caches ranges per Interface), so requests from now on are served
// from the ranges of its new networks. Interfaces dhcpd has no socket
// for are ignored; so are index changes (the socket is bound to the
// interface it was opened on; the master replaces such an interface's
// sockets with a DHCPSocketsChanged).
func (s *server) updateInterfaces(ifs []*ipcpb.DHCPInterface) {
	byName := map[string]*link{}
	for _, l := range s.links {
		byName[l.iface.Name] = l
	}
	for _, ifc := range ifs {
		l := byName[ifc.GetName()]
		if l == nil {
			continue
		}
		di := &dhcpserver.Interface{Name: l.iface.Name, Index: l.iface.Index, Addrs: parsePrefixes(ifc.GetPrefixes())}
		if slices.Equal(di.Addrs, l.iface.Addrs) {
			continue
		}
		fmt.Fprintf(os.Stderr, "interface %s: addresses now %v\n", di.Name, di.Addrs)
		l.iface = di
	}
}

func parsePrefixes(ps []string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if pf, err := netip.ParsePrefix(p); err == nil {
			out = append(out, pf)
		}
	}
	return out
}
