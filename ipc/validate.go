package ipc

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Bounds checked by Validate. They need no context (no config, no state):
// whatever a field means, a value outside these is never legitimate. The
// message size cap bounds every repeated field already; the explicit
// limits below are where a natural, smaller one exists.
const (
	maxRoleLen      = 32
	maxProbeLen     = 64
	maxAddrTextLen  = 128  // "ip:port", an IPv6 address with a zone included
	maxIfNameLen    = 15   // IFNAMSIZ - 1
	maxTextLen      = 4096 // free text: reasons, details, notes, file paths
	maxNotes        = 64
	maxNamesPerHost = 256
	maxDNSNameLen   = 255
	maxLabelLen     = 63
	maxSeccompMode  = 2
	maxEDNSPacket   = 65535
)

// Validate checks the invariants of m that need no context: exactly one
// message set, no unknown fields, known enum values, bounded strings and
// lists, host addresses of 4 or 16 bytes, well-formed host names. Strings
// are valid UTF-8 already (protobuf checks proto3 strings). Decode calls it
// on every received message and Send on every sent one.
func Validate(m *ipcpb.Envelope) error {
	if m == nil {
		return fmt.Errorf("nil envelope: %w", ErrInvalid)
	}
	if err := noUnknown(m); err != nil {
		return err
	}
	if err := validateMsg(m); err != nil {
		return fmt.Errorf("%s: %w", messageName(m), err)
	}
	return nil
}

// noUnknown rejects a message that carries fields this build does not
// know. Every validate function calls it on the message it checks, so the
// whole tree is covered (TestDecodeRejectsUnknownEverywhere keeps it so);
// a generic protoreflect walk cost a quarter of a hosts table's decode.
func noUnknown(m protoreflect.ProtoMessage) error {
	r := m.ProtoReflect()
	if len(r.GetUnknown()) > 0 {
		return invalid("%s: unknown fields", r.Descriptor().FullName())
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrInvalid)...)
}

