package dhcpserver

import (
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// ARP hardware type and length the AF_PACKET path can address.
const (
	hwEthernet    = 1
	hwEthernetLen = 6
)

// startReply starts a reply to r in the engine's packet buffer.
func (e *Engine) startReply(r *request) *packet {
	e.pkt.start(e.wbuf, r.maxSize, r)
	return &e.pkt
}

// reply finishes p and decides how it leaves (see destination).
func (e *Engine) reply(r *request, p *packet, t dhcpv4.MessageType, inform bool, src netip.Addr) Outbound {
	o := Outbound{Packet: p.finish(), Type: t, IfIndex: r.in.Interface.Index, Src: src}
	var ci, yi netip.Addr
	ci = addr4(o.Packet[offCiaddr : offCiaddr+4])
	yi = addr4(o.Packet[offYiaddr : offYiaddr+4])
	o.Delivery, o.Dest = destination(r, ci, yi, o.Packet[offFlags]&0x80 != 0, inform)
	if o.Delivery == Raw {
		o.HWAddr = net.HardwareAddr(o.Packet[offChaddr : offChaddr+len(r.chaddr)])
	}
	return o
}

// emit sends p now.
func (e *Engine) emit(r *request, p *packet, t dhcpv4.MessageType, inform bool, src netip.Addr) {
	e.out = append(e.out, e.reply(r, p, t, inform, src))
}

// destination is where a reply with these ciaddr, yiaddr and broadcast
// bit goes, as RFC 2131 section 4.1 says and dnsmasq does:
//
//   - a relayed request (giaddr): to the relay's server port;
//   - a client with an address (ciaddr): unicast to it, at the source port
//     of the request when the request came from that address (and
//     always to the source of a DHCPINFORM);
//   - the broadcast bit set, or a hardware address the AF_PACKET path
//     cannot use (not 6-byte Ethernet), or no yiaddr: broadcast;
//   - otherwise to yiaddr at chaddr, by AF_PACKET, since the client cannot
//     answer ARP yet.
//
// NAKs reach here with the broadcast bit set and ciaddr cleared, except
// dnsmasq's one case: a NAK to a client on another subnet that unicast
// its request directly goes back to its address.
func destination(r *request, ciaddr, yiaddr netip.Addr, bcast, inform bool) (Delivery, netip.AddrPort) {
	switch {
	case r.giaddr.IsValid():
		return Relay, netip.AddrPortFrom(r.giaddr, ServerPort)
	case ciaddr.IsValid():
		src := r.in.Src
		if (!inform && src.Addr() != ciaddr) || src.Port() == 0 || !src.Addr().Is4() || src.Addr().IsUnspecified() {
			return Unicast, netip.AddrPortFrom(ciaddr, ClientPort)
		}
		return Unicast, src
	case bcast || r.htype != hwEthernet || len(r.chaddr) != hwEthernetLen || !yiaddr.IsValid():
		return Broadcast, netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), ClientPort)
	}
	return Raw, netip.AddrPortFrom(yiaddr, ClientPort)
}
