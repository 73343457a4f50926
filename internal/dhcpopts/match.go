package dhcpopts

import (
	"bytes"
	"net/netip"
)

// Matches reports whether the option data a client sent matches a
// dhcp-match value, as dnsmasq's match_bytes does: no value matches any
// data; hex (with "*" wildcard bytes) must match the start of the data;
// a string matches anywhere in the data; anything else (a number, an
// address) must equal one element of the data read as an array of
// values of its size ("option:client-arch,6" matches a client that lists
// architecture 6 among others).
func (e Encoded) Matches(sent []byte) bool {
	n := len(e.Data)
	switch {
	case n == 0:
		return true
	case n > len(sent):
		return false
	case e.Kind == KindHex:
		for i := 0; i < n; i++ {
			if (e.Wild == nil || !e.Wild[i]) && e.Data[i] != sent[i] {
				return false
			}
		}
		return true
	}
	step := n
	if e.Kind == KindString {
		step = 1
	}
	for i := 0; i+n <= len(sent); i += step {
		if bytes.Equal(e.Data, sent[i:i+n]) {
			return true
		}
	}
	return false
}

// WithServer returns the data to send for e: for a top-level address
// list, every 0.0.0.0 replaced by server (the server's address on the
// client's network), as dnsmasq does; otherwise the data unchanged.
func (e Encoded) WithServer(server netip.Addr) []byte {
	if !e.Substitute || !server.Is4() || !bytes.Contains(e.Data, []byte{0, 0, 0, 0}) {
		return e.Data
	}
	out := append([]byte(nil), e.Data...)
	s := server.As4()
	for i := 0; i+4 <= len(out); i += 4 {
		if out[i] == 0 && out[i+1] == 0 && out[i+2] == 0 && out[i+3] == 0 {
			copy(out[i:i+4], s[:])
		}
	}
	return out
}
