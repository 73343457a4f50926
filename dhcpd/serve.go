package dhcpd

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moatdns/moat/internal/dhcpserver"
	"github.com/moatdns/moat/internal/leases"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// tickEvery is how often the engine does its housekeeping (expired
// leases, forgotten probes and commits).
const tickEvery = 5 * time.Second

// link is one DHCP interface: the engine's view of it and the sockets
// the master opened on it.
type link struct {
	iface *dhcpserver.Interface
	udp   int // UDP 0.0.0.0:67 bound to the device, IP_PKTINFO on
	// rc is udp through the runtime poller (nonblocking): reads and
	// sends on it park a goroutine, never a thread (rx.go).
	rc   syscall.RawConn
	free chan *rxBatch // receive batches the reader may fill
	// direct is the serving goroutine's own batch, for reading udp
	// itself while it is busy (pollLinks).
	direct *rxBatch
	packet int // AF_PACKET SOCK_DGRAM, send only; -1 if none
}

// rxBatchesPerLink is how many receive batches a link's reader and the
// serving goroutine pass between them.
const rxBatchesPerLink = 4

// counters of what was dropped, for the log at exit.
type counters struct {
	malformed atomic.Uint64
	drops     dropCounts // malformed by reason, and panics (malformed.go)
	sendFail  atomic.Uint64
	pingFail  atomic.Uint64 // echo requests that could not be sent
	// overload: requests dropped unserved (queue full, or waited too
	// long: queue.go); overloadLogged is what the log has reported.
	overload       atomic.Uint64
	overloadLogged uint64
}

