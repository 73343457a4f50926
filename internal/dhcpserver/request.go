package dhcpserver

import (
	"bytes"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/leases"
)

// Option codes the engine reads or writes.
const (
	optPad          = 0
	optNetmask      = 1
	optRouter       = 3
	optDNS          = 6
	optHostname     = 12
	optDomainName   = 15
	optBroadcast    = 28
	optVendorOpts   = 43
	optRequestedIP  = 50
	optLeaseTime    = 51
	optOverload     = 52
	optMessageType  = 53
	optServerID     = 54
	optPRL          = 55
	optMessage      = 56
	optMaxSize      = 57
	optT1           = 58
	optT2           = 59
	optVendorClass  = 60
	optClientID     = 61
	optSName        = 66
	optFileName     = 67
	optUserClass    = 77
	optRapidCommit  = 80
	optClientFQDN   = 81
	optAgentID      = 82
	optSubnetSelect = 118
	optVIVendor     = 124 // V-I vendor class (RFC 3925)
	optVIVendorOpts = 125
	optEnd          = 255
)

// Relay agent sub-options (RFC 3046, 3527, 5107).
const (
	subCircuitID  = 1
	subRemoteID   = 2
	subLinkSelect = 5
	subServerOver = 11
)

// DHCP message sizes, as dnsmasq uses them.
const (
	dhcpPacketSize = 548   // sizeof(struct dhcp_packet): the default reply limit
	dhcpPacketMax  = 16384 // DHCP_PACKET_MAX
	minPacketSize  = 300   // MIN_PACKETSZ (BOOTP's size)
	headerSize     = 236   // the fixed BOOTP header
	optionsStart   = 240   // after the magic cookie
)

// request is an Inbound read once into what the exchange needs.
type request struct {
	in      Inbound
	p       *dhcpv4.DHCPv4
	msgType uint8 // 0: BOOTP
	htype   uint8
	chaddr  []byte
	ciaddr  netip.Addr // invalid for 0.0.0.0
	giaddr  netip.Addr
	// requested is option 50, serverID option 54 (invalid when absent).
	requested    netip.Addr
	serverID     netip.Addr
	hasRequested bool
	hasServerID  bool
	// clid is the client-id the exchange uses (see parseIdentity).
	clid   []byte
	client leases.Client
	// lease is the client's current lease, if any.
	lease    leases.Lease
	hasLease bool
	emac     []byte // what identifies the client for hashing and generated names
	// prl is the parameter request list; hasPRL false means none was
	// sent (then every option is "requested", as in dnsmasq).
	prl     []byte
	hasPRL  bool
	maxSize int
	agentID []byte // option 82 as sent: echoed last
	// subnetSel is a link-selection sub-option or option 118; override a
	// server-identifier-override sub-option.
	subnetSel   netip.Addr
	override    netip.Addr
	unicastDest bool

	// The client's dhcp-host (hostIdx indexes the engine's host lists;
	// -1 with none) and whether dhcp-ignore applies.
	host    *leases.Host
	hostIdx int
	ignore  bool

	// Names: what the client supplied (legal, possibly qualified), the
	// name to put in an OFFER, the name of the lease (unqualified), the
	// domain of a configured or supplied name, whether the name comes
	// from the configuration; the client FQDN option's flags (0: none
	// sent) and whether the client wants NUL-terminated strings.
	clientName   string
	offerName    string
	hostname     string
	nameDomain   string
	hostnameAuth bool
	fqdnFlags    byte
	borken       bool
}

// opt returns option code's data when it has at least min bytes
// (dnsmasq's option_find with a minimum size).
func (r *request) opt(code uint8, min int) ([]byte, bool) {
	b, ok := r.p.Options[code]
	if !ok || len(b) < min {
		return nil, false
	}
	return b, true
}

