package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// hostsFileLimit bounds what ReadDHCPHosts and ReadEthers read, so a
// runaway file cannot exhaust the master's memory (a variable for tests).
var hostsFileLimit = 64 << 20

// ReadDHCPHosts reads a dhcp-hostsfile: one dhcp-host value per line
// (without "dhcp-host="), with the configuration file's quoting and
// comments. As dnsmasq does when it re-reads such a file, a bad line is
// reported and skipped, not fatal: the errors (*Error, with name and the
// line number) come back with the hosts of the good lines. An address
// already given to a host of existing (the configuration's dhcp-host
// lines, or earlier files) or to an earlier line is an error for that
// line. The error return is for reading r itself.
func ReadDHCPHosts(r io.Reader, name string, existing []DHCPHost) ([]DHCPHost, []error, error) {
	taken := map[[4]byte]bool{}
	for _, h := range existing {
		if h.Addr.IsValid() {
			taken[h.Addr.As4()] = true
		}
	}
	var hosts []DHCPHost
	var errs []error
	err := eachLine(r, name, func(n int, line string) {
		text, quoted, err := lexLine(line)
		if err != nil {
			errs = append(errs, &Error{File: name, Line: n, Option: "dhcp-host", Msg: err.Error()})
			return
		}
		if text == "" {
			return
		}
		h, err := parseDHCPHost(value{text: text, quoted: quoted, given: true})
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

// ReadEthers reads /etc/ethers as dnsmasq's read-ethers does: a hardware
// address (6 bytes), white space, then a dotted quad or a host name.
// Lines starting with '#' or '+' (NIS) are skipped. Each good line
// becomes a host matched by that Ethernet address only (IgnoreClientID);
// a bad line, or a second line with the same address or name, is
// reported and skipped. Merging these hosts with dhcp-host lines for the
// same address is the caller's job (dnsmasq adds the ethers data to a
// dhcp-host with that one MAC).
func ReadEthers(r io.Reader, name string) ([]DHCPHost, []error, error) {
	var hosts []DHCPHost
	var errs []error
	seen := map[string]bool{}
	fail := func(n int, format string, a ...any) {
		errs = append(errs, &Error{File: name, Line: n, Msg: fmt.Sprintf(format, a...)})
	}
	err := eachLine(r, name, func(n int, line string) {
		line = strings.TrimRight(line, " \t\r\n\v\f")
		if line == "" || line[0] == '#' || line[0] == '+' {
			return
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			fail(n, "bad line: needs a hardware address and an address or name")
			return
		}
		hw, err := parseHWAddr(fields[0], false)
		if err != nil || len(hw.Addr) != 6 || hw.Type != 0 {
			fail(n, "bad line: %q is not an Ethernet address", fields[0])
			return
		}
		hw.Type = arpEthernet
		h := DHCPHost{HWAddrs: []HWAddr{hw}, IgnoreClientID: true}
		target := strings.Join(fields[1:], " ")
		if onlyDigitsAndDots(target) {
			a, ok := parseIPv4(target)
			if !ok {
				fail(n, "bad address %q", target)
				return
			}
			h.Addr = a
		} else if h.Name, h.Domain, err = splitHostName(target); err != nil {
			fail(n, "bad name %q", target)
			return
		}
		key := h.FQDN()
		if h.Addr.IsValid() {
			key = h.Addr.String()
		}
		if seen[key] {
			fail(n, "duplicate name or IP address %s", key)
			return
		}
		seen[key] = true
		hosts = append(hosts, h)
	}, &errs)
	return hosts, errs, err
}

// arpEthernet is ARPHRD_ETHER.
const arpEthernet = 1

// eachLine calls fn for each line of r (numbered from 1, without its
// "\n"), reporting over-long lines and NUL bytes in errs.
func eachLine(r io.Reader, name string, fn func(n int, line string), errs *[]error) error {
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
