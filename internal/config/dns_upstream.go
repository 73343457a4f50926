package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Upstream policy options (area C): how dnsd chooses among the servers
// and from which local ports it asks them. The server list itself is
// Config.Servers (server.go).

// DNSUpstream holds the upstream options; every field holds the value
// in effect (dnsmasq's defaults when not given).
type DNSUpstream struct {
	StrictOrder bool // strict-order (-o): try servers in configuration order
	AllServers  bool // all-servers: send every query to every server
	// ForwardMax is dns-forward-max (-0): concurrent forwarded queries
	// per server group; default 150. 0 refuses every forwarded query.
	ForwardMax int
	// QueryPort is query-port (-Q): every upstream query leaves from this
	// UDP port; 0 = one port the kernel picks; -1 (default) = a random
	// port per query.
	QueryPort int
	// MinPort and MaxPort (min-port, max-port) bound the random source
	// ports; defaults 1024 and 65535. max-port=0 means the default.
	MinPort, MaxPort int
	// FastRetry is fast-dns-retry's first delay in milliseconds (0 = off:
	// only the built-in failover); FastRetryTotal is how long retries go
	// on, in milliseconds (default 10000).
	FastRetry, FastRetryTotal int
	LoopDetect                bool // dns-loop-detect
	NoPoll                    bool // no-poll (-n): read resolv-file only at start and on SIGHUP
	// ServersFile is servers-file: server= and rev-server= lines the
	// master reads at start and on SIGHUP; "" = none.
	ServersFile string
}

// Defaults of the upstream policy options (dnsmasq 2.90's).
const (
	DefaultForwardMax     = 150
	DefaultMinPort        = 1024
	DefaultMaxPort        = 65535
	DefaultFastRetry      = 1000  // ms, fast-dns-retry with no value
	DefaultFastRetryTotal = 10000 // ms
	// minFastRetry is dnsmasq's lower bound for the first delay.
	minFastRetry = 50
	// maxForwardMax bounds dns-forward-max so one value cannot ask dnsd
	// for unbounded state (dnsmasq takes any int).
	maxForwardMax = 1 << 20
)

// DefaultDNSUpstream is the policy when no option is given.
func DefaultDNSUpstream() DNSUpstream {
	return DNSUpstream{
		ForwardMax:     DefaultForwardMax,
		QueryPort:      -1,
		MinPort:        DefaultMinPort,
		MaxPort:        DefaultMaxPort,
		FastRetryTotal: DefaultFastRetryTotal,
	}
}

func setStrictOrder(p *parser, _ value, _ location) error {
	p.cfg.Upstream.StrictOrder = true
	return nil
}

func setAllServers(p *parser, _ value, _ location) error {
	p.cfg.Upstream.AllServers = true
	return nil
}

func setLoopDetect(p *parser, _ value, _ location) error {
	p.cfg.Upstream.LoopDetect = true
	return nil
}

func setNoPoll(p *parser, _ value, _ location) error {
	p.cfg.Upstream.NoPoll = true
	return nil
}

func setForwardMax(p *parser, v value, _ location) error {
	n, err := parseDecimal(v.text, maxForwardMax, "a number")
	if err != nil {
		return err
	}
	p.cfg.Upstream.ForwardMax = n
	return nil
}

func setQueryPort(p *parser, v value, _ location) error {
	n, err := parseDecimal(v.text, 65535, "a port number")
	if err != nil {
		return err
	}
	p.cfg.Upstream.QueryPort = n
	return nil
}

func setMinPort(p *parser, v value, _ location) error {
	n, err := parseDecimal(v.text, 65535, "a port number")
	if err != nil {
		return err
	}
	p.cfg.Upstream.MinPort = n
	return nil
}

// setMaxPort: dnsmasq reads max-port=0 as "not given".
func setMaxPort(p *parser, v value, _ location) error {
	n, err := parseDecimal(v.text, 65535, "a port number")
	if err != nil {
		return err
	}
	if n == 0 {
		n = DefaultMaxPort
	}
	p.cfg.Upstream.MaxPort = n
	return nil
}

// setFastRetry handles fast-dns-retry[=delay[,total]], both in
// milliseconds; the delay is at least 50, as in dnsmasq. dnsmasq keeps
// the total in whole seconds; moat keeps milliseconds.
func setFastRetry(p *parser, v value, _ location) error {
	pol := &p.cfg.Upstream
	if !v.given || v.text == "" {
		pol.FastRetry, pol.FastRetryTotal = DefaultFastRetry, DefaultFastRetryTotal
		return nil
	}
	delayText, totalText, hasTotal := v.cut(',')
	delay, err := parseDecimal(delayText.text, 1<<30, "a number of milliseconds")
	if err != nil {
		return err
	}
	if delay < minFastRetry {
		return fmt.Errorf("retry delay %dms is below %dms", delay, minFastRetry)
	}
	total := DefaultFastRetryTotal
	if hasTotal && totalText.text != "" {
		if total, err = parseDecimal(totalText.text, 1<<30, "a number of milliseconds"); err != nil {
			return err
		}
	}
	pol.FastRetry, pol.FastRetryTotal = delay, total
	return nil
}

func setServersFile(p *parser, v value, _ location) error {
	if err := checkPath(v.text); err != nil {
		return err
	}
	p.cfg.Upstream.ServersFile = v.text
	return nil
}

