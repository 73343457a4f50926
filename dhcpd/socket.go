package dhcpd

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/dhcpserver"
)

// maxDatagram is the largest request read; DHCP messages are far smaller.
const maxDatagram = 4096

// pktinfoDst is the datagram's destination address from IP_PKTINFO
// (invalid when absent). It walks the control messages in place, as
// unix.ParseSocketControlMessage would, without allocating.
func pktinfoDst(oob []byte) netip.Addr {
	const align = int(unsafe.Sizeof(uintptr(0)))
	want := unix.CmsgLen(int(unsafe.Sizeof(unix.Inet4Pktinfo{})))
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < unix.SizeofCmsghdr || n > len(oob) {
			break
		}
		if h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && n >= want {
			info := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			return netip.AddrFrom4(info.Addr)
		}
		next := (n + align - 1) &^ (align - 1)
		if next >= len(oob) {
			break
		}
		oob = oob[next:]
	}
	return netip.Addr{}
}

// send delivers the engine's replies as their Delivery says.
func (s *server) send(out []dhcpserver.Outbound) {
	for i := range out {
		if err := s.sendOne(&out[i]); err != nil {
			s.count.sendFail.Add(1)
			fmt.Fprintf(os.Stderr, "send %s %s: %v\n", out[i].Delivery, out[i].Dest, err)
			continue
		}
		s.stats.countOut(out[i].Packet) // issue 6: metrics (stats.go)
	}
}

func (s *server) sendOne(o *dhcpserver.Outbound) error {
	l := s.links[o.IfIndex]
	if l == nil {
		return fmt.Errorf("no socket for interface index %d", o.IfIndex)
	}
	switch o.Delivery {
	case dhcpserver.Raw:
		if l.packet < 0 || len(o.HWAddr) == 0 || len(o.HWAddr) > 8 {
			return l.sendUDP(o.Packet, netip.AddrPortFrom(netip.IPv4Unspecified(), 0), o.Src, true)
		}
		frame := ipv4UDP(o.Src, o.Dest, o.Packet)
		to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: l.iface.Index, Halen: uint8(len(o.HWAddr))}
		copy(to.Addr[:], o.HWAddr)
		return unix.Sendto(l.packet, frame, 0, to)
	case dhcpserver.Broadcast:
		return l.sendUDP(o.Packet, o.Dest, o.Src, true)
	default: // Unicast, Relay
		// By the routing table, as dnsmasq sends them: a relay or a
		// client with an address need not be reached through the
		// interface the request came in on.
		if s.routed >= 0 {
			return sendUDP(s.routed, o.Packet, o.Dest, o.Src, false)
		}
		return l.sendUDP(o.Packet, o.Dest, o.Src, false)
	}
}

// sendUDP sends on the link's own (nonblocking) socket, waiting in the
// poller when its send buffer is full.
func (l *link) sendUDP(pkt []byte, dest netip.AddrPort, src netip.Addr, broadcast bool) error {
	var serr error
	err := l.rc.Write(func(fd uintptr) bool {
		serr = sendUDP(int(fd), pkt, dest, src, broadcast)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}

// sendUDP sends from src (IP_PKTINFO's spec_dst) to dest; broadcast goes
// to 255.255.255.255:68 whatever dest says.
func sendUDP(fd int, pkt []byte, dest netip.AddrPort, src netip.Addr, broadcast bool) error {
	to := &unix.SockaddrInet4{Port: int(dest.Port()), Addr: dest.Addr().As4()}
	if broadcast {
		to = &unix.SockaddrInet4{Port: dhcpserver.ClientPort, Addr: [4]byte{255, 255, 255, 255}}
	}
	var oob []byte
	if src.Is4() {
		oob = make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Inet4Pktinfo{}))))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(int(unsafe.Sizeof(unix.Inet4Pktinfo{}))))
		info := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
		info.Spec_dst = src.As4()
	}
	return unix.Sendmsg(fd, pkt, oob, to, 0)
}

// ipv4UDP builds an IPv4 + UDP datagram around payload, with the
// checksums, for the AF_PACKET socket (the kernel adds the link header).
func ipv4UDP(src netip.Addr, dst netip.AddrPort, payload []byte) []byte {
	const ipLen, udpLen = 20, 8
	b := make([]byte, ipLen+udpLen+len(payload))
	ip := b[:ipLen]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(b)))
	ip[8] = 64 // TTL
	ip[9] = unix.IPPROTO_UDP
	s4, d4 := src.As4(), dst.Addr().As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip, 0))
	udp := b[ipLen:]
	binary.BigEndian.PutUint16(udp[0:], dhcpserver.ServerPort)
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen+len(payload)))
	copy(udp[udpLen:], payload)
	// The UDP checksum covers a pseudo header: addresses, protocol, length.
	var pseudo uint32
	for i := 0; i < 4; i += 2 {
		pseudo += uint32(binary.BigEndian.Uint16(s4[i:])) + uint32(binary.BigEndian.Uint16(d4[i:]))
	}
	pseudo += unix.IPPROTO_UDP + uint32(udpLen+len(payload))
	c := checksum(udp, pseudo)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	return b
}

// checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