func addr4(ip []byte) netip.Addr {
	if len(ip) < 4 {
		return netip.Addr{}
	}
	a := netip.AddrFrom4([4]byte(ip[len(ip)-4:]))
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// parseRequest reads the header and the options that decide the
// exchange, as the start of dnsmasq's dhcp_reply. It reports false for
// packets to drop.
func (e *Engine) parseRequest(in *Inbound, r *request) bool {
	p := in.Packet
	if p == nil || in.Interface == nil || p.OpCode != dhcpv4.OpcodeBootRequest || len(p.ClientHWAddr) > leases.MaxHWAddr {
		return false
	}
	*r = request{in: *in, p: p, hostIdx: -1, htype: uint8(p.HWType), chaddr: p.ClientHWAddr,
		ciaddr: addr4(p.ClientIPAddr), giaddr: addr4(p.GatewayIPAddr), maxSize: dhcpPacketSize}
	if r.htype == 0 && len(r.chaddr) != 0 {
		return false
	}
	r.unicastDest = in.Dst.IsValid() && in.Dst != netip.AddrFrom4([4]byte{255, 255, 255, 255})
	r.client = leases.Client{HWType: r.htype, HWAddr: r.chaddr}
	if b, ok := r.opt(optMessageType, 1); ok {
		r.msgType = b[0]
		if r.msgType == 0 {
			return false // not BOOTP either: a DHCP message of no type
		}
	} else {
		return true // BOOTP: none of the DHCP options below apply
	}
	if b, ok := r.opt(optMaxSize, 2); ok {
		size := int(b[0])<<8 | int(b[1]) - 28
		r.maxSize = min(max(size, dhcpPacketSize), dhcpPacketMax)
	}
	if b, ok := r.opt(optRequestedIP, 4); ok {
		r.requested, r.hasRequested = addr4(b[:4]), true
	}
	if b, ok := r.opt(optServerID, 4); ok {
		r.serverID, r.hasServerID = addr4(b[:4]), true
	}
	// Some buggy clients set ciaddr when they shouldn't (dnsmasq).
	if _, ok := r.opt(optRequestedIP, 4); ok || r.msgType == uint8(dhcpv4.MessageTypeDiscover) {
		r.ciaddr = netip.Addr{}
	}
	if b, ok := r.opt(optAgentID, 1); ok {
		r.agentID = b
		if s, ok := subOption(b, subLinkSelect, 4); ok {
			r.subnetSel = addr4(s[:4])
		}
		if s, ok := subOption(b, subServerOver, 4); ok {
			r.override = addr4(s[:4])
		}
	}
	if !r.subnetSel.IsValid() {
		if b, ok := r.opt(optSubnetSelect, 4); ok {
			r.subnetSel = addr4(b[:4])
		}
	}
	if b, ok := r.opt(optPRL, 0); ok {
		// dnsmasq ends the list at an END byte.
		if i := bytes.IndexByte(b, optEnd); i >= 0 {
			b = b[:i]
		}
		r.prl, r.hasPRL = b, true
	}
	e.parseIdentity(r)
	return true
}

// parseIdentity finds the client's identity and lease, as dnsmasq does:
// the client-id when one is sent (unless dhcp-ignore-clid), else the MAC;
// a request without a client-id from a client whose lease has one goes on
// with the lease's (a boot loader, then the OS, on one machine).
func (e *Engine) parseIdentity(r *request) {
	if !e.c.flags.IgnoreClientID {
		if b, ok := r.opt(optClientID, 1); ok {
			r.clid = b
		}
	}
	r.client.ClientID = r.clid
	r.lease, r.hasLease = e.store.ByClient(r.client)
	if r.hasLease && r.lease.Expired(e.now) {
		r.hasLease = false
	}
	if r.hasLease && r.clid == nil && r.lease.ClientID != nil {
		r.clid = r.lease.ClientID
	}
	r.client.ClientID = r.clid
	r.emac = r.client.HashKey()
}

// subOption finds a sub-option of an encapsulating option (code, length,
// data, ...), with at least min bytes of data.
func subOption(b []byte, code uint8, min int) ([]byte, bool) {
	for i := 0; i < len(b); {
		c := b[i]
		if c == optPad {
			i++
			continue
		}
		if c == optEnd || i+1 >= len(b) {
			return nil, false
		}
		n := int(b[i+1])
		if i+2+n > len(b) {
			return nil, false
		}
		if c == code && n >= min {
			return b[i+2 : i+2+n], true
		}
		i += 2 + n
	}
	return nil, false
}

// inPRL is dnsmasq's in_list: with no parameter request list every
// option counts as requested.
func (r *request) inPRL(code uint8) bool {
	return !r.hasPRL || bytes.IndexByte(r.prl, code) >= 0
}
