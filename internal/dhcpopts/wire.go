package dhcpopts

import "net/netip"

// Codes whose data dnsmasq sends with a terminating NUL (the TFTP server
// name and boot file name, which old clients copy into C strings).
const (
	CodeTFTPServer   = 66
	CodeBootfileName = 67
)

// Wire returns the bytes to send for e as option code at the top level:
// 0.0.0.0 in an address list replaced by server (see WithServer), and a
// NUL added to options 66 and 67 unless that would pass 255 bytes, as
// dnsmasq does.
func (e Encoded) Wire(code uint8, server netip.Addr) []byte {
	data := e.WithServer(server)
	if (code == CodeTFTPServer || code == CodeBootfileName) && len(data) < 255 {
		data = append(append([]byte(nil), data...), 0)
	}
	return data
}

// SubOption is one encapsulated option: a vendor: or encap: sub-option,
// or one of an RFC 3925 enterprise.
type SubOption struct {
	Code uint8
	Data []byte
}

// Encapsulate builds the data of an option that carries sub-options
// (option 43 for vendor:, the encap: option): each as code, length,
// data, then an end byte (255), as dnsmasq sends them.
func Encapsulate(subs []SubOption) []byte {
	var out []byte
	for _, s := range subs {
		out = append(out, s.Code, byte(len(s.Data)))
		out = append(out, s.Data...)
	}
	return append(out, 255)
}

// VIEncapsulate builds one enterprise's part of option 125 (RFC 3925):
// the enterprise number, the length of its sub-options, then each
// sub-option as code, length, data (no end byte).
func VIEncapsulate(enterprise uint32, subs []SubOption) []byte {
	out := []byte{byte(enterprise >> 24), byte(enterprise >> 16), byte(enterprise >> 8), byte(enterprise), 0}
	for _, s := range subs {
		out = append(out, s.Code, byte(len(s.Data)))
		out = append(out, s.Data...)
	}
	out[4] = byte(len(out) - 5)
	return out
}
