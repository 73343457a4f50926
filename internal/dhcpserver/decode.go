package dhcpserver

import (
	"errors"
	"io"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Errors of Decoder.Decode.
var (
	errShort  = errors.New("malformed DHCP packet: shorter than the BOOTP header")
	errCookie = errors.New("malformed DHCP packet: bad magic cookie")
)

// Decoder reads requests into one reused dhcpv4.DHCPv4, as
// dhcpv4.FromBytes does but without its allocations: the worker decodes
// every datagram, and FromBytes makes a map and a dozen small slices for
// each (a sizeable share of a busy server's time, in garbage collection
// as much as in decoding). A Decoder is not safe for concurrent use.
type Decoder struct {
	p dhcpv4.DHCPv4
}

// Decode reads b into the Decoder's packet and returns it. The packet
// and its fields point into b and are valid until the next Decode, and b
// must not change meanwhile: Engine.Handle is done with both when it
// returns (a DISCOVER parked for its ping is copied).
//
// It accepts and rejects exactly what dhcpv4.FromBytes does and gives
// the same field and option values (FuzzDecoder checks), except that
// ServerHostName and BootFileName are only filled when the packet has
// them.
func (d *Decoder) Decode(b []byte) (*dhcpv4.DHCPv4, error) {
	opts := d.p.Options
	if opts == nil {
		opts = make(dhcpv4.Options, 16)
	}
	clear(opts)
	d.p = dhcpv4.DHCPv4{Options: opts}
	p := &d.p
	if len(b) < optionsStart {
		return nil, errShort
	}
	p.OpCode = dhcpv4.OpcodeType(b[0])
	p.HWType = iana.HWType(b[1])
	hlen := int(min(b[2], 16))
	p.HopCount = b[3]
	copy(p.TransactionID[:], b[4:8])
	p.NumSeconds = uint16(b[8])<<8 | uint16(b[9])
	p.Flags = uint16(b[10])<<8 | uint16(b[11])
	p.ClientIPAddr = net.IP(b[12:16:16])
	p.YourIPAddr = net.IP(b[16:20:20])
	p.ServerIPAddr = net.IP(b[20:24:24])
	p.GatewayIPAddr = net.IP(b[24:28:28])
	p.ClientHWAddr = net.HardwareAddr(b[offChaddr : offChaddr+hlen : offChaddr+hlen])
	if b[offSname] != 0 {
		p.ServerHostName = cString(b[offSname : offSname+snameLen])
	}
	if b[offFile] != 0 {
		p.BootFileName = cString(b[offFile : offFile+fileLen])
	}
	if [4]byte(b[headerSize:optionsStart]) != magicCookie {
		return nil, errCookie
	}
	if err := decodeOptions(opts, b[optionsStart:]); err != nil {
		return nil, err
	}
	return p, nil
}

// cString is a NUL-terminated field as a string.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// decodeOptions is dhcpv4's Options.fromBytesCheckEnd: the options up to
// END (which must be there unless there are no options), a repeated option's values concatenated
// (RFC 3396). Option data points into b, except a repeated option's,
// which is copied.
func decodeOptions(opts dhcpv4.Options, b []byte) error {
	if len(b) == 0 {
		return nil // no options at all: accepted, as FromBytes does
	}
	for i := 0; i < len(b); {
		code := b[i]
		i++
		switch code {
		case optPad:
			continue
		case optEnd:
			return nil
		}
		if i >= len(b) {
			return io.ErrUnexpectedEOF // the length byte is missing
		}
		n := int(b[i])
		i++
		if i+n > len(b) {
			return io.ErrUnexpectedEOF
		}
		data := b[i : i+n : i+n]
		i += n
		if prev, ok := opts[code]; ok {
			// Never append into b: a fresh slice.
			joined := make([]byte, 0, len(prev)+n)
			opts[code] = append(append(joined, prev...), data...)
			continue
		}
		opts[code] = data
	}
	return io.ErrUnexpectedEOF // no END option
}
