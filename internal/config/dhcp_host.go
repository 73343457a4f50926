package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/moatdns/moat/internal/dhcpopts"
)

// DHCPHost is one dhcp-host (or a line of a dhcp-hostsfile, or of
// /etc/ethers):
//
//	[<hwaddr>,...][,id:<client-id>|id:*][,set:<tag>][,tag:<tag>][,<ipaddr>][,<hostname>][,<lease time>][,ignore]
//
// The fields may come in any order.
type DHCPHost struct {
	// HWAddrs are the hardware addresses that identify the host. Several
	// let one machine move between its interfaces: the address is taken
	// from a lease held by one of them when another asks.
	HWAddrs []HWAddr
	// ClientID identifies the host by DHCP client identifier (option
	// 61); nil for none.
	ClientID []byte
	// IgnoreClientID (id:*): identify the host by MAC only, ignoring any
	// client identifier it sends.
	IgnoreClientID bool
	SetTags        Tags       // set:<tag>: tags set while this entry is in use
	Tags           Tags       // tag:<tag>: use the entry only when these tags are set
	Addr           netip.Addr // the address to give (invalid: none)
	Name           string     // host name, lower case, without domain ("" none)
	Domain         string     // domain of a qualified host name ("" none)
	Lease          LeaseTime  // 0: the range's
	Ignore         bool       // ignore: never answer this host
}

// HWAddr is a hardware address pattern of dhcp-host or dhcp-mac.
type HWAddr struct {
	// Type is the ARP hardware type ("06-..." is token ring; 1 is
	// Ethernet); 0 matches any type.
	Type uint8
	Addr []byte // at most 16 bytes (the size of chaddr)
	// Wild marks, per byte of Addr, the "*" bytes, which match anything;
	// nil when there are none.
	Wild []bool
}

// maxHWAddr is DHCP_CHADDR_MAX, the size of the chaddr field.
const maxHWAddr = 16

// Matches reports whether a client's hardware type and address match
// the pattern: same length, same type unless the pattern's is 0, and
// equal bytes except the wildcards.
func (h HWAddr) Matches(htype uint8, addr []byte) bool {
	if len(addr) != len(h.Addr) || (h.Type != 0 && h.Type != htype) {
		return false
	}
	for i, b := range h.Addr {
		if (h.Wild == nil || !h.Wild[i]) && b != addr[i] {
			return false
		}
	}
	return true
}

// Exact reports whether the pattern has no wildcard byte.
func (h HWAddr) Exact() bool { return h.Wild == nil }

// String prints the pattern as parseHWAddr reads it: "[type-]xx:xx:..."
// with "*" for wildcard bytes.
func (h HWAddr) String() string {
	var b strings.Builder
	if h.Type != 0 {
		fmt.Fprintf(&b, "%02x-", h.Type)
	}
	for i, c := range h.Addr {
		if i > 0 {
			b.WriteByte(':')
		}
		if h.Wild != nil && h.Wild[i] {
			b.WriteByte('*')
		} else {
			fmt.Fprintf(&b, "%02x", c)
		}
	}
	if len(h.Addr) == 1 {
		b.WriteByte(':') // dhcp-host needs a colon to see an address
	}
	return b.String()
}

// parseHWAddr reads a hardware address as dnsmasq's parse_hex does for
// dhcp-host and dhcp-mac: bytes separated by ':' (or spaces), a longer
// run of digits read two at a time, "*" for a wildcard byte (when wild),
// and an optional ARP type in hex before a '-'.
func parseHWAddr(s string, wild bool) (HWAddr, error) {
	return parseHWAddrIn(s, wild, nil)
}

