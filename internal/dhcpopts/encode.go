package dhcpopts

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Context says where an option value goes; dnsmasq reads and limits a
// value slightly differently in each.
type Context uint8

const (
	TopLevel Context = iota // an ordinary option
	Vendor                  // vendor:<class>: a sub-option of option 43
	Encap                   // encap:<option>: a sub-option of that option
	VIEncap                 // vi-encap:<enterprise>: RFC 3925 (option 125)
	Match                   // the value of a dhcp-match
)

// MaxLen is the longest value dnsmasq accepts in a context: an option
// carries at most 255 bytes, a sub-option loses two to its own header,
// and an RFC 3925 one five more.
func (c Context) MaxLen() int {
	switch c {
	case Vendor, Encap:
		return 253
	case VIEncap:
		return 250
	}
	return 255
}

// Value is the text of an option value as the configuration parser read
// it: everything after the option number, commas included.
type Value struct {
	Text string
	// Quoted marks, per byte of Text, what stood inside double quotes;
	// nil when nothing did. dnsmasq "hides" quoted digits, hex letters,
	// spaces, dots, colons and commas, so a value with quoted characters
	// is a string (the documented way to send "1.2.3.4" as text).
	Quoted []bool
}

// PlainValue is a Value with nothing quoted.
func PlainValue(s string) Value { return Value{Text: s} }

func (v Value) quoted(i int) bool { return v.Quoted != nil && i < len(v.Quoted) && v.Quoted[i] }

// anyQuoted reports whether some byte of v was quoted.
func (v Value) anyQuoted() bool {
	for i := range v.Text {
		if v.quoted(i) {
			return true
		}
	}
	return false
}

// Kind says how a value was read.
type Kind uint8

const (
	KindEmpty    Kind = iota // no value: the option is sent with no data
	KindAddrs                // IPv4 addresses, 4 bytes each
	KindPrefixes             // addresses with /prefix descriptors (RFC 3442), or option 120's form; sent exactly as given
	KindHex                  // colon-separated hex bytes
	KindDecimal              // a number of 1, 2 or 4 bytes, big-endian
	KindTime                 // seconds, 4 bytes
	KindString               // text, without a terminating NUL
	KindDomains              // domain names in RFC 1035 format, compressed as dnsmasq does
)

var kindNames = [...]string{"empty", "addresses", "prefixes", "hex", "decimal", "time", "string", "domains"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(?)"
}

// Encoded is an option value ready for the wire.
type Encoded struct {
	Kind Kind
	Data []byte
	// Wild marks, per byte of Data, the "*" bytes of a dhcp-match hex
	// value, which match anything; nil when there are none.
	Wild []bool
	// Substitute: a top-level address list, in which 0.0.0.0 means "the
	// address of the server on the client's network" (see WithServer).
	Substitute bool
}

// Errors for values dnsmasq itself rejects; the texts are dnsmasq's.
var (
	ErrBadAddress = errors.New("bad IP address")
	ErrTooLong    = errors.New("dhcp-option too long")
)

// Encode turns the textual value of option code (of type typ: TypeOf(code)
// for an option given by number at the top level or by name, Unknown for
// a numbered sub-option) into wire bytes, deciding what the value is the
// way dnsmasq 2.90's parse_dhcp_opt does:
//
//   - a known type decides: addresses, a name, a domain list, a time
//     (3600, 45m, 1h, 2d, 1w), or a number of the option's size;
//   - otherwise hex bytes ("01:02:ff", at least one colon), a decimal
//     number ("-5", "1500"; 1, 2 or 4 bytes by magnitude, or as forced by
//     a final b, s or i), dotted-quad addresses with optional /prefix
//     descriptors, or else a text string;
//   - any quoted character makes the value a string.
//
// Where dnsmasq silently sends something other than what was written
// (numbers too big for the option, 0-padded hex runs, a string for a
// numeric option, empty names in a domain list), Encode returns an error.
func Encode(code uint8, typ Type, ctx Context, v Value) (Encoded, error) {
	enc, err := encode(code, typ, ctx, v)
	if err != nil {
		return Encoded{}, err
	}
	if len(enc.Data) > ctx.MaxLen() {
		return Encoded{}, fmt.Errorf("%w (%d bytes, at most %d)", ErrTooLong, len(enc.Data), ctx.MaxLen())
	}
	return enc, nil
}

