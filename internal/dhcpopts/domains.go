package dhcpopts

import (
	"bytes"
	"fmt"
	"strings"
)

// Domain name limits (RFC 1035).
const (
	maxName  = 253
	maxLabel = 63
)

// CanonicalDomain checks a domain name for a domain list and returns it
// in lower case without a trailing dot (dnsmasq's IDN library lower-cases
// names that have capitals). "." is the root and stays ".".
func CanonicalDomain(s string) (string, error) {
	if s == "." {
		return s, nil
	}
	name := strings.ToLower(strings.TrimSuffix(s, "."))
	if name == "" || len(name) > maxName {
		return "", fmt.Errorf("bad domain in dhcp-option: %q", s)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > maxLabel {
			return "", fmt.Errorf("bad domain in dhcp-option: %q (empty or over-long label)", s)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("bad domain in dhcp-option: %q (character %q)", s, c)
			}
		}
	}
	return name, nil
}

// encodeDomainList writes names in RFC 1035 format after header zero
// bytes, compressing each name against the ones before it exactly as
// dnsmasq does, so that the bytes on the wire are the same: for each
// suffix of the new name, longest first, it looks for the same bytes (a
// C string, up to the next zero byte) at the label starts of what was
// written before, walking that data label by label from the start
// (stepping over a compression pointer as if it were a long label, which
// ends the walk), and replaces the suffix with a pointer to the first
// match. Pointer offsets count from the end of the header.
func encodeDomainList(names []string, header int) ([]byte, error) {
	buf := make([]byte, header)
	for _, n := range names {
		canon, err := CanonicalDomain(n)
		if err != nil {
			return nil, err
		}
		body := buf[header:]
		start := len(body) // where the new name begins, relative to body
		if canon != "." {
			for _, label := range strings.Split(canon, ".") {
				body = append(body, byte(len(label)))
				body = append(body, label...)
			}
		}
		body = append(body, 0)
		newLen := len(body)
	compress:
		for tail := start; body[tail] != 0; tail += int(body[tail]) + 1 {
			for r := 0; r < start; r += int(body[r]) + 1 {
				if bytes.Equal(cString(body, r), cString(body, tail)) {
					body[tail] = byte(0xc0 | r>>8)
					body[tail+1] = byte(r)
					newLen = tail + 2
					break compress
				}
			}
		}
		buf = append(buf[:header], body[:newLen]...)
	}
	return buf, nil
}

// cString is the C string at b[i:]: up to the next zero byte.
func cString(b []byte, i int) []byte {
	if j := bytes.IndexByte(b[i:], 0); j >= 0 {
		return b[i : i+j]
	}
	return b[i:]
}
