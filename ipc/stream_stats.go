package ipc

import (
	"fmt"
	"google.golang.org/protobuf/reflect/protoreflect"
	"net/netip"
	"strings"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Issue 6 (moatctl and metrics): the cache dump moatctl asks for, streamed
// from dnsd in CacheDumpChunks, and the workers' counters for the
// master's metrics (DNSMetrics, DHCPMetrics).

const (
	// MaxCacheDumpChunkEntries caps the entries of one CacheDumpChunk.
	MaxCacheDumpChunkEntries = 4096
	// MaxDHCPMessageTypes bounds DHCPMetrics' per-type counters: DHCP
	// message types (option 53) are 1-18 today; room for a few more.
	MaxDHCPMessageTypes = 32
	// MaxDNSRcodes bounds DNSMetrics.responses_by_rcode: the RCODE of a
	// DNS header is 4 bits.
	MaxDNSRcodes = 16
	// MaxDHCPDropReasons bounds DHCPMetrics.dropped (dhcpd has a dozen
	// reasons), and maxDropReasonLen each reason's name: the names become
	// label values in the master's /metrics, so they are short words of
	// [a-z0-9_], never anything a client sent.
	MaxDHCPDropReasons = 32
	maxDropReasonLen   = 32
)

// UpstreamLatencyBoundsMs are the upper bounds, in milliseconds, of the
// upstream latency histogram buckets in UpstreamMetrics; both ends of the
// IPC use these. A last bucket counts the slower answers.
var UpstreamLatencyBoundsMs = []float64{1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500}

func validateCacheDumpChunk(c *ipcpb.CacheDumpChunk) error {
	if c.GetId() == 0 {
		return invalid("id: 0")
	}
	if n := len(c.GetEntries()); n > MaxCacheDumpChunkEntries {
		return invalid("entries: %d, at most %d", n, MaxCacheDumpChunkEntries)
	}
	for i, e := range c.GetEntries() {
		if err := validateDumpEntry(e, "entries", i); err != nil {
			return err
		}
	}
	return nil
}

// validateDumpEntry checks one cache record for display, in a
// CacheDumpChunk or a StatsReport (field[i] names it in errors): the
// texts go to an operator's terminal and the log as they are, so bounded
// and free of control characters, C1 included (U+009B is a CSI to some
// terminals).
func validateDumpEntry(e *ipcpb.CacheDumpEntry, field string, i int) error {
	if e == nil {
		return invalid("%s[%d]: nil", field, i)
	}
	if err := noUnknown(e); err != nil {
		return fmt.Errorf("%s[%d]: %w", field, i, err)
	}
	for _, f := range []struct {
		name, text string
		max        int
	}{{"name", e.GetName(), 1024}, {"data", e.GetData(), 1024}, {"flags", e.GetFlags(), 10}} {
		if len(f.text) > f.max || strings.IndexFunc(f.text, isControl) >= 0 {
			return invalid("%s[%d].%s: %q", field, i, f.name, f.text)
		}
	}
	return nil
}

// isControl reports a C0 or C1 control character, or DEL.
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

// upstreamAddress checks the ip:port text that names an upstream server
// in a StatsReport or DNSMetrics (a label value in the master's /metrics).
func upstreamAddress(i int, addr string) error {
	if len(addr) > maxAddrTextLen {
		return invalid("servers[%d].address: %d bytes, at most %d", i, len(addr), maxAddrTextLen)
	}
	if _, err := netip.ParseAddrPort(addr); err != nil {
		return invalid("servers[%d].address: %q is not ip:port", i, addr)
	}
	return nil
}

// upstreamServer is a per-server entry of a StatsReport or DNSMetrics.
type upstreamServer interface {
	protoreflect.ProtoMessage
	GetAddress() string
}

// validateServers checks what both reports' server lists share: a bounded
// count, no nil entry, no unknown fields, an ip:port address; more checks
// the rest of each entry.
func validateServers[S upstreamServer](servers []S, more func(i int, s S) error) error {
	if n := len(servers); n > MaxStatsServers {
		return invalid("servers: %d, at most %d", n, MaxStatsServers)
	}
	for i, s := range servers {
		if !s.ProtoReflect().IsValid() {
			return invalid("servers[%d]: nil", i)
		}
		if err := noUnknown(s); err != nil {
			return fmt.Errorf("servers[%d]: %w", i, err)
		}
		if err := upstreamAddress(i, s.GetAddress()); err != nil {
			return err
		}
		if more != nil {
			if err := more(i, s); err != nil {
				return err
			}
		}
	}
	return nil
}

func validateDNSMetrics(m *ipcpb.DNSMetrics) error {
	if m.GetId() == 0 {
		return invalid("id: 0")
	}
	if n := len(m.GetResponsesByRcode()); n > MaxDNSRcodes {
		return invalid("responses_by_rcode: %d, at most %d", n, MaxDNSRcodes)
	}
	return validateServers(m.GetServers(), func(i int, s *ipcpb.UpstreamMetrics) error {
		if n := len(s.GetLatencyBuckets()); n != 0 && n != len(UpstreamLatencyBoundsMs)+1 {
			return invalid("servers[%d].latency_buckets: %d, want %d", i, n, len(UpstreamLatencyBoundsMs)+1)
		}
		return nil
	})
}

func validateDHCPMetrics(m *ipcpb.DHCPMetrics) error {
	if m.GetId() == 0 {
		return invalid("id: 0")
	}
	if len(m.GetReceived()) > MaxDHCPMessageTypes || len(m.GetSent()) > MaxDHCPMessageTypes {
		return invalid("received/sent: %d/%d message types, at most %d", len(m.GetReceived()), len(m.GetSent()), MaxDHCPMessageTypes)
	}
	if n := len(m.GetDropped()); n > MaxDHCPDropReasons {
		return invalid("dropped: %d reasons, at most %d", n, MaxDHCPDropReasons)
	}
	for reason := range m.GetDropped() {
		if !dropReasonName(reason) {
			return invalid("dropped: reason %q is not a short word of [a-z0-9_]", reason)
		}
	}
	return nil
}

// dropReasonName reports whether s may be a drop reason: 1 to
// maxDropReasonLen characters of [a-z0-9_], starting with a letter.
func dropReasonName(s string) bool {
	if len(s) == 0 || len(s) > maxDropReasonLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