func encode(code uint8, typ Type, ctx Context, v Value) (Encoded, error) {
	if v.Text == "" {
		return Encoded{Kind: KindEmpty}, nil
	}
	t := characterize(v, ctx == Match)
	// Known types override what the value looks like.
	switch typ {
	case Addrs:
		if !t.addr || t.dots == 0 {
			return Encoded{}, fmt.Errorf("%w: %q is not a list of IPv4 addresses", ErrBadAddress, v.Text)
		}
		return encodeAddrs(code, typ, ctx, v.Text)
	case Name, Domains:
		return encodeString(code, typ, ctx, v)
	case Time:
		if !t.foundDig || v.anyQuoted() {
			return Encoded{}, fmt.Errorf("%q is not a time (seconds, or a number followed by s, m, h, d or w)", v.Text)
		}
		n, err := ParseSeconds(v.Text)
		if err != nil {
			return Encoded{}, err
		}
		return Encoded{Kind: KindTime, Data: bigEndian(int64(n), 4)}, nil
	}
	switch {
	case t.hex && t.digs > 1:
		return encodeHex(v.Text, ctx == Match)
	case t.dec:
		return encodeDecimal(typ, t)
	case typ.Size() != 0:
		return Encoded{}, fmt.Errorf("%q is not a number (option %d takes a %d-byte %s)", v.Text, code, typ.Size(), typ)
	case t.addr:
		return encodeAddrs(code, typ, ctx, v.Text)
	}
	return encodeString(code, typ, ctx, v)
}

// traits is dnsmasq's characterisation of a value: what it could be.
type traits struct {
	addr, hex, dec bool
	digs, dots     int
	foundDig       bool
	lenChar        byte   // b, s or i: the size of a decimal value
	number         string // the text without lenChar
}

func isHexLetter(c byte) bool { return c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// characterize walks the value once, as dnsmasq does, clearing what each
// character rules out.
func characterize(v Value, match bool) traits {
	t := traits{addr: true, hex: true, dec: true, digs: 1, number: v.Text}
	s := v.Text
	for i := 0; i < len(s); i++ {
		c := s[i]
		if v.quoted(i) {
			// A hidden metacharacter: neither digit, hex, separator
			// nor length letter.
			t.addr, t.dec, t.hex = false, false, false
			continue
		}
		switch {
		case c == ',':
			t.dec, t.hex = false, false
		case c == ':':
			t.digs++
			t.dec, t.addr = false, false
		case c == '/':
			t.dec, t.hex = false, false
			if i == 0 { // a leading '/' is a path name
				t.addr = false
			}
		case c == '.':
			t.dec, t.hex = false, false
			t.dots++
		case c == '-':
			t.hex, t.addr = false, false
		case c == ' ':
			t.dec, t.hex = false, false
		case c >= '0' && c <= '9':
			t.foundDig = true
		default:
			t.addr = false
			if i == len(s)-1 && t.dec && (c == 'b' || c == 's' || c == 'i') {
				t.lenChar = c
				t.number = s[:i]
			} else {
				t.dec = false
			}
			if !isHexLetter(c) && !(c == '*' && match) {
				t.hex = false
			}
		}
	}
	if !t.foundDig {
		t.dec, t.addr = false, false
	}
	if !t.dec {
		t.lenChar, t.number = 0, s
	}
	return t
}

// encodeDecimal writes a number in the option's size, or in the smallest
// of 1, 2 and 4 bytes that holds it (negative numbers take 4), unless a
// length letter says otherwise.
func encodeDecimal(typ Type, t traits) (Encoded, error) {
	n, err := parseSigned(t.number)
	if err != nil {
		return Encoded{}, err
	}
	size := typ.Size()
	switch {
	case t.lenChar == 'b':
		size = 1
	case t.lenChar == 's':
		size = 2
	case t.lenChar == 'i':
		size = 4
	case size != 0:
	case n < 0 || n > 0xffff:
		size = 4
	case n > 0xff:
		size = 2
	default:
		size = 1
	}
	lo, hi := -int64(1)<<(8*size-1), int64(1)<<(8*size)-1
	switch typ {
	case Byte, Uint8, Uint16, Uint32:
		lo = 0
	case Int32:
		hi = 1<<31 - 1
	}
	if n < lo || n > hi {
		return Encoded{}, fmt.Errorf("%s is out of range for %d bytes (%d to %d)", t.number, size, lo, hi)
	}
	return Encoded{Kind: KindDecimal, Data: bigEndian(n, size)}, nil
}

// parseSigned reads what dnsmasq's atoi reads, but all of it: an optional
// '-' and decimal digits.
func parseSigned(s string) (int64, error) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(digits) > 12 {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("%q is not a number", s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

func bigEndian(n int64, size int) []byte {
	out := make([]byte, size)
	for i := 0; i < size; i++ {
		out[i] = byte(n >> (8 * (size - 1 - i)))
	}
	return out
}

// ParseSeconds reads dnsmasq's time syntax, shared by option values and
// lease times: decimal digits followed by an optional unit letter s, m,
// h, d or w (either case). The result must fit in 32 bits.
func ParseSeconds(s string) (uint32, error) {
	digits, mult := s, uint64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'w', 'W':
			mult = 7 * 24 * 3600
		case 'd', 'D':
			mult = 24 * 3600
		case 'h', 'H':
			mult = 3600
		case 'm', 'M':
			mult = 60
		case 's', 'S':
		default:
			mult = 0
		}
		if mult != 0 {
			digits = s[:n-1]
		} else {
			mult = 1
		}
	}
	if digits == "" || len(digits) > 10 {
		return 0, fmt.Errorf("%q is not a time (seconds, or a number followed by s, m, h, d or w)", s)
	}
	var n uint64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a time (seconds, or a number followed by s, m, h, d or w)", s)
		}
		n = n*10 + uint64(c-'0')
	}
	if n*mult > 0xffffffff {
		return 0, fmt.Errorf("%q is too long a time (at most 4294967295 seconds)", s)
	}
	return uint32(n * mult), nil
}

