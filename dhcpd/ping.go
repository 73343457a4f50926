package dhcpd

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/dhcpserver"
)

// pinger runs the ping check on the raw ICMP socket the master opened
// (in the master's network namespace, so echo requests route like any
// packet of the host, to relayed subnets too). Every probe is an echo
// request with dhcpd's identifier and a sequence number of its own; a
// reply from the probed address with both numbers marks the address in
// use, and no reply within the wait marks it free. Probes run side by
// side: a reply or a timeout answers only its own probe.
//
// send, replied, expired and next are called from the server's loop
// only; read runs on its own goroutine and touches nothing but the
// socket, the channel and the atomic counters (readErrs, panics, drops).
type pinger struct {
	fd   int
	id   uint16        // the ICMP identifier of every echo request
	wait time.Duration // dnsmasq's PING_WAIT

	seq     uint16
	pending map[uint16]*probe // by sequence number
	queue   []*probe          // in the order sent, which is deadline order
	// readErrs counts failed reads (an ICMP error the kernel queued on
	// the socket surfaces as one failed read; they are not fatal).
	readErrs atomic.Uint64
	sendErrs atomic.Uint64
	// panics counts replies whose parsing panicked (ping_recover.go);
	// drops, when set, counts them too under "ping_panic", for the
	// server's drop counters (log and metrics).
	panics atomic.Uint64
	drops  *dropCounts
}

// probe is one echo request in flight, for the engine's Probe id.
type probe struct {
	engineID uint64
	addr     netip.Addr
	seq      uint16
	deadline time.Time
	done     bool // answered, or forgotten: skipped when it reaches the queue's head
}

// newPinger takes fd (a raw IPPROTO_ICMP socket, blocking) and attaches
// a filter that passes only echo replies carrying the new identifier,
// replacing the master's (any echo reply).
func newPinger(fd int, wait time.Duration) (*pinger, error) {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("ping identifier: %w", err)
	}
	p := &pinger{fd: fd, id: binary.BigEndian.Uint16(b[:]), wait: wait, pending: map[uint16]*probe{}}
	raw, err := dhcpserver.EchoReplyFilter(p.id, true)
	if err != nil {
		return nil, err
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return nil, fmt.Errorf("ping socket: attach filter: %w", err)
	}
	return p, nil
}

// send pings addr for the engine's probe engineID. An error (no route,
// say) means the address cannot be checked: the caller treats it as
// free at once, as dnsmasq does when its echo cannot leave.
func (p *pinger) send(engineID uint64, addr netip.Addr, now time.Time) error {
	if !addr.Is4() {
		return fmt.Errorf("ping %v: not IPv4", addr)
	}
	for range 1 << 16 {
		p.seq++
		if _, busy := p.pending[p.seq]; !busy {
			break
		}
	}
	if _, busy := p.pending[p.seq]; busy {
		return errors.New("ping: every sequence number is in flight")
	}
	to := &unix.SockaddrInet4{Addr: addr.As4()}
	msg := dhcpserver.EchoRequest(p.id, p.seq)
	var err error
	// A failed send may report the error of an earlier probe (an ICMP
	// error queued on the socket): try again before giving up. The send
	// never blocks: echo requests to addresses nobody answers wait in
	// the kernel's ARP queue, charged to the socket's send buffer, and a
	// full buffer must not stall every other client.
	for range 3 {
		if err = unix.Sendto(p.fd, msg, unix.MSG_DONTWAIT, to); err == nil {
			break
		}
	}
	if err != nil {
		if p.sendErrs.Add(1) == 1 {
			fmt.Fprintf(os.Stderr, "ping %v: %v: offered unchecked (later failures are counted)\n", addr, err)
		}
		return fmt.Errorf("ping %v: %w", addr, err)
	}
	pr := &probe{engineID: engineID, addr: addr, seq: p.seq, deadline: now.Add(p.wait)}
	p.pending[p.seq] = pr
	p.queue = append(p.queue, pr)
	return nil
}

// replied matches an echo reply with its probe: the engine's probe id
// whose address answered. Replies from another address (a broadcast
// address answering, a late reply to a forgotten probe) match nothing.
func (p *pinger) replied(r dhcpserver.EchoReply) (uint64, bool) {
	pr, ok := p.pending[r.Seq]
	if !ok || r.ID != p.id || r.From != pr.addr {
		return 0, false
	}
	pr.done = true
	delete(p.pending, r.Seq)
	return pr.engineID, true
}

// expired returns the probes whose wait is over at now: their addresses
// did not answer.
func (p *pinger) expired(now time.Time) []uint64 {
	var ids []uint64
	for len(p.queue) > 0 {
		pr := p.queue[0]
		if !pr.done && now.Before(pr.deadline) {
			break
		}
		p.queue[0] = nil
		p.queue = p.queue[1:]
		if !pr.done {
			delete(p.pending, pr.seq)
			ids = append(ids, pr.engineID)
		}
	}
	return ids
}

// next is the earliest deadline of a probe in flight.
func (p *pinger) next() (time.Time, bool) {
	for _, pr := range p.queue {
		if !pr.done {
			return pr.deadline, true
		}
	}
	return time.Time{}, false
}

// read delivers every echo reply the filter lets through until the
// socket is closed.
func (p *pinger) read(out chan<- dhcpserver.EchoReply) {
	buf := make([]byte, 1500)
	for {
		n, _, err := unix.Recvfrom(p.fd, buf, 0)
		switch {
		case err == nil:
			if r, ok := p.parseReply(buf[:n]); ok { // recovers a panic (ping_recover.go)
				out <- r
			}
		case err == unix.EINTR:
		case err == unix.EBADF:
			return
		default:
			if p.readErrs.Add(1) == 1 {
				fmt.Fprintf(os.Stderr, "ping socket: read: %v (later errors are counted)\n", err)
			}
			// A socket error that repeats at once would spin: breathe.
			time.Sleep(time.Millisecond)
		}
	}
}
