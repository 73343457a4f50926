package ipc

import (
	"strconv"
	"strings"
	"testing"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// TestValidateIssue6Messages: the cache dump and metrics messages are
// refused when a worker sends what the master must not print or trust.
func TestValidateIssue6Messages(t *testing.T) {
	many := make([]*ipcpb.CacheDumpEntry, MaxCacheDumpChunkEntries+1)
	for i := range many {
		many[i] = &ipcpb.CacheDumpEntry{Name: "a", Flags: "4F"}
	}
	for _, tc := range []struct {
		name string
		env  *ipcpb.Envelope
		ok   bool
	}{
		{"good chunk", &ipcpb.Envelope{Msg: &ipcpb.Envelope_CacheDumpChunk{CacheDumpChunk: &ipcpb.CacheDumpChunk{Id: 1,
			Entries: []*ipcpb.CacheDumpEntry{{Name: "a.example", Data: "192.0.2.1", Flags: "4F"}}}}}, true},
		{"chunk id 0", &ipcpb.Envelope{Msg: &ipcpb.Envelope_CacheDumpChunk{CacheDumpChunk: &ipcpb.CacheDumpChunk{}}}, false},
		{"terminal escape in a name", &ipcpb.Envelope{Msg: &ipcpb.Envelope_CacheDumpChunk{CacheDumpChunk: &ipcpb.CacheDumpChunk{Id: 1,
			Entries: []*ipcpb.CacheDumpEntry{{Name: "a\x1b[2J", Flags: "4F"}}}}}, false},
		{"C1 control (CSI) in data", &ipcpb.Envelope{Msg: &ipcpb.Envelope_CacheDumpChunk{CacheDumpChunk: &ipcpb.CacheDumpChunk{Id: 1,
			Entries: []*ipcpb.CacheDumpEntry{{Name: "a", Data: "x\u009b2J", Flags: "4F"}}}}}, false},
		{"non-ASCII printable data", &ipcpb.Envelope{Msg: &ipcpb.Envelope_CacheDumpChunk{CacheDumpChunk: &ipcpb.CacheDumpChunk{Id: 1,
			Entries: []*ipcpb.CacheDumpEntry{{Name: "a", Data: "\"caf\u00e9\"", Flags: "4F"}}}}}, true},
		{"flags too long", &ipcpb.Envelope{Msg: &ipcpb.Envelope_CacheDumpChunk{CacheDumpChunk: &ipcpb.CacheDumpChunk{Id: 1,
			Entries: []*ipcpb.CacheDumpEntry{{Name: "a", Flags: strings.Repeat("F", 11)}}}}}, false},
		{"nil entry", &ipcpb.Envelope{Msg: &ipcpb.Envelope_CacheDumpChunk{CacheDumpChunk: &ipcpb.CacheDumpChunk{Id: 1,
			Entries: []*ipcpb.CacheDumpEntry{nil}}}}, false},
		{"too many entries", &ipcpb.Envelope{Msg: &ipcpb.Envelope_CacheDumpChunk{CacheDumpChunk: &ipcpb.CacheDumpChunk{Id: 1, Entries: many}}}, false},
		{"good dns metrics", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsMetrics{DnsMetrics: &ipcpb.DNSMetrics{Id: 2,
			Servers: []*ipcpb.UpstreamMetrics{{Address: "[2001:db8::1]:53", LatencyBuckets: make([]uint64, len(UpstreamLatencyBoundsMs)+1)}}}}}, true},
		{"server not ip:port", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsMetrics{DnsMetrics: &ipcpb.DNSMetrics{Id: 2,
			Servers: []*ipcpb.UpstreamMetrics{{Address: "evil\"} 1\nfake 2"}}}}}, false},
		{"wrong bucket count", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsMetrics{DnsMetrics: &ipcpb.DNSMetrics{Id: 2,
			Servers: []*ipcpb.UpstreamMetrics{{Address: "192.0.2.1:53", LatencyBuckets: []uint64{1}}}}}}, false},
		{"metrics id 0", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsMetrics{DnsMetrics: &ipcpb.DNSMetrics{}}}, false},
		{"good dhcp metrics", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpMetrics{DhcpMetrics: &ipcpb.DHCPMetrics{Id: 3, Received: make([]uint64, MaxDHCPMessageTypes)}}}, true},
		{"dhcp drops by reason", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpMetrics{DhcpMetrics: &ipcpb.DHCPMetrics{Id: 3,
			Dropped: map[string]uint64{"short": 1, "not_ipv4": 0, "bad_cookie": 7}}}}, true},
		{"dhcp drop reason with a quote", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpMetrics{DhcpMetrics: &ipcpb.DHCPMetrics{Id: 3,
			Dropped: map[string]uint64{"short\"} 1\nfake 2": 1}}}}, false},
		{"dhcp drop reason empty", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpMetrics{DhcpMetrics: &ipcpb.DHCPMetrics{Id: 3,
			Dropped: map[string]uint64{"": 1}}}}, false},
		{"dhcp drop reason upper case", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpMetrics{DhcpMetrics: &ipcpb.DHCPMetrics{Id: 3,
			Dropped: map[string]uint64{"Short": 1}}}}, false},
		{"dhcp drop reason too long", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpMetrics{DhcpMetrics: &ipcpb.DHCPMetrics{Id: 3,
			Dropped: map[string]uint64{strings.Repeat("a", maxDropReasonLen+1): 1}}}}, false},
		{"too many dhcp drop reasons", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpMetrics{DhcpMetrics: &ipcpb.DHCPMetrics{Id: 3,
			Dropped: manyReasons(MaxDHCPDropReasons + 1)}}}, false},
		{"dns rcodes", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsMetrics{DnsMetrics: &ipcpb.DNSMetrics{Id: 2,
			ResponsesByRcode: make([]uint64, MaxDNSRcodes)}}}, true},
		{"too many dns rcodes", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsMetrics{DnsMetrics: &ipcpb.DNSMetrics{Id: 2,
			ResponsesByRcode: make([]uint64, MaxDNSRcodes+1)}}}, false},
		{"too many dhcp types", &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpMetrics{DhcpMetrics: &ipcpb.DHCPMetrics{Id: 3, Sent: make([]uint64, MaxDHCPMessageTypes+1)}}}, false},
	} {
		if err := Validate(tc.env); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// manyReasons returns n valid drop reasons ("r0", "r1", ...).
func manyReasons(n int) map[string]uint64 {
	m := make(map[string]uint64, n)
	for i := range n {
		m["r"+strconv.Itoa(i)] = 1
	}
	return m
}

// TestServerListsRefuseNil: both reports' server lists go through one
// check, which refuses a nil entry (a hostile dnsd can send one).
func TestServerListsRefuseNil(t *testing.T) {
	for name, err := range map[string]error{
		"StatsReport": validateStatsReport(&ipcpb.StatsReport{Servers: []*ipcpb.ServerStats{nil}}),
		"DNSMetrics":  validateDNSMetrics(&ipcpb.DNSMetrics{Id: 1, Servers: []*ipcpb.UpstreamMetrics{nil}}),
	} {
		if err == nil || !strings.Contains(err.Error(), "servers[0]: nil") {
			t.Errorf("%s: %v, want servers[0]: nil", name, err)
		}
	}
}