// encodeHex reads colon-separated hex bytes; in dhcp-match a "*" group
// is a wildcard byte.
func encodeHex(s string, match bool) (Encoded, error) {
	var data []byte
	var wild []bool
	anyWild := false
	for _, group := range strings.Split(s, ":") {
		switch {
		case group == "" || len(group) > 2:
			// dnsmasq sends as many bytes as there are groups, whatever
			// they hold: "0102:0304" goes out as 01 02, "01::02" with a
			// stray byte.
			return Encoded{}, fmt.Errorf("bad hex constant %q: write one or two hex digits between each pair of colons", s)
		case group == "*" && match:
			data = append(data, 0)
			wild = append(wild, true)
			anyWild = true
			continue
		case strings.ContainsRune(group, '*'):
			return Encoded{}, fmt.Errorf("bad hex constant %q: '*' must stand alone between colons", s)
		}
		b, err := strconv.ParseUint(group, 16, 8)
		if err != nil {
			return Encoded{}, fmt.Errorf("bad hex constant %q", s)
		}
		data = append(data, byte(b))
		wild = append(wild, false)
	}
	if len(data) == 0 {
		return Encoded{}, fmt.Errorf("bad hex constant %q: no bytes", s)
	}
	enc := Encoded{Kind: KindHex, Data: data}
	if anyWild {
		enc.Wild = wild
	}
	return enc, nil
}

// encodeAddrs reads dotted quads, each optionally followed by /<bits>,
// which dnsmasq encodes as an RFC 3442 descriptor (the prefix length,
// then the significant octets). At the top level, option 120 (SIP
// servers, RFC 3361) starts with an encoding byte of 1.
func encodeAddrs(code uint8, typ Type, ctx Context, s string) (Encoded, error) {
	enc := Encoded{Kind: KindAddrs}
	if ctx == TopLevel && code == CodeSIPServer {
		enc.Kind = KindPrefixes
		enc.Data = append(enc.Data, 1)
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.Trim(part, " ")
		addrText, bitsText, hasBits := strings.Cut(part, "/")
		a, err := netip.ParseAddr(strings.TrimRight(addrText, " "))
		if err != nil || !a.Is4() {
			return Encoded{}, fmt.Errorf("bad IPv4 address %q", part)
		}
		b := a.As4()
		if !hasBits {
			enc.Data = append(enc.Data, b[:]...)
			continue
		}
		if typ == Addrs {
			return Encoded{}, fmt.Errorf("%q: a /prefix descriptor does not belong in option %d (a plain address list)", part, code)
		}
		bits, err := strconv.ParseUint(strings.TrimLeft(bitsText, " "), 10, 8)
		if err != nil || bits > 32 {
			return Encoded{}, fmt.Errorf("%q: the prefix length must be 0 to 32", part)
		}
		enc.Kind = KindPrefixes
		enc.Data = append(enc.Data, byte(bits))
		enc.Data = append(enc.Data, b[:(bits+7)/8]...)
	}
	// dnsmasq replaces 0.0.0.0 by its own address only in plain
	// top-level address lists.
	enc.Substitute = enc.Kind == KindAddrs && ctx == TopLevel
	return enc, nil
}

// encodeString sends text as it is, except for the domain lists of
// options 119 and 120 at the top level, which dnsmasq encodes in RFC 1035
// format (RFC 3397, RFC 3361).
func encodeString(code uint8, typ Type, ctx Context, v Value) (Encoded, error) {
	if ctx == TopLevel && (code == CodeDomainSearch || code == CodeSIPServer) {
		names, err := splitNames(v)
		if err != nil {
			return Encoded{}, err
		}
		header := 0
		if code == CodeSIPServer {
			header = 1 // RFC 3361 encoding byte: 0 for names
		}
		data, err := encodeDomainList(names, header)
		if err != nil {
			return Encoded{}, err
		}
		return Encoded{Kind: KindDomains, Data: data}, nil
	}
	return Encoded{Kind: KindString, Data: []byte(v.Text)}, nil
}

// splitNames splits a domain list at unquoted commas, trimming unquoted
// spaces as dnsmasq's split does.
func splitNames(v Value) ([]string, error) {
	var names []string
	start := 0
	for i := 0; i <= len(v.Text); i++ {
		if i < len(v.Text) && (v.Text[i] != ',' || v.quoted(i)) {
			continue
		}
		from, to := start, i
		for from < to && v.Text[from] == ' ' && !v.quoted(from) {
			from++
		}
		for to > from && v.Text[to-1] == ' ' && !v.quoted(to-1) {
			to--
		}
		if from == to {
			return nil, fmt.Errorf("empty name in domain list %q", v.Text)
		}
		names = append(names, v.Text[from:to])
		start = i + 1
	}
	return names, nil
}
