package dhcpserver

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
)

// ipv4ICMP wraps an ICMP message in an IPv4 header (ihl words of it).
func ipv4ICMP(src netip.Addr, ihl int, icmp []byte) []byte {
	b := make([]byte, ihl*4+len(icmp))
	b[0] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8], b[9] = 64, 1
	s := src.As4()
	copy(b[12:], s[:])
	copy(b[16:], []byte{192, 0, 2, 1})
	copy(b[ihl*4:], icmp)
	return b
}

// echoReply turns an echo request into the reply a host sends back.
func echoReply(req []byte) []byte {
	r := append([]byte(nil), req...)
	r[0] = icmpEchoReply
	r[2], r[3] = 0, 0
	binary.BigEndian.PutUint16(r[2:], inetChecksum(r))
	return r
}

func TestEchoRequest(t *testing.T) {
	b := EchoRequest(0x1234, 0xabcd)
	if len(b) != 28 || b[0] != icmpEchoRequest || b[1] != 0 || inetChecksum(b) != 0 {
		t.Fatalf("echo request % x", b)
	}
	if binary.BigEndian.Uint16(b[4:]) != 0x1234 || binary.BigEndian.Uint16(b[6:]) != 0xabcd {
		t.Fatalf("id/seq % x", b[4:8])
	}
}

func TestParseEchoReplyAndFilter(t *testing.T) {
	src := netip.MustParseAddr("192.0.2.60")
	good := ipv4ICMP(src, 5, echoReply(EchoRequest(7, 9)))
	withOptions := ipv4ICMP(src, 6, echoReply(EchoRequest(7, 9)))
	badSum := append([]byte(nil), good...)
	badSum[len(badSum)-1] ^= 1
	fragment := append([]byte(nil), good...)
	fragment[6] = 0x20 // MF
	otherID := ipv4ICMP(src, 5, echoReply(EchoRequest(8, 9)))
	request := ipv4ICMP(src, 5, EchoRequest(7, 9))
	unreachable := ipv4ICMP(src, 5, []byte{3, 1, 0, 0, 0, 0, 0, 0})
	for _, tc := range []struct {
		name        string
		pkt         []byte
		parse       bool // ParseEchoReply accepts it
		any, withID bool // the filters without and with identifier 7 pass it
	}{
		{"echo reply", good, true, true, true},
		{"IP options", withOptions, true, true, true},
		{"bad checksum", badSum, false, true, true}, // the filter does not sum
		{"fragment", fragment, false, false, false},
		{"other identifier", otherID, true, true, false},
		{"echo request", request, false, false, false},
		{"unreachable", unreachable, false, false, false},
		{"short", good[:24], false, true, false}, // the filter reads what it needs
		{"empty", nil, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := ParseEchoReply(tc.pkt)
			if ok != tc.parse {
				t.Fatalf("ParseEchoReply ok=%v, want %v", ok, tc.parse)
			}
			if ok && (r.From != src || r.Seq != 9) {
				t.Errorf("parsed %+v", r)
			}
			for _, f := range []struct {
				matchID bool
				want    bool
			}{{false, tc.any}, {true, tc.withID}} {
				raw, err := EchoReplyFilter(7, f.matchID)
				if err != nil {
					t.Fatal(err)
				}
				prog, ok := bpf.Disassemble(raw)
				if !ok {
					t.Fatal("filter does not disassemble")
				}
				vm, err := bpf.NewVM(prog)
				if err != nil {
					t.Fatal(err)
				}
				n, err := vm.Run(tc.pkt)
				if err != nil {
					t.Fatal(err)
				}
				if (n > 0) != f.want {
					t.Errorf("filter (matchID %v) returns %d, want pass=%v", f.matchID, n, f.want)
				}
			}
		})
	}
}

func FuzzParseEchoReply(f *testing.F) {
	src := netip.MustParseAddr("192.0.2.60")
	f.Add(ipv4ICMP(src, 5, echoReply(EchoRequest(7, 9))))
	f.Add(ipv4ICMP(src, 15, echoReply(EchoRequest(1, 2))))
	f.Add([]byte{0x45, 0, 0, 20})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := ParseEchoReply(b)
		if ok && !r.From.Is4() {
			t.Fatalf("accepted with source %v", r.From)
		}
	})
}
