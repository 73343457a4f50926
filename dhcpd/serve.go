package dhcpd

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
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
}

// attachSockets matches the SocketSet's sockets with the interfaces of
// the master's DHCPState. A socket for an interface the state does not
// name is closed and ignored.
func (s *server) attachSockets(socks []workerproc.Socket) {
	byName := map[string]*link{}
	for _, ifc := range s.state.GetInterfaces() {
		di := &dhcpserver.Interface{Name: ifc.GetName(), Index: int(ifc.GetIndex())}
		for _, p := range ifc.GetPrefixes() {
			if pf, err := netip.ParsePrefix(p); err == nil {
				di.Addrs = append(di.Addrs, pf)
			}
		}
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

// run is dhcpd's loop after Ready: one goroutine reads each UDP socket
// and one the master's connection; this goroutine alone drives the
// engine, so the engine needs no lock.
func (s *server) run(conn *ipc.Conn) error {
	arrivals := make(chan arrival, 256)
	for _, l := range s.links {
		go s.readLink(l, arrivals)
	}
	type fromMaster struct {
		m   *ipcpb.Envelope
		err error
	}
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
		if n := s.count.malformed.Load() + s.count.sendFail.Load(); n > 0 {
			fmt.Fprintf(os.Stderr, "dropped %d malformed requests, %d replies failed to send\n", s.count.malformed.Load(), s.count.sendFail.Load())
		}
	}()
	for {
		select {
		case a := <-arrivals:
			s.handleArrival(conn, a)
		case <-tick.C:
			s.act(conn, s.engine.Tick(time.Now()))
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
			case m.GetLeaseCommitted() != nil:
				c := m.GetLeaseCommitted()
				s.send(s.engine.Committed(c.GetId(), c.GetOk(), time.Now()))
			default:
				return fmt.Errorf("ipc: unexpected %T", m.GetMsg())
			}
		}
	}
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
// are answered "free" at once, as with no-ping, because the master does
// not pass a raw ICMP socket yet.
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
			out, more := s.engine.ProbeResult(a.ID, false, time.Now())
			s.send(out)
			s.act(conn, more)
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