// parseHWAddrIn is parseHWAddr taking the address's bytes from a (nil:
// allocated). It reads the bytes into arrays first, so the result is
// allocated once at its size: a hosts file of 100,000 MAC addresses
// is parsed at start, and growing slices byte by byte dominated it.
func parseHWAddrIn(s string, wild bool, a *hostArena) (HWAddr, error) {
	var h HWAddr
	rest := s
	if typ, after, ok := strings.Cut(s, "-"); ok {
		n, err := strconv.ParseUint(typ, 16, 8)
		if err != nil || typ == "" {
			return HWAddr{}, fmt.Errorf("bad hex constant %q: the hardware type before '-' must be 00 to ff", s)
		}
		if strings.Contains(after, "-") {
			return HWAddr{}, fmt.Errorf("bad hex constant %q: separate the bytes with ':' (a '-' follows only the hardware type)", s)
		}
		h.Type, rest = uint8(n), after
	}
	// n counts every byte, those past maxHWAddr too: a bad digit after
	// them is still reported as one, as before the length.
	var addr [maxHWAddr]byte
	var wildAt [maxHWAddr]bool
	n := 0
	anyWild := false
	put := func(b byte, w bool) {
		if n < maxHWAddr {
			addr[n], wildAt[n] = b, w
		}
		n++
	}
	for len(rest) > 0 {
		// The groups between ':' and ' ' separators (empty ones skipped).
		end := 0
		for end < len(rest) && rest[end] != ':' && rest[end] != ' ' {
			end++
		}
		group := rest[:end]
		rest = rest[min(end+1, len(rest)):]
		switch {
		case group == "":
			continue
		case group == "*" && wild:
			put(0, true)
			anyWild = true
			continue
		}
		for i := 0; i < len(group); i += 2 {
			hi, ok := hexDigit(group[i])
			if !ok {
				return HWAddr{}, fmt.Errorf("bad hex constant %q", s)
			}
			if i+1 == len(group) {
				put(hi, false) // an odd digit out reads alone
				break
			}
			lo, ok := hexDigit(group[i+1])
			if !ok {
				return HWAddr{}, fmt.Errorf("bad hex constant %q", s)
			}
			put(hi<<4|lo, false)
		}
	}
	switch {
	case n == 0:
		return HWAddr{}, fmt.Errorf("bad hex constant %q: no bytes", s)
	case n > maxHWAddr:
		return HWAddr{}, fmt.Errorf("bad hex constant %q: more than %d bytes", s, maxHWAddr)
	}
	h.Addr = a.bytes(n)
	copy(h.Addr, addr[:n])
	if anyWild {
		h.Wild = make([]bool, n)
		copy(h.Wild, wildAt[:n])
	}
	return h, nil
}

// hexDigit is the value of one hexadecimal digit.
func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseClientIDHex reads a client identifier given in hex: bytes between
// colons (or '-' or spaces), longer runs read two digits at a time.
func parseClientIDHex(s string) ([]byte, error) {
	var out []byte
	for _, group := range strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' || r == ' ' }) {
		for i := 0; i < len(group); i += 2 {
			b, err := strconv.ParseUint(group[i:min(i+2, len(group))], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("bad hex constant %q", s)
			}
			out = append(out, byte(b))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bad hex constant %q: no bytes", s)
	}
	return out, nil
}

// maxClientID is the longest option 61 value.
const maxClientID = 255

func setDHCPHost(p *parser, v value, _ location) error {
	h, err := parseDHCPHost(v)
	if err != nil {
		return err
	}
	if h.Addr.IsValid() {
		// Two hosts with one address loop: the OFFER goes to one, the
		// REQUEST is refused because the other owns it.
		for _, o := range p.cfg.DHCP.Hosts {
			if o.Addr == h.Addr {
				return fmt.Errorf("duplicate dhcp-host IP address %s", h.Addr)
			}
		}
	}
	p.cfg.DHCP.Hosts = append(p.cfg.DHCP.Hosts, h)
	return nil
}

// parseDHCPHost reads the fields of one dhcp-host in any order, telling
// them apart as dnsmasq does: a field with a colon is id:, set:/net:,
// tag:, a bracketed IPv6 address or a hardware address; then an IPv4
// address; a number with an optional unit is a lease time; "infinite"
// and "ignore" are keywords; anything else is the host name.
func parseDHCPHost(v value) (DHCPHost, error) { return parseDHCPHostIn(v, nil) }

