package dhcpserver

import (
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/leases"
)

// Ports of DHCPv4 (RFC 2131).
const (
	ServerPort = 67
	ClientPort = 68
)

// Interface is a network interface DHCP runs on, as the worker knows it.
// Build it once per interface (and again when its addresses change): the
// engine caches the ranges of an interface by Index and Addrs.
type Interface struct {
	Name  string // the tag every request that arrives here carries
	Index int
	// Addrs are the interface's IPv4 addresses with their prefix
	// lengths, primary first. Ranges whose start and end lie in one of
	// these networks serve clients on the link; the first address is
	// the server's address for relayed requests (dnsmasq's "fallback").
	Addrs []netip.Prefix
}

// Inbound is one decoded request and where it came from.
type Inbound struct {
	// Packet is the decoded message. While a probe for it is pending
	// the engine keeps it: the caller must not modify it afterwards.
	Packet    *dhcpv4.DHCPv4
	Interface *Interface
	// Src is the datagram's source address and port; Dst its destination
	// address (IP_PKTINFO ipi_addr): 255.255.255.255 for a broadcast,
	// else the request was unicast to us, which matters for NAKs.
	Src netip.AddrPort
	Dst netip.Addr
}

// Delivery says how a reply leaves, after RFC 2131 section 4.1.
type Delivery uint8

const (
	// Relay: UDP to the relay agent at giaddr, port 67.
	Relay Delivery = iota + 1
	// Unicast: UDP to a client that has an address (ciaddr), through the
	// normal routing table.
	Unicast
	// Broadcast: UDP to 255.255.255.255:68 out of Outbound.IfIndex.
	Broadcast
	// Raw: to yiaddr:68 at the hardware address HWAddr, through the
	// AF_PACKET socket of IfIndex: the client has no address yet and
	// cannot answer ARP, and it did not ask for a broadcast.
	Raw
)

var deliveryNames = [...]string{"", "relay", "unicast", "broadcast", "raw"}

func (d Delivery) String() string {
	if int(d) < len(deliveryNames) {
		return deliveryNames[d]
	}
	return "Delivery(?)"
}

// Outbound is one reply to send.
type Outbound struct {
	Packet []byte // the whole BOOTP message; the caller owns it
	// Type is the DHCP message type (0 for a BOOTP reply).
	Type     dhcpv4.MessageType
	Delivery Delivery
	Dest     netip.AddrPort
	// HWAddr is the client's hardware address (chaddr), the link-layer
	// destination of a Raw reply.
	HWAddr  net.HardwareAddr
	IfIndex int // the arrival interface: where a Broadcast or Raw reply leaves
	// Src is the server's address on the client's network (the server
	// identifier): the source address to send from.
	Src netip.Addr
}

// ActionKind says what an Action asks of the worker.
type ActionKind uint8

const (
	// Commit: the master appends Records to the lease journal and fsyncs
	// it (group commit), then the worker calls Engine.Committed(ID, ok).
	// When Held is set a reply waits for that call.
	Commit ActionKind = iota + 1
	// Probe: ping Addr (ICMP echo on the raw socket) and call
	// Engine.ProbeResult(ID, inUse) when it answers or the wait is over
	// (dnsmasq waits 3 s). Probes run in parallel.
	Probe
)

var actionNames = [...]string{"", "commit", "probe"}

func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return "ActionKind(?)"
}

// Action is work the engine cannot do itself.
type Action struct {
	Kind ActionKind
	ID   uint64
	// Records (Commit) are the lease changes in order. The engine's own
	// table already holds them.
	Records []leases.Record
	// Held (Commit): an ACK waits for Committed.
	Held bool
	// Txn (Commit): the request's data for the dhcp-script, when dnsmasq
	// would pass it (a new lease, or a client asking anew for its own);
	// its Addr is that of one of the Records. Nil otherwise.
	Txn *Transaction
	// Addr (Probe) is the address to ping; IfIndex the interface the
	// request came in on.
	Addr    netip.Addr
	IfIndex int
}
