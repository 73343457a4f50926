package masterd

import (
	"testing"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// TestAnswerRouting: a worker's answer reaches whoever asked with its id;
// an answer from the wrong role, or with an id never handed out, is a
// protocol violation (false); a late answer to an abandoned question is
// dropped quietly (true).
func TestAnswerRouting(t *testing.T) {
	m := &master{}
	ch := make(chan *ipcpb.Envelope, 1)
	m.stats.nextID = 2
	m.stats.answers = map[uint64]chan *ipcpb.Envelope{2: ch}
	dnsMetrics := func(id uint64) *ipcpb.Envelope {
		return &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsMetrics{DnsMetrics: &ipcpb.DNSMetrics{Id: id}}}
	}
	for _, tc := range []struct {
		name, role string
		env        *ipcpb.Envelope
		want       bool
	}{
		{"asked", "dnsd", dnsMetrics(2), true},
		{"abandoned", "dnsd", dnsMetrics(1), true},
		{"never asked", "dnsd", dnsMetrics(3), false},
		{"id 0", "dnsd", dnsMetrics(0), false},
		{"wrong role", "dhcpd", dnsMetrics(2), false},
		{"dhcp metrics from dnsd", "dnsd", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpMetrics{DhcpMetrics: &ipcpb.DHCPMetrics{Id: 2}}}, false},
		{"dump chunk from dhcpd", "dhcpd", &ipcpb.Envelope{Msg: &ipcpb.Envelope_CacheDumpChunk{CacheDumpChunk: &ipcpb.CacheDumpChunk{Id: 2}}}, false},
	} {
		if got := m.handleWorkerMessage(tc.role, tc.env); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	select {
	case env := <-ch:
		if env.GetDnsMetrics().GetId() != 2 {
			t.Errorf("delivered %v", env)
		}
	default:
		t.Error("the asked-for answer was not delivered")
	}
	if len(ch) != 0 {
		t.Error("more than the one answer delivered")
	}
}
