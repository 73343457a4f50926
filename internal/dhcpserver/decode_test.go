package dhcpserver

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// sameDecode reports how a Decoder's packet differs from FromBytes's
// ("" when it does not): every field, and every option by value (an
// empty option is nil in one and empty in the other).
func sameDecode(want, got *dhcpv4.DHCPv4) string {
	switch {
	case want.OpCode != got.OpCode || want.HWType != got.HWType || want.HopCount != got.HopCount:
		return "op, htype or hops"
	case want.TransactionID != got.TransactionID || want.NumSeconds != got.NumSeconds || want.Flags != got.Flags:
		return "xid, secs or flags"
	case !sameBytes(want.ClientIPAddr, got.ClientIPAddr) || !sameBytes(want.YourIPAddr, got.YourIPAddr) ||
		!sameBytes(want.ServerIPAddr, got.ServerIPAddr) || !sameBytes(want.GatewayIPAddr, got.GatewayIPAddr):
		return "addresses"
	case !bytes.Equal(want.ClientHWAddr, got.ClientHWAddr):
		return "chaddr"
	case want.ServerHostName != got.ServerHostName || want.BootFileName != got.BootFileName:
		return "sname or file"
	case len(want.Options) != len(got.Options):
		return "number of options"
	}
	for code, v := range want.Options {
		g, ok := got.Options[code]
		if !ok || !bytes.Equal(v, g) {
			return fmt.Sprintf("option %d", code)
		}
	}
	return ""
}

// sameBytes compares addresses byte for byte (net.IP.Equal would take a
// 16-byte form for equal to a 4-byte one).
func sameBytes(a, b net.IP) bool { return string(a) == string(b) }

func TestDecoderMatchesFromBytes(t *testing.T) {
	long := make([]byte, 255)
	for i := range long {
		long[i] = byte(i)
	}
	tests := []struct {
		name string
		pkt  []byte
	}{
		{"discover", cli.withType(discoverT).with(prl(1, 3, 6)).bytes()},
		{"request", cli.withType(requestT).with(requested("10.0.0.7"), serverID("10.0.0.1"), clientID(1, 2, 3)).bytes()},
		{"bootp with file", msg{file: "pxelinux.0", giaddr: "10.0.0.1", ciaddr: "10.0.0.9"}.bytes()},
		{"repeated option joined", cli.withType(discoverT).with(o(optHostname, 'a', 'b'), o(optHostname, 'c')).bytes()},
		{"long repeated option", cli.withType(discoverT).with(opt{optVendorClass, long}, opt{optVendorClass, long}).bytes()},
		{"empty option", cli.withType(discoverT).with(o(optClientID)).bytes()},
		{"pads", append(append(cli.withType(informT).bytes()[:240], 0, 0, optMessageType, 1, 8, 0), optEnd)},
		{"no end", cli.withType(discoverT).bytes()[:243]},
		{"missing length", append(cli.withType(discoverT).bytes()[:243], 12)},
		{"short option", append(cli.withType(discoverT).bytes()[:243], 12, 9, 'a')},
		{"bad cookie", append(append(cli.bytes()[:236], 1, 2, 3, 4), optEnd)},
		{"short header", cli.bytes()[:100]},
		{"hlen over 16", func() []byte { b := cli.withType(discoverT).bytes(); b[2] = 200; return b }()},
	}
	var d Decoder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, werr := dhcpv4.FromBytes(tc.pkt)
			got, gerr := d.Decode(slices.Clone(tc.pkt))
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("FromBytes error %v, Decode error %v", werr, gerr)
			}
			if werr != nil {
				return
			}
			if diff := sameDecode(want, got); diff != "" {
				t.Errorf("decoded differently: %s\nFromBytes %v\nDecode    %v", diff, want, got)
			}
		})
	}
}

// TestDecoderReuse decodes a packet with more options after one with
// fewer and back: nothing of the earlier packet may remain.
func TestDecoderReuse(t *testing.T) {
	var d Decoder
	big := cli.withType(discoverT).with(clientID(1, 2), o(optHostname, 'h')).bytes()
	small := cli.withType(requestT).bytes()
	for _, b := range [][]byte{big, small, big, small} {
		want, _ := dhcpv4.FromBytes(b)
		got, err := d.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := sameDecode(want, got); diff != "" {
			t.Fatalf("after reuse: %s", diff)
		}
	}
}

// FuzzDecoder: Decoder accepts what dhcpv4.FromBytes accepts and reads
// the same values, and never writes into the datagram.
func FuzzDecoder(f *testing.F) {
	f.Add(cli.withType(discoverT).with(prl(1, 3, 6)).bytes())
	f.Add(cli.withType(requestT).with(requested("10.0.0.7"), o(optHostname, 'a'), o(optHostname, 'b')).bytes())
	f.Add(msg{file: "boot"}.bytes())
	f.Add(cli.bytes()[:239])
	var d Decoder
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := dhcpv4.FromBytes(b)
		in := slices.Clone(b)
		got, gerr := d.Decode(in)
		if !bytes.Equal(in, b) {
			t.Fatal("Decode changed the datagram")
		}
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("FromBytes error %v, Decode error %v", werr, gerr)
		}
		if werr == nil {
			if diff := sameDecode(want, got); diff != "" {
				t.Fatalf("decoded differently: %s", diff)
			}
		}
	})
}

// BenchmarkDecoder is BenchmarkDecode with the worker's Decoder.
func BenchmarkDecoder(b *testing.B) {
	p := msg{typ: requestT, bcast: true, opts: []opt{prl(1, 3, 6, 12, 15, 28, 42), requested("10.1.0.1"), serverID("10.1.0.1")}}.bytes()
	var d Decoder
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}
