package dhcpd

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/dhcpserver"
	"github.com/moatdns/moat/internal/leases"
	"github.com/moatdns/moat/internal/workerproc"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// tickEvery is how often the engine does its housekeeping (expired
// leases, forgotten probes and commits).
const tickEvery = 5 * time.Second

// link is one DHCP interface: the engine's view of it and the sockets
// the master opened on it.
type link struct {
	iface  *dhcpserver.Interface
	udp    int // UDP 0.0.0.0:67 bound to the device, IP_PKTINFO on
	packet int // AF_PACKET SOCK_DGRAM, send only; -1 if none
}

// arrival is one datagram read from a link's UDP socket.
type arrival struct {
	link *link
	data []byte
	src  netip.AddrPort
	dst  netip.Addr
}

// counters of what was dropped, for the log at exit.
type counters struct {
	malformed atomic.Uint64
	sendFail  atomic.Uint64
	pingFail  atomic.Uint64 // echo requests that could not be sent
}

// attachSockets matches the SocketSet's sockets with the interfaces of
// the master's DHCPState. A socket for an interface the state does not
// name is closed and ignored.
func (s *server) attachSockets(socks []workerproc.Socket) {
	s.routed = -1
	byName := map[string]*link{}
	for _, ifc := range s.state.GetInterfaces() {
		di := &dhcpserver.Interface{Name: ifc.GetName(), Index: int(ifc.GetIndex()), Addrs: parsePrefixes(ifc.GetPrefixes())}
		byName[di.Name] = &link{iface: di, udp: -1, packet: -1}
	}
	for _, sock := range socks {
		l := byName[sock.Desc.GetInterface()]
		kind := sock.Desc.GetKind()
		switch {
		case l != nil && kind == ipcpb.Socket_KIND_DHCP_UDP && l.udp < 0:
			l.udp = int(sock.File.Fd()) // Fd makes it blocking: one reader goroutine each
			s.files = append(s.files, sock.File)
		case l != nil && kind == ipcpb.Socket_KIND_DHCP_PACKET && l.packet < 0:
			l.packet = int(sock.File.Fd())
			s.files = append(s.files, sock.File)
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
			s.ping = p
			s.files = append(s.files, sock.File)
		default:
			_ = sock.File.Close()
		}
	}
	s.links = map[int]*link{}
	for _, l := range byName {
		if l.udp >= 0 {
			s.links[l.iface.Index] = l
		}
	}
}

// updateInterfaces takes the master's new view of the DHCP interfaces:
// a link whose addresses changed gets a new dhcpserver.Interface (the
// engine caches ranges per Interface), so requests from now on are served
// from the ranges of its new networks. Interfaces dhcpd has no socket
// for are ignored; so are index changes (the socket is bound to the
// interface it was opened on).
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

