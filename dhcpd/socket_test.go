package dhcpd

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// TestIPv4UDPFrame: the header dhcpd builds for the AF_PACKET socket has
// the right lengths, ports and addresses, and both checksums verify (a
// checksum over a correct header, pseudo header included, is zero).
func TestIPv4UDPFrame(t *testing.T) {
	for _, n := range []int{0, 1, 300, 547} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddrPort("192.0.2.64:68")
		b := ipv4UDP(src, dst, payload)
		if len(b) != 28+n || binary.BigEndian.Uint16(b[2:]) != uint16(28+n) {
			t.Fatalf("%d: length %d, header says %d", n, len(b), binary.BigEndian.Uint16(b[2:]))
		}
		if checksum(b[:20], 0) != 0 {
			t.Errorf("%d: IP header checksum does not verify", n)
		}
		udp := b[20:]
		if binary.BigEndian.Uint16(udp[0:]) != 67 || binary.BigEndian.Uint16(udp[2:]) != 68 || binary.BigEndian.Uint16(udp[4:]) != uint16(8+n) {
			t.Errorf("%d: UDP ports/length %x", n, udp[:6])
		}
		var pseudo uint32 = 0xc000 + 0x0201 + 0xc000 + 0x0240 + 17 + uint32(8+n)
		if checksum(udp, pseudo) != 0 {
			t.Errorf("%d: UDP checksum does not verify", n)
		}
		if netip.AddrFrom4([4]byte(b[12:16])) != src || netip.AddrFrom4([4]byte(b[16:20])) != dst.Addr() {
			t.Errorf("%d: addresses %v", n, b[12:20])
		}
	}
}