// run is dhcpd's loop after Ready: one goroutine reads each UDP socket
// and one the master's connection; this goroutine alone drives the
// engine, so the engine needs no lock. Datagrams wait in the intake's
// queues (queue.go), which decide what is served first under load.
func (s *server) run(conn *ipc.Conn) error {
	arrivals := make(chan *rxBatch, rxBatchesPerLink*max(1, len(s.links)))
	s.arrivals = arrivals // links that appear later read into it too (links.go)
	for _, l := range s.links {
		go s.readLink(l, l.iface.Name, arrivals)
	}
	type fromMaster struct {
		m     *ipcpb.Envelope
		files []*os.File // a DHCPSocketsChanged's sockets (links.go)
		err   error
	}
	var replies chan dhcpserver.EchoReply
	if s.ping != nil {
		replies = make(chan dhcpserver.EchoReply, 256)
		go s.ping.read(replies)
	}
	pingTimer := time.NewTimer(time.Hour)
	pingTimer.Stop()
	defer pingTimer.Stop()
	master := make(chan fromMaster, 256)
	go func() {
		for {
			m, fds, err := conn.Recv()
			var files []*os.File
			if err == nil {
				files, err = takeSocketFiles(m, fds) // descriptors come only with DHCPSocketsChanged (links.go)
			}
			master <- fromMaster{m, files, err}
			if err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	defer func() {
		if n := s.count.malformed.Load() + s.count.sendFail.Load() + s.count.pingFail.Load() + s.count.overload.Load(); n > 0 {
			fmt.Fprintf(os.Stderr, "dropped %d malformed requests, %d requests unserved under overload, %d replies failed to send, %d pings failed to send\n",
				s.count.malformed.Load(), s.count.overload.Load(), s.count.sendFail.Load(), s.count.pingFail.Load())
		}
	}()
	in := newIntake()
	var idle <-chan time.Time // never ready: select blocks
	busy := make(chan time.Time)
	close(busy) // always ready: select falls through to serving
	for {
		wait := idle
		if in.ready(s.discoversOK()) {
			wait = busy
		}
		select {
		case b := <-arrivals:
			s.intake(in, b)
			// Whatever else has arrived joins the queues before serving
			// chooses from them.
			for len(arrivals) > 0 {
				s.intake(in, <-arrivals)
			}
		case <-wait:
		case <-tick.C:
			s.act(conn, s.engine.Tick(time.Now()))
			s.logOverload()
			s.logDrops() // malformed.go
		case r := <-replies:
			if id, ok := s.ping.replied(r); ok {
				s.probeDone(conn, id, true)
			}
		case <-pingTimer.C:
			for _, id := range s.ping.expired(time.Now()) {
				s.probeDone(conn, id, false)
			}
		case fm := <-master:
			// Answers come in bursts (a group commit answers many):
			// take all that are here, so their ACKs leave together.
			for {
				stop, err := s.fromMaster(fm.m, fm.files, fm.err)
				if stop || err != nil {
					return err
				}
				if len(master) == 0 {
					break
				}
				fm = <-master
			}
		}
		s.serveQueued(conn, in)
		s.flushCommits(conn)
		if err := s.flushMetrics(conn); err != nil { // issue 6 (stats.go)
			return err
		}
		s.armPing(pingTimer)
	}
}

// fromMaster handles one message from the master (or the error reading
// it); stop says the worker is to end (with err, or cleanly).
func (s *server) fromMaster(m *ipcpb.Envelope, files []*os.File, err error) (stop bool, _ error) {
	switch {
	case errors.Is(err, io.EOF):
		return true, nil
	case err != nil:
		return true, fmt.Errorf("ipc: %w", err)
	case m.GetShutdown() != nil:
		return true, nil
	case ipc.IsDHCPConfigStream(m): // a new configuration, streamed (config.go)
		if err := s.configStream(m); err != nil {
			return true, err
		}
	case m.GetDhcpSocketsChanged() != nil: // interfaces that appear or go (links.go)
		s.changeSockets(m.GetDhcpSocketsChanged(), files)
	case m.GetDhcpInterfaces() != nil:
		s.updateInterfaces(m.GetDhcpInterfaces().GetInterfaces())
	case m.GetMetricsRequest() != nil: // issue 6: answered after this round (stats.go)
		s.stats.askMetrics(m.GetMetricsRequest())
	case m.GetLeaseCommitted() != nil:
		c := m.GetLeaseCommitted()
		s.send(s.engine.Committed(c.GetId(), c.GetOk(), time.Now()))
	default:
		return true, fmt.Errorf("ipc: unexpected %T", m.GetMsg())
	}
	return false, nil
}

// intake queues a receive batch's datagrams and gives the batch back to
// its reader.
func (s *server) intake(in *intake, b *rxBatch) {
	if n := in.add(b); n > 0 {
		s.count.overload.Add(uint64(n))
	}
	b.link.free <- b
}

// discoversOK says whether DISCOVERs may be served now: not while
// maxCommitsInFlight ACKs wait for the master.
func (s *server) discoversOK() bool {
	return s.engine.PendingCommits() < maxCommitsInFlight
}

// pollBatches bounds the batches pollLinks reads from one socket at a
// time.
const pollBatches = 8

// pollLinks reads what waits on the links' sockets straight into the
// queues, without blocking. The serving goroutine does this itself
// before each burst because, when it has work queued, it never blocks:
// dhcpd usually has a single processor, the readers' goroutines would
// then run only when the runtime preempts it (every 10 ms or so), and
// the sockets would overflow under load. The readers still wake the
// loop when it is idle.
func (s *server) pollLinks(in *intake) {
	for _, l := range s.links {
		for range pollBatches {
			if err := l.direct.recv(uintptr(l.udp)); err != nil || l.direct.n == 0 {
				break // unix.EAGAIN: nothing more waiting
			}
			if n := in.add(l.direct); n > 0 {
				s.count.overload.Add(uint64(n))
			}
			if l.direct.n < rxBatchSize {
				break
			}
		}
	}
}

// serveQueued serves up to serveBurst queued datagrams.
func (s *server) serveQueued(conn *ipc.Conn, in *intake) {
	s.pollLinks(in)
	now := time.Now()
	stale := 0
	for range serveBurst {
		it := in.next(now, s.discoversOK(), &stale)
		if it == nil {
			break
		}
		s.handleArrival(conn, it)
		now = time.Now()
	}
	if stale > 0 {
		s.count.overload.Add(uint64(stale))
	}
}

// logOverload says, at most once a tick, how many requests went unserved
// since the last time.
func (s *server) logOverload() {
	n := s.count.overload.Load()
	if d := n - s.count.overloadLogged; d > 0 {
		fmt.Fprintf(os.Stderr, "overloaded: %d requests dropped unserved in the last %v (queue full, or waited too long)\n", d, tickEvery)
		s.count.overloadLogged = n
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
func (s *server) handleArrival(conn *ipc.Conn, a *queued) {
	defer s.recoverPacket(a.data)      // issue 5: a panic costs this packet only (recover.go)
	pkt, ok := s.decodeRequest(a.data) // counts what it drops, by reason (malformed.go)
	if !ok {
		return
	}
	s.stats.countIn(uint8(pkt.MessageType())) // issue 6: metrics (stats.go)
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
			// Sent after this round of the loop (flushCommits): the
			// master, on the same CPU as a rule, then wakes once for
			// all of them rather than once for each.
			s.commitOut = append(s.commitOut, leaseCommit(a))
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

// flushCommits sends the commits this round of the loop asked for. One
// that cannot be sent fails at once: its ACK is dropped.
func (s *server) flushCommits(conn *ipc.Conn) {
	for i, m := range s.commitOut {
		if err := conn.Send(m); err != nil {
			id := m.GetLeaseCommit().GetId()
			fmt.Fprintf(os.Stderr, "lease commit %d: %v\n", id, err)
			s.send(s.engine.Committed(id, false, time.Now()))
		}
		s.commitOut[i] = nil
	}
	s.commitOut = s.commitOut[:0]
}

func leaseCommit(a dhcpserver.Action) *ipcpb.Envelope {
	c := &ipcpb.LeaseCommit{Id: a.ID, Records: make([]*ipcpb.LeaseRecord, 0, len(a.Records))}
	for _, r := range a.Records {
		c.Records = append(c.Records, leaseRecord(r))
	}
	c.Txn = leaseTxn(a.Txn) // commit_txn.go
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