func validateMsg(m *ipcpb.Envelope) error {
	switch x := m.GetMsg().(type) {
	case nil:
		return invalid("no message set")
	case *ipcpb.Envelope_Hello:
		return nonNil(x.Hello, validateHello)
	case *ipcpb.Envelope_Ready:
		return nonNil(x.Ready, func(r *ipcpb.Ready) error {
			if r.GetSandbox() == nil {
				return nil
			}
			return prefix("sandbox", validateSandboxStatus(r.GetSandbox()))
		})
	case *ipcpb.Envelope_SandboxStatus:
		return nonNil(x.SandboxStatus, validateSandboxStatus)
	case *ipcpb.Envelope_SocketSet:
		return nonNil(x.SocketSet, validateSocketSet)
	case *ipcpb.Envelope_DnsConfig:
		return nonNil(x.DnsConfig, validateDNSConfig)
	case *ipcpb.Envelope_TableBegin:
		return nonNil(x.TableBegin, func(b *ipcpb.TableBegin) error {
			if err := validateTable(b.GetTable()); err != nil {
				return err
			}
			return validateTableCount(b.GetCount())
		})
	case *ipcpb.Envelope_TableItem:
		return nonNil(x.TableItem, func(it *ipcpb.TableItem) error {
			for i, h := range it.GetHosts() {
				if err := validateHostEntry(h); err != nil {
					return fmt.Errorf("hosts[%d]: %w", i, err)
				}
			}
			for i, u := range it.GetUpstreams() {
				if err := validateUpstream(u, true); err != nil {
					return fmt.Errorf("upstreams[%d]: %w", i, err)
				}
			}
			for i, r := range it.GetLocalRecords() {
				if err := validateLocalRecord(r); err != nil {
					return fmt.Errorf("local_records[%d]: %w", i, err)
				}
			}
			return nil
		})
	case *ipcpb.Envelope_TableEnd:
		return nonNil(x.TableEnd, func(e *ipcpb.TableEnd) error { return validateTableCount(e.GetCount()) })
	case *ipcpb.Envelope_Shutdown:
		return nonNil(x.Shutdown, func(s *ipcpb.Shutdown) error { return maxLen("reason", s.GetReason(), maxTextLen) })
	case *ipcpb.Envelope_ProbeRequest:
		return nonNil(x.ProbeRequest, func(p *ipcpb.ProbeRequest) error { return nonEmpty("probe", p.GetProbe(), maxProbeLen) })
	case *ipcpb.Envelope_ProbeResult:
		return nonNil(x.ProbeResult, func(p *ipcpb.ProbeResult) error {
			if err := nonEmpty("probe", p.GetProbe(), maxProbeLen); err != nil {
				return err
			}
			return maxLen("detail", p.GetDetail(), maxTextLen)
		})
	case *ipcpb.Envelope_ProtocolError:
		return nonNil(x.ProtocolError, func(p *ipcpb.ProtocolError) error { return maxLen("detail", p.GetDetail(), maxTextLen) })
	case *ipcpb.Envelope_StatsRequest:
		return nonNil(x.StatsRequest, func(*ipcpb.StatsRequest) error { return nil })
	case *ipcpb.Envelope_StatsReport:
		return nonNil(x.StatsReport, validateStatsReport)
	case *ipcpb.Envelope_NetState:
		return nonNil(x.NetState, validateNetState)
	case *ipcpb.Envelope_SocketsChanged: // area H: bind-dynamic (validate_sockets.go)
		return nonNil(x.SocketsChanged, validateSocketsChanged)
	case *ipcpb.Envelope_DhcpConfig: // area I: dhcpd's configuration (validate_dhcp.go)
		return nonNil(x.DhcpConfig, validateDHCPConfig)
	case *ipcpb.Envelope_LeaseCommit: // area I: dhcpd asks for durable leases (validate_dhcp.go)
		return nonNil(x.LeaseCommit, validateLeaseCommit)
	case *ipcpb.Envelope_DhcpState:
		return nonNil(x.DhcpState, validateDHCPState)
	case *ipcpb.Envelope_DhcpLeaseChunk: // issue 4: streamed DHCPState (stream_dhcp.go)
		return nonNil(x.DhcpLeaseChunk, validateDHCPLeaseChunk)
	case *ipcpb.Envelope_DhcpStateEnd:
		return nonNil(x.DhcpStateEnd, validateDHCPStateEnd)
	case *ipcpb.Envelope_DhcpInterfaces:
		return nonNil(x.DhcpInterfaces, validateDHCPInterfaces)
	case *ipcpb.Envelope_DhcpConfigBegin: // issue 4: streamed DHCPConfig (stream_dhcpconfig.go)
		return nonNil(x.DhcpConfigBegin, validateDHCPConfigBegin)
	case *ipcpb.Envelope_DhcpConfigChunk:
		return nonNil(x.DhcpConfigChunk, validateDHCPConfigChunk)
	case *ipcpb.Envelope_DhcpConfigEnd:
		return nonNil(x.DhcpConfigEnd, validateDHCPConfigEnd)
	case *ipcpb.Envelope_DhcpSocketsChanged: // issue 4: DHCP interfaces that appear (validate_dhcpsockets.go)
		return nonNil(x.DhcpSocketsChanged, validateDHCPSocketsChanged)
	case *ipcpb.Envelope_LeaseCommitted:
		return nonNil(x.LeaseCommitted, func(c *ipcpb.LeaseCommitted) error { return noUnknown(c) })
	case *ipcpb.Envelope_ScriptEvent: // issue 4: dhcp-script helper (validate_script.go)
		return nonNil(x.ScriptEvent, validateScriptEvent)
	case *ipcpb.Envelope_ScriptDone:
		return nonNil(x.ScriptDone, validateScriptDone)
	case *ipcpb.Envelope_CacheDumpRequest: // issue 6: moatctl dump and metrics (stream_stats.go)
		return nonNil(x.CacheDumpRequest, func(*ipcpb.CacheDumpRequest) error { return nil })
	case *ipcpb.Envelope_CacheDumpChunk:
		return nonNil(x.CacheDumpChunk, validateCacheDumpChunk)
	case *ipcpb.Envelope_MetricsRequest:
		return nonNil(x.MetricsRequest, func(*ipcpb.MetricsRequest) error { return nil })
	case *ipcpb.Envelope_DnsMetrics:
		return nonNil(x.DnsMetrics, validateDNSMetrics)
	case *ipcpb.Envelope_DhcpMetrics:
		return nonNil(x.DhcpMetrics, validateDHCPMetrics)
	default:
		// A oneof case added to the .proto without a rule here.
		return invalid("no validation rule for %T", x)
	}
}

// nonNil rejects a oneof wrapper holding a nil message (only a local
// sender can build one; decoding always yields a message) and validates
// the rest.
func nonNil[T any, PT interface {
	*T
	protoreflect.ProtoMessage
}](v PT, check func(PT) error) error {
	if v == nil {
		return invalid("nil message")
	}
	if err := noUnknown(v); err != nil {
		return err
	}
	return check(v)
}

func prefix(field string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", field, err)
}

func maxLen(field, s string, limit int) error {
	if len(s) > limit {
		return invalid("%s: %d bytes, at most %d", field, len(s), limit)
	}
	return nil
}

func nonEmpty(field, s string, limit int) error {
	if s == "" {
		return invalid("%s: empty", field)
	}
	return maxLen(field, s, limit)
}

func validateHello(h *ipcpb.Hello) error {
	if err := nonEmpty("role", h.GetRole(), maxRoleLen); err != nil {
		return err
	}
	if h.GetPid() < 0 {
		return invalid("pid: negative (%d)", h.GetPid())
	}
	return nil
}