// parseDHCPHostIn is parseDHCPHost taking small allocations from a (nil:
// allocated one by one), for a hosts file's many lines.
func parseDHCPHostIn(v value, a *hostArena) (DHCPHost, error) {
	var h DHCPHost
	// The fields as v.split(',') gives them, one at a time.
	for rest, more := v, true; more; {
		var f value
		f, rest, more = rest.cut(',')
		text := f.text
		switch {
		case text == "":
			// dnsmasq skips empty fields
		case hasUnquoted(f, ':'):
			if err := h.colonField(f, a); err != nil {
				return DHCPHost{}, err
			}
		case strings.Contains(text, "."):
			a, ok := parseIPv4(text)
			switch {
			case ok && h.Addr.IsValid():
				return DHCPHost{}, fmt.Errorf("more than one IPv4 address (%s and %s)", h.Addr, a)
			case ok:
				h.Addr = a
			case onlyDigitsAndDots(text):
				return DHCPHost{}, fmt.Errorf("%q is not an IPv4 address", text)
			default:
				if err := h.setName(text); err != nil {
					return DHCPHost{}, err
				}
			}
		case isLeaseTimeText(text):
			l, err := parseLeaseTime(text)
			if err != nil {
				return DHCPHost{}, err
			}
			h.Lease = l
		case text == "infinite":
			h.Lease = LeaseInfinite
		case text == "ignore":
			h.Ignore = true
		default:
			if err := h.setName(text); err != nil {
				return DHCPHost{}, err
			}
		}
	}
	if len(h.HWAddrs) == 0 && h.ClientID == nil && h.Name == "" {
		return DHCPHost{}, errors.New("a dhcp-host needs a hardware address, an id:<client-id> or a host name to match")
	}
	return h, nil
}

// colonField handles a dhcp-host field that contains a colon.
func (h *DHCPHost) colonField(f value, a *hostArena) error {
	text := f.text
	switch {
	case hasPrefixFold(text, "id:"):
		id := f.slice(3, len(text))
		switch {
		case id.text == "*":
			h.IgnoreClientID = true
			return nil
		case id.text == "":
			return errors.New("empty client identifier in id:<client-id>")
		case h.ClientID != nil:
			return errors.New("more than one id:<client-id>")
		case hasUnquoted(id, ':'):
			b, err := parseClientIDHex(id.text)
			if err != nil {
				return err
			}
			h.ClientID = b
		default:
			h.ClientID = []byte(id.text)
		}
		if len(h.ClientID) > maxClientID {
			return fmt.Errorf("client identifier longer than %d bytes", maxClientID)
		}
	case strings.HasPrefix(text, "set:") || strings.HasPrefix(text, "net:"):
		if err := checkTag(text[4:], true); err != nil {
			return err
		}
		h.SetTags = append(h.SetTags, text[4:])
	case strings.HasPrefix(text, "tag:"):
		if err := checkTag(text[4:], false); err != nil {
			return err
		}
		h.Tags = append(h.Tags, text[4:])
	case strings.HasPrefix(text, "["):
		return fmt.Errorf("IPv6 address %s: %w", text, dhcpopts.ErrNotSupportedV6)
	default:
		hw, err := parseHWAddrIn(text, true, a)
		if err != nil {
			return err
		}
		if h.HWAddrs == nil {
			h.HWAddrs = a.hwAddrs()
		}
		h.HWAddrs = append(h.HWAddrs, hw)
	}
	return nil
}