// run is dhcpd's loop after Ready: one goroutine reads each UDP socket
// and one the master's connection; this goroutine alone drives the
// engine, so the engine needs no lock.
func (s *server) run(conn *ipc.Conn) error {
	arrivals := make(chan arrival, 256)
	for _, l := range s.links {
		go s.readLink(l, l.iface.Name, arrivals)
	}
	type fromMaster struct {
		m   *ipcpb.Envelope
		err error
	}
	var replies chan dhcpserver.EchoReply
	if s.ping != nil {
		replies = make(chan dhcpserver.EchoReply, 256)
		go s.ping.read(replies)
	}
	pingTimer := time.NewTimer(time.Hour)
	pingTimer.Stop()
	defer pingTimer.Stop()
	master := make(chan fromMaster, 16)
	go func() {
		for {
			m, fds, err := conn.Recv()
			closeFDs(fds)
			if err == nil && len(fds) > 0 {
				err = fmt.Errorf("ipc: %d unexpected descriptors with %T", len(fds), m.GetMsg())
			}
			master <- fromMaster{m, err}
			if err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	defer func() {
		if n := s.count.malformed.Load() + s.count.sendFail.Load() + s.count.pingFail.Load(); n > 0 {
			fmt.Fprintf(os.Stderr, "dropped %d malformed requests, %d replies failed to send, %d pings failed to send\n",
				s.count.malformed.Load(), s.count.sendFail.Load(), s.count.pingFail.Load())
		}
	}()
	for {
		select {
		case a := <-arrivals:
			s.handleArrival(conn, a)
		case <-tick.C:
			s.act(conn, s.engine.Tick(time.Now()))
		case r := <-replies:
			if id, ok := s.ping.replied(r); ok {
				s.probeDone(conn, id, true)
			}
		case <-pingTimer.C:
			for _, id := range s.ping.expired(time.Now()) {
				s.probeDone(conn, id, false)
			}
		case fm := <-master:
			m, err := fm.m, fm.err
			switch {
			case errors.Is(err, io.EOF):
				return nil
			case err != nil:
				return fmt.Errorf("ipc: %w", err)
			case m.GetShutdown() != nil:
				return nil
			case m.GetDhcpConfig() != nil:
				if err := s.apply(m.GetDhcpConfig()); err != nil {
					return err
				}
				if s.ping != nil {
					s.ping.forget() // they were the old engine's
				}
			case m.GetDhcpInterfaces() != nil:
				s.updateInterfaces(m.GetDhcpInterfaces().GetInterfaces())
			case m.GetLeaseCommitted() != nil:
				c := m.GetLeaseCommitted()
				s.send(s.engine.Committed(c.GetId(), c.GetOk(), time.Now()))
			default:
				return fmt.Errorf("ipc: unexpected %T", m.GetMsg())
			}
		}
		s.armPing(pingTimer)
	}
}

// armPing sets t to fire at the earliest probe deadline.
func (s *server) armPing(t *time.Timer) {
	if s.ping == nil {
		return
	}
	if at, ok := s.ping.next(); ok {
		t.Reset(time.Until(at))
	}
}

// probeDone hands a probe's outcome to the engine and carries out what
// follows: the parked DISCOVER's OFFER, or another probe.
func (s *server) probeDone(conn *ipc.Conn, id uint64, inUse bool) {
	out, more := s.engine.ProbeResult(id, inUse, time.Now())
	s.send(out)
	s.act(conn, more)
}

// handleArrival decodes one request and runs it through the engine.
// A malformed packet is counted and dropped.
func (s *server) handleArrival(conn *ipc.Conn, a arrival) {
	pkt, err := dhcpv4.FromBytes(a.data)
	if err != nil || pkt.OpCode != dhcpv4.OpcodeBootRequest {
		s.count.malformed.Add(1)
		return
	}
	out, acts := s.engine.Handle(dhcpserver.Inbound{Packet: pkt, Interface: a.link.iface, Src: a.src, Dst: a.dst}, time.Now())
	s.send(out)
	s.act(conn, acts)
}

// act carries out the engine's actions: commits go to the master; probes
// go out on the ping socket, or, without one (the master could not open
// it), are answered "free" at once, as with no-ping.
func (s *server) act(conn *ipc.Conn, acts []dhcpserver.Action) {
	// The engine reuses acts: ProbeResult below would overwrite it.
	pending := append([]dhcpserver.Action(nil), acts...)
	for _, a := range pending {
		switch a.Kind {
		case dhcpserver.Commit:
			if len(a.Records) == 0 {
				s.send(s.engine.Committed(a.ID, true, time.Now()))
				continue
			}
			if err := conn.Send(leaseCommit(a)); err != nil {
				fmt.Fprintf(os.Stderr, "lease commit %d: %v\n", a.ID, err)
				s.send(s.engine.Committed(a.ID, false, time.Now()))
			}
		case dhcpserver.Probe:
			if s.ping != nil {
				err := s.ping.send(a.ID, a.Addr, time.Now())
				if err == nil {
					continue
				}
				s.count.pingFail.Add(1)
			}
			s.probeDone(conn, a.ID, false)
		}
	}
}

func leaseCommit(a dhcpserver.Action) *ipcpb.Envelope {
	c := &ipcpb.LeaseCommit{Id: a.ID, Records: make([]*ipcpb.LeaseRecord, 0, len(a.Records))}
	for _, r := range a.Records {
		c.Records = append(c.Records, leaseRecord(r))
	}
	return &ipcpb.Envelope{Msg: &ipcpb.Envelope_LeaseCommit{LeaseCommit: c}}
}

func leaseRecord(r leases.Record) *ipcpb.LeaseRecord {
	l := r.Lease
	if r.Delete {
		return &ipcpb.LeaseRecord{Delete: true, Addr: l.Addr.AsSlice()}
	}
	return &ipcpb.LeaseRecord{Addr: l.Addr.AsSlice(), HwType: uint32(l.HWType), HwAddr: l.HWAddr,
		ClientId: l.ClientID, Hostname: l.Hostname, Expires: l.Expires}
}

// leasesFromState are the master's leases a new engine starts with.
func leasesFromState(st *ipcpb.DHCPState) []leases.Lease {
	out := make([]leases.Lease, 0, len(st.GetLeases()))
	for _, r := range st.GetLeases() {
		addr, ok := netip.AddrFromSlice(r.GetAddr())
		if !ok {
			continue
		}
		out = append(out, leases.Lease{Addr: addr, HWType: uint8(r.GetHwType()), HWAddr: r.GetHwAddr(),
			ClientID: r.GetClientId(), Hostname: r.GetHostname(), Expires: r.GetExpires()})
	}
	return out
}