func validateSandboxStatus(s *ipcpb.SandboxStatus) error {
	if err := noUnknown(s); err != nil {
		return err
	}
	if s.GetSeccompMode() > maxSeccompMode {
		return invalid("seccomp_mode: %d, at most %d", s.GetSeccompMode(), maxSeccompMode)
	}
	if n := len(s.GetNotes()); n > maxNotes {
		return invalid("notes: %d, at most %d", n, maxNotes)
	}
	for i, n := range s.GetNotes() {
		if err := maxLen(fmt.Sprintf("notes[%d]", i), n, maxTextLen); err != nil {
			return err
		}
	}
	return nil
}

func validateSocketSet(ss *ipcpb.SocketSet) error {
	if n := len(ss.GetSockets()); n > MaxFDs {
		return invalid("sockets: %d, at most %d (one descriptor each)", n, MaxFDs)
	}
	for i, s := range ss.GetSockets() {
		if err := validateSocket(s); err != nil {
			return fmt.Errorf("sockets[%d]: %w", i, err)
		}
	}
	return nil
}

func validateSocket(s *ipcpb.Socket) error {
	if s == nil {
		return invalid("nil socket")
	}
	if err := noUnknown(s); err != nil {
		return err
	}
	k := s.GetKind()
	if _, known := ipcpb.Socket_Kind_name[int32(k)]; !known || k == ipcpb.Socket_KIND_UNSPECIFIED {
		return invalid("kind: %d is not a known socket kind", int32(k))
	}
	if err := validateFilterSocket(s); err != nil { // issue 5 (validate_sockfilter.go)
		return err
	}
	if err := maxLen("address", s.GetAddress(), maxAddrTextLen); err != nil {
		return err
	}
	return maxLen("interface", s.GetInterface(), maxIfNameLen)
}

func validateDNSConfig(c *ipcpb.DNSConfig) error {
	if err := validateSocketFilterMode(c.GetSocketFilter()); err != nil { // issue 5 (validate_sockfilter.go)
		return err
	}
	for i, u := range c.GetUpstreams() {
		if err := validateUpstream(u, false); err != nil {
			return fmt.Errorf("upstreams[%d].%w", i, err)
		}
	}
	for i, d := range c.GetLocalDomains() {
		if err := maxLen(fmt.Sprintf("local_domains[%d]", i), d, maxDNSNameLen); err != nil {
			return err
		}
	}
	for i, a := range c.GetAllowedAddresses() {
		if err := nonEmpty(fmt.Sprintf("allowed_addresses[%d]", i), a, maxAddrTextLen); err != nil {
			return err
		}
	}
	for i, ix := range c.GetAllowedIfindexes() {
		if ix == 0 {
			return invalid("allowed_ifindexes[%d]: 0 is not an interface index", i)
		}
	}
	for i, ix := range c.GetExcludedIfindexes() {
		if ix == 0 {
			return invalid("excluded_ifindexes[%d]: 0 is not an interface index", i)
		}
	}
	if c.GetEdnsPacketMax() > maxEDNSPacket {
		return invalid("edns_packet_max: %d, at most %d", c.GetEdnsPacketMax(), maxEDNSPacket)
	}
	if err := validateDNSFilters(c); err != nil {
		return err
	}
	return nil
}

func validateTable(t ipcpb.Table) error {
	if _, known := ipcpb.Table_name[int32(t)]; !known || t == ipcpb.Table_TABLE_UNSPECIFIED {
		return invalid("table: %d is not a known table", int32(t))
	}
	return nil
}

func validateTableCount(n uint32) error {
	if n > MaxTableEntries {
		return invalid("count: %d, at most %d", n, MaxTableEntries)
	}
	return nil
}

func validateHostEntry(h *ipcpb.HostEntry) error {
	if h == nil {
		return invalid("nil entry")
	}
	if err := noUnknown(h); err != nil {
		return err
	}
	if n := len(h.GetAddress()); n != 4 && n != 16 {
		return invalid("address: %d bytes, want 4 or 16", n)
	}
	names := h.GetNames()
	if len(names) == 0 {
		return invalid("names: none")
	}
	if len(names) > maxNamesPerHost {
		return invalid("names: %d, at most %d", len(names), maxNamesPerHost)
	}
	for i, n := range names {
		if err := validateHostName(n); err != nil {
			return fmt.Errorf("names[%d]: %w", i, err)
		}
	}
	return maxLen("source", h.GetSource(), maxTextLen)
}

// validateHostName checks only what DNS encoding needs (lengths), not the
// character set: the hosts parser decides what a name may contain, and a
// name dnsd could never put on the wire must not reach it.
func validateHostName(n string) error {
	if n == "" {
		return invalid("empty name")
	}
	if len(n) > maxDNSNameLen {
		return invalid("name of %d bytes, at most %d", len(n), maxDNSNameLen)
	}
	s := n
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1] // one trailing dot: the fully qualified spelling
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			continue
		}
		switch l := i - start; {
		case l == 0:
			return invalid("name %q has an empty label", n)
		case l > maxLabelLen:
			return invalid("name %q has a label of %d bytes, at most %d", n, l, maxLabelLen)
		}
		start = i + 1
	}
	return nil
}
