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
	return newHostsReader(existing, 0).read(r, name, 0)
}

// hostsReader reads dhcp-hostsfiles, one after the other, into hosts
// whose addresses must not repeat. It is built for big files (100,000
// hosts and more, which dhcpd and the master parse at start and on
// SIGHUP): a line without quotes or comments is used as it is, without
// lexing it into a copy; the small slices of the hosts come from shared
// blocks (hostArena); and the caller who knows the file's size sizes the
// list and the address index once.
type hostsReader struct {
	taken map[[4]byte]bool // the addresses of the hosts so far
	arena hostArena
}

// newHostsReader starts with the addresses of existing taken, with room
// for about hint more.
func newHostsReader(existing []DHCPHost, hint int) *hostsReader {
	hr := &hostsReader{taken: make(map[[4]byte]bool, len(existing)+min(hint, maxHintBlock))}
	for _, h := range existing {
		if h.Addr.IsValid() {
			hr.taken[h.Addr.As4()] = true
		}
	}
	return hr
}

// read reads one file, as ReadDHCPHosts does; hint is about how many
// lines it has (0: unknown). When reading r fails its hosts are not
// taken: the file counts as not read at all.
func (hr *hostsReader) read(r io.Reader, name string, hint int) ([]DHCPHost, []error, error) {
	return hr.readLines(name, hint, func(fn func(int, string), errs *[]error) error {
		return eachLine(r, name, fn, errs)
	})
}

// readText reads one file's text, as read does its reader; the hosts'
// strings are substrings of text.
func (hr *hostsReader) readText(text, name string, hint int) ([]DHCPHost, []error, error) {
	return hr.readLines(name, hint, func(fn func(int, string), errs *[]error) error {
		return eachTextLine(text, name, fn, errs)
	})
}

// readLines is read and readText: lines calls its fn for each line.
func (hr *hostsReader) readLines(name string, hint int, lines func(fn func(int, string), errs *[]error) error) ([]DHCPHost, []error, error) {
	hosts := hostList{hint: hint}
	var errs []error
	err := lines(func(n int, line string) {
		text, quoted, err := lexHostsLine(line)
		if err != nil {
			errs = append(errs, &Error{File: name, Line: n, Option: "dhcp-host", Msg: err.Error()})
			return
		}
		if text == "" {
			return
		}
		h, err := parseDHCPHostIn(value{text: text, quoted: quoted, given: true}, &hr.arena)
		if err == nil && h.Addr.IsValid() && hr.taken[h.Addr.As4()] {
			err = fmt.Errorf("duplicate dhcp-host IP address %s", h.Addr)
		}
		if err != nil {
			errs = append(errs, &Error{File: name, Line: n, Option: "dhcp-host", Msg: err.Error()})
			return
		}
		if h.Addr.IsValid() {
			hr.taken[h.Addr.As4()] = true
		}
		hosts.add(h)
	}, &errs)
	all := hosts.slice()
	if err != nil {
		for _, h := range all {
			if h.Addr.IsValid() {
				delete(hr.taken, h.Addr.As4()) // the file's own: nobody had them before
			}
		}
	}
	return all, errs, err
}

// hostList collects hosts in blocks and puts them in one slice at the
// end: a slice of 100,000 DHCPHosts grown by append copies them again
// and again (each copy of their pointers paying the garbage collector's
// write barrier), which took longer than parsing them.
//
// hint, when the caller knows it, is about how many hosts to expect
// (the file's lines): the first block holds them all, and then the end
// copies nothing. It is bounded, as a file of blank lines or comments
// has many lines and no host.
type hostList struct {
	hint   int
	blocks [][]DHCPHost
	n      int
}

// Block sizes: the first small for the usual short file (unless a hint
// says otherwise), none bigger than maxHostBlock but a hinted first.
const (
	firstHostBlock = 16
	maxHostBlock   = 4096
	maxHintBlock   = 1 << 17 // 21 MiB of DHCPHosts at most, set aside at once
)

