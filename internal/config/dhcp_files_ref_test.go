package config

// The dhcp-hostsfile reader as it was before it was made fast (commit
// 7b5c959), kept as the reference the fast one must agree with
// (TestHostsReaderSameAsReference, FuzzReadDHCPHostsSame).

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/moatdns/moat/internal/dhcpopts"
)

func refReadDHCPHosts(r io.Reader, name string, existing []DHCPHost) ([]DHCPHost, []error, error) {
	taken := map[[4]byte]bool{}
	for _, h := range existing {
		if h.Addr.IsValid() {
			taken[h.Addr.As4()] = true
		}
	}
	var hosts []DHCPHost
	var errs []error
	err := refEachLine(r, name, func(n int, line string) {
		text, quoted, err := lexLine(line)
		if err != nil {
			errs = append(errs, &Error{File: name, Line: n, Option: "dhcp-host", Msg: err.Error()})
			return
		}
		if text == "" {
			return
		}
		h, err := refParseDHCPHost(value{text: text, quoted: quoted, given: true})
		if err == nil && h.Addr.IsValid() && taken[h.Addr.As4()] {
			err = fmt.Errorf("duplicate dhcp-host IP address %s", h.Addr)
		}
		if err != nil {
			errs = append(errs, &Error{File: name, Line: n, Option: "dhcp-host", Msg: err.Error()})
			return
		}
		if h.Addr.IsValid() {
			taken[h.Addr.As4()] = true
		}
		hosts = append(hosts, h)
	}, &errs)
	return hosts, errs, err
}

func refEachLine(r io.Reader, name string, fn func(n int, line string), errs *[]error) error {
	sc := bufio.NewScanner(io.LimitReader(r, int64(hostsFileLimit)+1))
	sc.Buffer(make([]byte, 4096), hostsFileLimit+1)
	total := 0
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		total += len(line) + 1
		if total > hostsFileLimit {
			return fmt.Errorf("%s: larger than %d bytes", name, hostsFileLimit)
		}
		switch {
		case len(line) > maxLineBytes:
			*errs = append(*errs, &Error{File: name, Line: n, Msg: fmt.Sprintf("line is longer than %d bytes", maxLineBytes)})
			continue
		case strings.IndexByte(line, 0) >= 0:
			*errs = append(*errs, &Error{File: name, Line: n, Msg: "line contains a NUL byte"})
			continue
		}
		fn(n, line)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s: larger than %d bytes", name, hostsFileLimit)
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

func refParseHWAddr(s string, wild bool) (HWAddr, error) {
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
	anyWild := false
	for _, group := range strings.FieldsFunc(rest, func(r rune) bool { return r == ':' || r == ' ' }) {
		if group == "*" && wild {
			h.Addr = append(h.Addr, 0)
			h.Wild = append(h.Wild, true)
			anyWild = true
			continue
		}
		for i := 0; i < len(group); i += 2 {
			b, err := strconv.ParseUint(group[i:min(i+2, len(group))], 16, 8)
			if err != nil {
				return HWAddr{}, fmt.Errorf("bad hex constant %q", s)
			}
			h.Addr = append(h.Addr, byte(b))
			h.Wild = append(h.Wild, false)
		}
	}
	switch {
	case len(h.Addr) == 0:
		return HWAddr{}, fmt.Errorf("bad hex constant %q: no bytes", s)
	case len(h.Addr) > maxHWAddr:
		return HWAddr{}, fmt.Errorf("bad hex constant %q: more than %d bytes", s, maxHWAddr)
	}
	if !anyWild {
		h.Wild = nil
	}
	return h, nil
}

func refParseDHCPHost(v value) (DHCPHost, error) {
	var h DHCPHost
	for _, f := range v.split(',') {
		text := f.text
		switch {
		case text == "":
			// dnsmasq skips empty fields
		case hasUnquoted(f, ':'):
			if err := refColonField(&h, f); err != nil {
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

func refColonField(h *DHCPHost, f value) error {
	text := f.text
	switch lower := strings.ToLower(text); {
	case strings.HasPrefix(lower, "id:"):
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
		hw, err := refParseHWAddr(text, true)
		if err != nil {
			return err
		}
		h.HWAddrs = append(h.HWAddrs, hw)
	}
	return nil
}

func refDHCPFileHosts(configured []DHCPHost, hostsFiles []DHCPFileText, ethers *DHCPFileText) ([]DHCPHost, []error) {
	var hosts []DHCPHost
	var problems []error
	existing := configured
	for _, f := range hostsFiles {
		hs, errs, err := refReadDHCPHosts(strings.NewReader(f.Text), f.Name, existing)
		problems = append(problems, errs...)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		hosts = append(hosts, hs...)
		existing = append(existing[:len(existing):len(existing)], hs...)
	}
	if ethers != nil {
		hs, errs, err := ReadEthers(strings.NewReader(ethers.Text), ethers.Name)
		problems = append(problems, errs...)
		if err != nil {
			problems = append(problems, err)
		} else {
			hosts = append(hosts, hs...)
		}
	}
	return hosts, problems
}