// hasPrefixFold reports whether strings.ToLower(s) starts with the
// lower-case ASCII prefix, without lowering all of s (which allocates
// for every upper-case MAC address of a hosts file).
func hasPrefixFold(s, prefix string) bool {
	for i := 0; i < len(prefix) && i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			// Go lowers the Turkish dotted I to an ASCII i: "İD:x" is
			// read as id:, its identifier cut at byte 3 as it always was.
			return strings.HasPrefix(strings.ToLower(s), prefix)
		}
	}
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// isLeaseTimeText reports whether a dhcp-host field is a lease time: a
// decimal number, with one unit letter if it is longer than one
// character (as in dnsmasq, "h" alone is a host name).
func isLeaseTimeText(s string) bool {
	digits := s
	if len(s) > 1 && strings.ContainsRune("wWdDhHmMsS", rune(s[len(s)-1])) {
		digits = s[:len(s)-1]
	}
	return digits != "" && strings.Trim(digits, "0123456789") == ""
}

// setName sets the host name of a dhcp-host: a legal host name, with an
// optional domain.
func (h *DHCPHost) setName(s string) error {
	if h.Name != "" {
		// dnsmasq 2.90 silently keeps the last name.
		return fmt.Errorf("more than one host name (%q and %q)", h.Name, s)
	}
	name, domain, err := splitHostName(s)
	if err != nil {
		return err
	}
	h.Name, h.Domain = name, domain
	return nil
}

// splitHostName checks a DHCP host name as dnsmasq's legal_hostname does
// (letters, digits, '-' and '_', not starting with '-' or '_') and splits
// off the domain, which must be a valid domain name.
func splitHostName(s string) (name, domain string, err error) {
	full := strings.ToLower(strings.TrimSuffix(s, "."))
	if full == "" || len(full) > 253 {
		return "", "", fmt.Errorf("bad DHCP host name %q", s)
	}
	name, domain, _ = strings.Cut(full, ".")
	if strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", "", fmt.Errorf("bad DHCP host name %q: bad domain", s)
	}
	if err := checkHostLabel(name); err != nil {
		return "", "", fmt.Errorf("bad DHCP host name %q: %w", s, err)
	}
	if domain != "" {
		if _, err := dhcpopts.CanonicalDomain(domain); err != nil {
			return "", "", fmt.Errorf("bad DHCP host name %q: bad domain", s)
		}
	}
	return name, domain, nil
}

// checkHostLabel accepts one host name label.
func checkHostLabel(l string) error {
	if l == "" || len(l) > 63 {
		return errors.New("empty or over-long label")
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return fmt.Errorf("character %q", c)
		}
	}
	return nil
}

// FQDN is the host's full name: Name, with Domain if it has one.
func (h DHCPHost) FQDN() string {
	if h.Domain == "" {
		return h.Name
	}
	return h.Name + "." + h.Domain
}

// hostFields prints a DHCPHost in the form parseDHCPHost reads.
func hostFields(h DHCPHost) []string {
	var f []string
	for _, hw := range h.HWAddrs {
		f = append(f, hw.String())
	}
	if h.ClientID != nil {
		f = append(f, "id:"+clientIDText(h.ClientID))
	}
	if h.IgnoreClientID {
		f = append(f, "id:*")
	}
	for _, t := range h.SetTags {
		f = append(f, "set:"+t)
	}
	for _, t := range h.Tags {
		f = append(f, "tag:"+t)
	}
	if h.Addr.IsValid() {
		f = append(f, h.Addr.String())
	}
	if h.Name != "" {
		n := h.FQDN()
		// A bare name that reads as a lease time or a keyword keeps a
		// final dot, which makes it a name again when parsed.
		if h.Domain == "" && (isLeaseTimeText(n) || n == "infinite" || n == "ignore") {
			n += "."
		}
		f = append(f, n)
	}
	if h.Lease != 0 {
		f = append(f, h.Lease.String())
	}
	if h.Ignore {
		f = append(f, "ignore")
	}
	return f
}

// clientIDText writes a client id as text when that reads back the same,
// else in hex (with a final ':' for one byte, which would read as text).
func clientIDText(id []byte) string {
	text := len(id) > 0 && id[0] != '*'
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._+/=@-", c) >= 0) {
			text = false
		}
	}
	if text {
		return string(id)
	}
	parts := make([]string, len(id))
	for i, c := range id {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	s := strings.Join(parts, ":")
	if len(id) == 1 {
		s += ":"
	}
	return s
}
