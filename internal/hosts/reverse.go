package hosts

import (
	"net/netip"
	"strings"
)

// ParseReverse turns a reverse-lookup key ("4.3.2.1.in-addr.arpa" or the
// 32-nibble ip6.arpa form, lower-case, no trailing dot; see Key) into the
// address it names. Partial names (a /24's "3.2.1.in-addr.arpa") are not
// addresses and report false.
func ParseReverse(key string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(key, ".in-addr.arpa"); ok {
		return parseReverse4(rest)
	}
	if rest, ok := strings.CutSuffix(key, ".ip6.arpa"); ok {
		return parseReverse6(rest)
	}
	return netip.Addr{}, false
}

func parseReverse4(s string) (netip.Addr, bool) {
	var b [4]byte
	for i := 3; i >= 0; i-- {
		part := s
		if i > 0 {
			dot := strings.IndexByte(s, '.')
			if dot < 0 {
				return netip.Addr{}, false
			}
			part, s = s[:dot], s[dot+1:]
		}
		n, ok := parseOctet(part)
		if !ok {
			return netip.Addr{}, false
		}
		b[i] = n
	}
	return netip.AddrFrom4(b), true
}

// parseOctet accepts 0-255 in decimal without leading zeros, as a reverse
// name generated from an address has them.
func parseOctet(s string) (byte, bool) {
	if len(s) == 0 || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > 255 {
		return 0, false
	}
	return byte(n), true
}

func parseReverse6(s string) (netip.Addr, bool) {
	// 32 nibbles, each followed by a dot except the last: 63 bytes.
	if len(s) != 63 {
		return netip.Addr{}, false
	}
	var b [16]byte
	for i := 0; i < 32; i++ {
		c := s[2*i]
		if i < 31 && s[2*i+1] != '.' {
			return netip.Addr{}, false
		}
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		default:
			return netip.Addr{}, false
		}
		// The first label is the lowest nibble of the last byte.
		pos := 31 - i
		if pos%2 == 0 {
			b[pos/2] |= v << 4
		} else {
			b[pos/2] |= v
		}
	}
	return netip.AddrFrom16(b), true
}