// printDNSUpstream prints the policy options that differ from the
// defaults (String's other lines print every setting; these are many and
// rarely used, so only the ones in effect are shown).
func (c *Config) printDNSUpstream(line func(name, val string), flag func(name string, on bool)) {
	u, d := c.Upstream, DefaultDNSUpstream()
	flag("strict-order", u.StrictOrder)
	flag("all-servers", u.AllServers)
	if u.ForwardMax != d.ForwardMax {
		line("dns-forward-max", strconv.Itoa(u.ForwardMax))
	}
	if u.QueryPort >= 0 {
		line("query-port", strconv.Itoa(u.QueryPort))
	}
	if u.MinPort != d.MinPort {
		line("min-port", strconv.Itoa(u.MinPort))
	}
	if u.MaxPort != d.MaxPort {
		line("max-port", strconv.Itoa(u.MaxPort))
	}
	if u.FastRetry != 0 {
		line("fast-dns-retry", strconv.Itoa(u.FastRetry)+","+strconv.Itoa(u.FastRetryTotal))
	}
	flag("dns-loop-detect", u.LoopDetect)
	flag("no-poll", u.NoPoll)
	if u.ServersFile != "" {
		line("servers-file", u.ServersFile)
	}
}

// CheckPorts reports the port-range error dnsmasq reports at start (not
// in --test): max-port below min-port.
func (u DNSUpstream) CheckPorts() error {
	if u.MaxPort < u.MinPort {
		return fmt.Errorf("max-port %d is below min-port %d", u.MaxPort, u.MinPort)
	}
	return nil
}

// errServersFileOption is what a servers-file line with another option
// gets; dnsmasq says "illegal option".
var errServersFileOption = errors.New("only server and rev-server are allowed in a servers-file")

// ParseServersFile parses the text of a servers-file (path names it in
// messages): server= and rev-server= lines, with dnsmasq's file syntax.
// Like dnsmasq, a bad line is skipped and the others still count: it
// returns the servers of the good lines and the errors of the bad ones
// ("file:line: option: what is wrong"), joined; nil when all are good.
func ParseServersFile(path string, data []byte) ([]Server, error) {
	p := &parser{cfg: &Config{}, limit: maxErrors, once: map[*option]onceUse{}}
	p.eachOption(path, string(data), func(at location, name string, v value) {
		if name != "server" && name != "rev-server" {
			p.fail(at, name, errServersFileOption)
			return
		}
		p.fileOption(at, name, v)
	})
	return p.cfg.Servers, errors.Join(p.errs...)
}

// setRevServer handles rev-server=addr[/prefix][,server...]: the same as
// server= for the reverse zones of the prefix (dnsmasq's domain_rev4/6).
// A prefix that does not end on an octet (IPv4) or nibble (IPv6) boundary
// covers several zones, one server= domain each. No server means local
// (answer from local data only); "#" means the standard servers.
func setRevServer(p *parser, v value, at location) error {
	netText, serverText, hasServer := v.trimSpaces().cut(',')
	prefix, domains, err := reverseZones(netText.text)
	if err != nil {
		return err
	}
	srv := Server{Source: at.String(), Domains: domains, RevPrefix: prefix}
	if hasServer {
		if err := srv.setAddress(serverText.text, true); err != nil {
			return err
		}
	}
	p.cfg.Servers = append(p.cfg.Servers, srv)
	return nil
}

// reverseZones returns the prefix "addr[/prefix]" names (1-32 or 1-128
// bits; default the whole address; masked) and its in-addr.arpa or
// ip6.arpa zones.
func reverseZones(s string) (netip.Prefix, []string, error) {
	addrText, prefixText, hasPrefix := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addrText)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, nil, fmt.Errorf("%q is not an IP address", addrText)
	}
	a = a.Unmap()
	bits := a.BitLen()
	family := "IPv4"
	if a.Is6() {
		family = "IPv6"
	}
	prefix := bits
	if hasPrefix {
		n, err := parseDecimal(prefixText, bits, "a prefix length")
		if err != nil || n == 0 {
			return netip.Prefix{}, nil, fmt.Errorf("bad %s prefix length %q (1 to %d)", family, prefixText, bits)
		}
		prefix = n
	}
	pfx := netip.PrefixFrom(a, prefix).Masked()
	raw := pfx.Addr().AsSlice()
	// Digits of the zone name: octets for IPv4, nibbles for IPv6.
	digitBits, suffix := 8, "in-addr.arpa"
	if a.Is6() {
		digitBits, suffix = 4, "ip6.arpa"
	}
	digit := func(i int) int { // i-th digit, most significant first
		if digitBits == 8 {
			return int(raw[i])
		}
		b := raw[i/2]
		if i%2 == 0 {
			return int(b >> 4)
		}
		return int(b & 0xf)
	}
	full, rem := prefix/digitBits, prefix%digitBits
	count := 1
	if rem != 0 {
		count = 1 << (digitBits - rem)
	}
	out := make([]string, 0, count)
	for i := range count {
		var labels []string
		if rem != 0 {
			labels = append(labels, fmt.Sprintf("%x", digit(full)+i))
			if digitBits == 8 {
				labels[0] = strconv.Itoa(digit(full) + i)
			}
		}
		for j := full - 1; j >= 0; j-- {
			if digitBits == 8 {
				labels = append(labels, strconv.Itoa(digit(j)))
			} else {
				labels = append(labels, fmt.Sprintf("%x", digit(j)))
			}
		}
		out = append(out, strings.Join(append(labels, suffix), "."))
	}
	return pfx, out, nil
}

// revServerLine prints a rev-server= entry in the form setRevServer reads.
func revServerLine(s Server) (name, val string) {
	val = s.RevPrefix.String()
	switch {
	case s.UseStandard:
		val += ",#"
	case s.Addr.IsValid():
		_, addr := serverLine(Server{Addr: s.Addr, Bind: s.Bind})
		val += "," + addr
	}
	return "rev-server", val
}
