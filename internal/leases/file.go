package leases

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// File is the content of a dnsmasq leases file (/var/lib/misc/dnsmasq.leases):
// one IPv4 lease per line,
//
//	<expires> <hwaddr> <ipv4> <hostname|*> <client-id|*>
//
// then, when there are DHCPv6 leases, a "duid <server duid>" line and
// their lines. moat keeps the DHCPv6 part as it found it.
type File struct {
	Leases []Lease
	// V6 holds the "duid" line and the DHCPv6 lease lines, verbatim and
	// in order, to be written back after the IPv4 leases.
	V6 []string
}

// maxLeaseFileLine bounds one line: a 255-byte client-id in hex is 764
// characters.
const maxLeaseFileLine = 2048

// ReadFile reads a leases file. As dnsmasq does, a line it cannot read is
// skipped and reported: the errors name the line ("line 3: ..."). The error
// return is for reading r itself.
func ReadFile(r io.Reader) (File, []error, error) {
	var f File
	var bad []error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), maxLeaseFileLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
			continue
		case fields[0] == "duid" && len(fields) == 2:
			f.V6 = append(f.V6, line)
			continue
		case len(fields) != 5:
			bad = append(bad, fmt.Errorf("line %d: %d fields, want 5 (expires, MAC, address, name, client-id)", n, len(fields)))
			continue
		}
		if a, err := netip.ParseAddr(fields[2]); err == nil && a.Is6() {
			f.V6 = append(f.V6, line)
			continue
		}
		l, err := parseLeaseLine(fields)
		if err != nil {
			bad = append(bad, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		f.Leases = append(f.Leases, l)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return f, bad, fmt.Errorf("leases file: a line is longer than %d bytes", maxLeaseFileLine)
		}
		return f, bad, fmt.Errorf("read leases file: %w", err)
	}
	return f, bad, nil
}

// parseLeaseLine reads the five fields of an IPv4 lease.
func parseLeaseLine(f []string) (Lease, error) {
	var l Lease
	exp, err := strconv.ParseUint(f[0], 10, 63)
	if err != nil {
		return Lease{}, fmt.Errorf("expiry %q is not a number", f[0])
	}
	l.Expires = int64(exp)
	l.HWType, l.HWAddr, err = parseFileHWAddr(f[1])
	if err != nil {
		return Lease{}, err
	}
	a, err := netip.ParseAddr(f[2])
	if err != nil || !a.Is4() {
		return Lease{}, fmt.Errorf("%q is not an IPv4 address", f[2])
	}
	l.Addr = a
	if f[3] != "*" {
		if len(f[3]) > MaxHostname {
			return Lease{}, fmt.Errorf("host name longer than %d bytes", MaxHostname)
		}
		l.Hostname = f[3]
	}
	if f[4] != "*" {
		l.ClientID, err = parseHex(f[4], MaxClientID)
		if err != nil {
			return Lease{}, fmt.Errorf("client-id: %w", err)
		}
	}
	return l, nil
}

// parseFileHWAddr reads "[type-]xx:xx:..." as dnsmasq's lease reader does:
// no type (or type 0 with an address) means Ethernet.
func parseFileHWAddr(s string) (uint8, []byte, error) {
	var typ uint64 = HWEthernet
	explicit := false
	if t, rest, ok := strings.Cut(s, "-"); ok {
		n, err := strconv.ParseUint(t, 16, 8)
		if err != nil {
			return 0, nil, fmt.Errorf("hardware address %q: bad type", s)
		}
		typ, s, explicit = n, rest, true
	}
	addr, err := parseHex(s, MaxHWAddr)
	if err != nil {
		return 0, nil, fmt.Errorf("hardware address: %w", err)
	}
	switch {
	case len(addr) == 0 && !explicit:
		return 0, nil, errors.New("empty hardware address")
	case len(addr) == 0:
		return uint8(typ), nil, nil
	case typ == 0:
		typ = HWEthernet
	}
	return uint8(typ), addr, nil
}

// parseHex reads colon-separated hex as dnsmasq's parse_hex does: empty
// groups skipped, longer runs read two digits at a time.
func parseHex(s string, max int) ([]byte, error) {
	var out []byte
	for _, g := range strings.Split(s, ":") {
		for i := 0; i < len(g); i += 2 {
			b, err := strconv.ParseUint(g[i:min(i+2, len(g))], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("bad hex %q", s)
			}
			out = append(out, byte(b))
		}
	}
	if len(out) > max {
		return nil, fmt.Errorf("%q is longer than %d bytes", s, max)
	}
	return out, nil
}

// WriteFile writes f in dnsmasq's format, byte for byte as dnsmasq's
// lease_update_file does: leases in the order given, then the DHCPv6
// lines. The caller leaves out expired leases (dnsmasq prunes them before
// writing) and syncs the file.
func WriteFile(w io.Writer, f File) error {
	bw := bufio.NewWriter(w)
	var line []byte
	for _, l := range f.Leases {
		line = AppendFileLine(line[:0], l)
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("write leases file: %w", err)
		}
	}
	for _, s := range f.V6 {
		if _, err := bw.WriteString(s + "\n"); err != nil {
			return fmt.Errorf("write leases file: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write leases file: %w", err)
	}
	return nil
}

const hexDigits = "0123456789abcdef"

func appendHexByte(b []byte, c byte) []byte { return append(b, hexDigits[c>>4], hexDigits[c&15]) }

// AppendFileLine appends l's line in dnsmasq's format, newline included.
func AppendFileLine(b []byte, l Lease) []byte {
	b = strconv.AppendInt(b, l.Expires, 10)
	b = append(b, ' ')
	if l.HWType != HWEthernet || len(l.HWAddr) == 0 {
		b = appendHexByte(b, l.HWType)
		b = append(b, '-')
	}
	for i, c := range l.HWAddr {
		if i > 0 {
			b = append(b, ':')
		}
		b = appendHexByte(b, c)
	}
	b = append(b, ' ')
	b = l.Addr.AppendTo(b)
	b = append(b, ' ')
	if l.Hostname != "" {
		b = append(b, l.Hostname...)
	} else {
		b = append(b, '*')
	}
	b = append(b, ' ')
	if len(l.ClientID) == 0 {
		b = append(b, '*')
	}
	for i, c := range l.ClientID {
		if i > 0 {
			b = append(b, ':')
		}
		b = appendHexByte(b, c)
	}
	return append(b, '\n')
}