func (l *hostList) add(h DHCPHost) {
	k := len(l.blocks)
	if k == 0 || len(l.blocks[k-1]) == cap(l.blocks[k-1]) {
		size := max(firstHostBlock, min(l.hint, maxHintBlock))
		if k > 0 {
			size = min(2*cap(l.blocks[k-1]), maxHostBlock)
		}
		l.blocks = append(l.blocks, make([]DHCPHost, 0, size))
		k++
	}
	l.blocks[k-1] = append(l.blocks[k-1], h)
	l.n++
}

// slice is every host in order; nil when there is none.
func (l *hostList) slice() []DHCPHost {
	switch len(l.blocks) {
	case 0:
		return nil
	case 1:
		return l.blocks[0]
	}
	out := make([]DHCPHost, 0, l.n)
	for _, b := range l.blocks {
		out = append(out, b...)
	}
	return out
}

// lexHostsLine is lexLine, without the copy for the usual line: one
// with no quote, no comment and no white space but ' ' lexes to itself,
// less the spaces at its ends.
func lexHostsLine(line string) (text string, quoted []bool, err error) {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '"', '#', '\t', '\n', '\v', '\f', '\r':
			return lexLine(line)
		}
	}
	return strings.Trim(line, " "), nil, nil
}

// hostArena hands out the small slices of many hosts (a MAC address's
// bytes, the list of one HWAddr) from shared blocks: one allocation per
// few hundred hosts rather than two per host. Each slice's capacity is
// its length, so an append to it copies rather than overwrite a
// neighbour's. A nil *hostArena allocates each slice by itself.
type hostArena struct {
	byteBlock []byte
	hwBlock   []HWAddr
}

// Block sizes: big enough to make the allocations rare, small enough
// that a short file wastes little.
const (
	arenaBytes   = 4096
	arenaHWAddrs = 128
)

// bytes is a slice of n bytes.
func (a *hostArena) bytes(n int) []byte {
	if a == nil || n > arenaBytes/16 {
		return make([]byte, n)
	}
	if len(a.byteBlock) < n {
		a.byteBlock = make([]byte, arenaBytes)
	}
	b := a.byteBlock[:n:n]
	a.byteBlock = a.byteBlock[n:]
	return b
}

// hwAddrs is an empty list with room for one HWAddr (nil without an
// arena).
func (a *hostArena) hwAddrs() []HWAddr {
	if a == nil {
		return nil
	}
	if len(a.hwBlock) == 0 {
		a.hwBlock = make([]HWAddr, arenaHWAddrs)
	}
	l := a.hwBlock[:0:1]
	a.hwBlock = a.hwBlock[1:]
	return l
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
		if err := oneLine(n, sc.Text(), name, &total, fn, errs); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s: larger than %d bytes", name, hostsFileLimit)
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// eachTextLine is eachLine over strings.NewReader(text), with the same
// lines, errors and limit, but the lines are substrings of text rather
// than the copies bufio.Scanner makes (one allocation per line of a
// 100,000-line file). A text over the limit goes the reader's way.
func eachTextLine(text, name string, fn func(n int, line string), errs *[]error) error {
	if len(text) > hostsFileLimit {
		return eachLine(strings.NewReader(text), name, fn, errs)
	}
	total := 0
	for n := 1; len(text) > 0; n++ {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		line = strings.TrimSuffix(line, "\r") // as bufio.ScanLines drops it
		if err := oneLine(n, line, name, &total, fn, errs); err != nil {
			return err
		}
	}
	return nil
}

// oneLine counts line n into total, fails when the file is over the
// limit, and calls fn for it unless it is over-long or holds a NUL
// byte, which go to errs.
func oneLine(n int, line, name string, total *int, fn func(n int, line string), errs *[]error) error {
	*total += len(line) + 1
	if *total > hostsFileLimit {
		return fmt.Errorf("%s: larger than %d bytes", name, hostsFileLimit)
	}
	switch {
	case len(line) > maxLineBytes:
		*errs = append(*errs, &Error{File: name, Line: n, Msg: fmt.Sprintf("line is longer than %d bytes", maxLineBytes)})
	case strings.IndexByte(line, 0) >= 0:
		*errs = append(*errs, &Error{File: name, Line: n, Msg: "line contains a NUL byte"})
	default:
		fn(n, line)
	}
	return nil
}
