package dhcpd

import (
	"fmt"
	"sync/atomic"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Issue 6: dhcpd's counters for the master's /metrics: DHCP messages by
// type (option 53), received and sent. dhcpd only counts and reports;
// the master serves the metrics.

// dhcpStats counts messages and holds the MetricsRequests of this round
// of the serving loop, answered after it (flushMetrics).
type dhcpStats struct {
	received, sent [ipc.MaxDHCPMessageTypes]atomic.Uint64
	asked          []uint64
}

// countIn counts a request of message type t (0: none; types past the
// table count as 0, so nothing a client sends grows the table).
func (d *dhcpStats) countIn(t uint8) {
	d.received[typeIndex(t)].Add(1)
}

// countOut counts a reply sent, by the message type in its options
// (messageType, queue.go).
func (d *dhcpStats) countOut(packet []byte) {
	d.sent[typeIndex(messageType(packet))].Add(1)
}

func typeIndex(t uint8) int {
	if int(t) >= ipc.MaxDHCPMessageTypes {
		return 0
	}
	return int(t)
}

// askMetrics notes a MetricsRequest from the master.
func (d *dhcpStats) askMetrics(req *ipcpb.MetricsRequest) {
	if len(d.asked) < 16 { // the master asks one at a time; more is noise
		d.asked = append(d.asked, req.GetId())
	}
}

// metricsReport builds the DHCPMetrics for id.
func (s *server) metricsReport(id uint64) *ipcpb.DHCPMetrics {
	m := &ipcpb.DHCPMetrics{
		Id:         id,
		Received:   make([]uint64, ipc.MaxDHCPMessageTypes),
		Sent:       make([]uint64, ipc.MaxDHCPMessageTypes),
		Malformed:  s.count.malformed.Load(),
		Overload:   s.count.overload.Load(),
		SendFailed: s.count.sendFail.Load(),
		Dropped:    s.dropsByReason(),
	}
	for i := range m.Received {
		m.Received[i] = s.stats.received[i].Load()
		m.Sent[i] = s.stats.sent[i].Load()
	}
	return m
}

// flushMetrics answers the MetricsRequests of this round.
func (s *server) flushMetrics(conn *ipc.Conn) error {
	for _, id := range s.stats.asked {
		if err := conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpMetrics{DhcpMetrics: s.metricsReport(id)}}); err != nil {
			s.stats.asked = s.stats.asked[:0]
			return fmt.Errorf("send metrics: %w", err)
		}
	}
	s.stats.asked = s.stats.asked[:0]
	return nil
}
