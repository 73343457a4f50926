package dhcpd

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// TestMetricsCounts: replies are counted by the type in their options,
// requests by their decoded type; odd types land in slot 0, and the
// report passes the master's validation.
func TestMetricsCounts(t *testing.T) {
	offer, err := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{}
	for _, tc := range []struct {
		name   string
		packet []byte
		slot   int
	}{
		{"offer", offer.ToBytes(), int(dhcpv4.MessageTypeOffer)},
		{"bootp (no option 53)", make([]byte, 300), 0},
		{"short", []byte{1, 2, 3}, 0},
	} {
		before := s.stats.sent[tc.slot].Load()
		s.stats.countOut(tc.packet)
		if s.stats.sent[tc.slot].Load() != before+1 {
			t.Errorf("%s: not counted in slot %d", tc.name, tc.slot)
		}
	}
	s.stats.countIn(uint8(dhcpv4.MessageTypeDiscover))
	s.stats.countIn(200)
	s.stats.askMetrics(&ipcpb.MetricsRequest{Id: 7})
	m := s.metricsReport(7)
	if m.GetReceived()[1] != 1 || m.GetReceived()[0] != 1 || m.GetSent()[2] != 1 || len(m.GetSent()) != ipc.MaxDHCPMessageTypes {
		t.Errorf("report %v", m)
	}
	if len(m.GetDropped()) != int(numDropReasons) || m.GetDropped()["oversize"] != 0 {
		t.Errorf("drops by reason: %v, want all %d reasons", m.GetDropped(), numDropReasons)
	}
	if err := ipc.Validate(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpMetrics{DhcpMetrics: m}}); err != nil {
		t.Error(err)
	}
}
