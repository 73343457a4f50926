package dnsd

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Packet-info control messages, parsed and built by hand into fixed
// buffers: the x/net ControlMessage helpers allocate on every packet, and
// this is the hot path of a wildcard socket.

// oobSize fits one IPv6 packet-info message (the larger of the two), and
// a little more so an unexpected extra message is seen as such.
var oobSize = unix.CmsgSpace(unix.SizeofInet6Pktinfo) + unix.CmsgSpace(unix.SizeofInet4Pktinfo)

// parsePktinfo finds the destination address of a received datagram and
// the interface it arrived on. For IPv4 it returns ipi_spec_dst, the local
// address the datagram was for (what dnsmasq reads), which differs from
// ipi_addr for broadcasts.
func parsePktinfo(oob []byte) (dst netip.Addr, ifindex uint32, ok bool) {
	hdrLen := unix.CmsgLen(0)
	for len(oob) >= hdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		msgLen := int(h.Len)
		if msgLen < hdrLen || msgLen > len(oob) {
			return netip.Addr{}, 0, false
		}
		data := oob[hdrLen:msgLen]
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
			ifindex = binary.NativeEndian.Uint32(data[0:4])
			dst = netip.AddrFrom4([4]byte(data[4:8]))
			ok = true
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo { in6_addr ipi6_addr; int ipi6_ifindex; }
			dst = netip.AddrFrom16([16]byte(data[0:16]))
			ifindex = binary.NativeEndian.Uint32(data[16:20])
			ok = true
		}
		space := unix.CmsgSpace(msgLen - hdrLen)
		if space > len(oob) {
			break
		}
		oob = oob[space:]
	}
	return dst, ifindex, ok
}

// marshalPktinfo writes into buf the control message that makes a reply
// leave from src: IP_PKTINFO with ipi_spec_dst = src for IPv4 (interface 0:
// the routing table chooses), IPV6_PKTINFO with the address and the
// arrival interface for IPv6 (needed for link-local addresses). It returns
// the bytes to pass to sendmsg.
func marshalPktinfo(buf []byte, src netip.Addr, ifindex uint32) []byte {
	hdrLen := unix.CmsgLen(0)
	if src.Is4() {
		n := unix.CmsgSpace(unix.SizeofInet4Pktinfo)
		b := buf[:n]
		clear(b)
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		a := src.As4()
		copy(b[hdrLen+4:hdrLen+8], a[:])
		return b
	}
	n := unix.CmsgSpace(unix.SizeofInet6Pktinfo)
	b := buf[:n]
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	a := src.As16()
	copy(b[hdrLen:hdrLen+16], a[:])
	binary.NativeEndian.PutUint32(b[hdrLen+16:hdrLen+20], ifindex)
	return b
}
