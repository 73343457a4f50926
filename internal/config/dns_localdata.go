package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/moatdns/moat/internal/hosts"
)

// LocalData holds the options that put local names and records into DNS:
// what dnsmasq answers itself, before its cache and upstream servers. The
// master turns it into dnsd's local-records tables.
//
// Names are stored lower case without a trailing dot ("" for the root,
// where a record may point at it). Records keep the order of the
// configuration; Source is "file:line" or "command line" for messages.
type LocalData struct {
	HostsDirs       []string        // hostsdir: directories of hosts files, watched
	ExpandHosts     bool            // expand-hosts (-E)
	Domains         []DomainRule    // domain (-s), domain-suffix
	HostRecords     []HostRecord    // host-record
	CNAMEs          []CNAME         // cname
	SRVs            []SRV           // srv-host (-W)
	TXTs            []TXT           // txt-record (-Y)
	MXs             []MX            // mx-host (-m)
	MXTarget        string          // mx-target (-t); "" = none given
	SelfMX          bool            // selfmx (-e)
	LocalMX         bool            // localmx (-L)
	PTRs            []PTR           // ptr-record
	NAPTRs          []NAPTR         // naptr-record
	CAAs            []CAA           // caa-record
	RRs             []RR            // dns-rr
	InterfaceNames  []InterfaceName // interface-name
	Addresses       []Address       // address (-A)
	LocalTTL        uint32          // local-ttl (-T); default 0
	DHCPTTL         uint32          // dhcp-ttl: the TTL of DHCP lease names (dhcp_ttl.go)
	HasDHCPTTL      bool            // dhcp-ttl given (else local-ttl applies to lease names)
	LocaliseQueries bool            // localise-queries (-y)
}

// DomainRule is one domain= line. With no range it sets the default
// domain (the last such line wins, as in dnsmasq); with a range it is the
// domain for addresses in the range. "#" as Domain means "the first search
// directive of resolv-file".
type DomainRule struct {
	Domain string
	// Exactly one (or none) of these describes the range.
	Prefix    netip.Prefix // domain=dom,192.168.0.0/24 (masked)
	First     netip.Addr   // domain=dom,first[,last]
	Last      netip.Addr   // equal to First when only one address was given
	Interface string       // domain=dom,eth0: the interface's subnets
	// Local adds local=/dom/ and local= for the reverse zones of Prefix.
	Local  bool
	Source string
}

// HostRecord is one host-record line: A, AAAA and PTR records.
type HostRecord struct {
	Names  []string // the first one is answered for PTR
	V4, V6 netip.Addr
	TTL    uint32
	HasTTL bool // false: local-ttl applies
	Source string
}

// CNAME is one cname line: every alias points at Target. An alias "*.dom"
// is a wildcard for the names under dom (moat's extension; dnsmasq 2.90
// treats it as a literal name).
type CNAME struct {
	Aliases []string
	Target  string
	TTL     uint32
	HasTTL  bool
	Source  string
}

// SRV is one srv-host line. A name with a single dot gets the default
// domain appended by the master, as dnsmasq does.
type SRV struct {
	Name, Target           string // Target "" = the root (no target)
	Port, Priority, Weight uint16 // default port 1
	Source                 string
}

// TXT is one txt-record line; each string is split into 255-byte chunks
// when answered.
type TXT struct {
	Name    string
	Strings []string // nil: one empty string
	Source  string
}

// MX is one mx-host line.
type MX struct {
	Name   string
	Target string // "" with HasTarget false: mx-target, else the host name
	// HasTarget is false when the line gave no target.
	HasTarget bool
	Pref      uint16 // default 1
	Source    string
}

// PTR is one ptr-record line.
type PTR struct {
	Name, Target string // Target "" = the root
	Source       string
}

// NAPTR is one naptr-record line.
type NAPTR struct {
	Name                   string
	Order, Pref            uint16
	Flags, Service, Regexp string
	Replacement            string // "" = the root
	Source                 string
}

// CAA is one caa-record line.
type CAA struct {
	Name       string
	Flags      uint8
	Tag, Value string
	Source     string
}

// RR is one dns-rr line: any type, rdata given in hex.
type RR struct {
	Name   string
	Type   uint16
	Data   []byte
	Source string
}

// InterfaceName is one interface-name line.
type InterfaceName struct {
	Name      string
	Interface string
	Family    int // 0: both, 4 or 6 (interface/4, interface/6)
	Source    string
}

// Address is one address= line.
type Address struct {
	// Domains are lower case without a trailing dot; "" matches every
	// name (address=/#/ or no domain at all); a leading '*' makes a
	// wildcard ("*.ads.example", "*ads.example").
	Domains []string
	Addr    netip.Addr // invalid for NXDOMAIN (no address) and Null
	Null    bool       // '#': 0.0.0.0 and ::
	Source  string
}

// NXDomain reports whether the line means "no address": names under the
// domains are answered NXDOMAIN, like local=.
func (a Address) NXDomain() bool { return !a.Addr.IsValid() && !a.Null }

// maxTTL bounds configured TTLs: DNS TTLs are 31-bit (RFC 2181).
const maxTTL = 1<<31 - 1

// localName checks and canonicalises a configured name: lower case, no
// trailing dot, labels DNS can carry (what hosts files accept).
func localName(s, what string) (string, error) {
	name, ok := hosts.CanonicalName(s)
	if !ok || strings.ContainsAny(s, ",/#") {
		return "", fmt.Errorf("%q is not a valid %s", s, what)
	}
	return name, nil
}

// targetName is localName for a record's target, where "" stands for the
// root name.
func targetName(s, what string) (string, error) {
	if s == "" || s == "." {
		return "", nil
	}
	return localName(s, what)
}

// isDecimal reports whether s is all ASCII digits (dnsmasq's test for a
// TTL among host-record fields).
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func setHostsDir(p *parser, v value, _ location) error {
	if err := checkPath(v.text); err != nil {
		return err
	}
	p.cfg.Local.HostsDirs = append(p.cfg.Local.HostsDirs, v.text)
	return nil
}

func setExpandHosts(p *parser, _ value, _ location) error {
	p.cfg.Local.ExpandHosts = true
	return nil
}

func setLocaliseQueries(p *parser, _ value, _ location) error {
	p.cfg.Local.LocaliseQueries = true
	return nil
}

func setSelfMX(p *parser, _ value, _ location) error {
	p.cfg.Local.SelfMX = true
	return nil
}

func setLocalMX(p *parser, _ value, _ location) error {
	p.cfg.Local.LocalMX = true
	return nil
}

func setLocalTTL(p *parser, v value, _ location) error {
	n, err := parseDecimal(v.text, maxTTL, "a number of seconds")
	if err != nil {
		return err
	}
	p.cfg.Local.LocalTTL = uint32(n)
	return nil
}

func setMXTarget(p *parser, v value, _ location) error {
	name, err := localName(v.text, "host name")
	if err != nil {
		return err
	}
	p.cfg.Local.MXTarget = name
	return nil
}

// setDomain handles domain= (and domain-suffix=):
//
//	domain=dom                        the default domain
//	domain=#                          the first search domain of resolv-file
//	domain=dom,192.168.0.0/24[,local] the domain for a subnet; local adds
//	                                  local=/dom/ and the reverse zones
//	domain=dom,first[,last]           the domain for an address range
//	domain=dom,eth0                   the domain for an interface's subnets
func setDomain(p *parser, v value, at location) error {
	r := DomainRule{Source: at.String()}
	parts := v.split(',')
	if v.text == "#" {
		r.Domain = "#"
		p.cfg.Local.Domains = append(p.cfg.Local.Domains, r)
		return nil
	}
	d, err := localName(parts[0].text, "domain")
	if err != nil {
		return err
	}
	r.Domain = d
	rest := parts[1:]
	if len(rest) == 0 {
		p.cfg.Local.Domains = append(p.cfg.Local.Domains, r)
		return nil
	}
	first := rest[0].text
	switch {
	case strings.Contains(first, "/"):
		pfx, err := netip.ParsePrefix(first)
		if err != nil || pfx.Addr().Zone() != "" {
			return fmt.Errorf("%q is not an address/prefix-length", first)
		}
		r.Prefix = pfx.Masked()
		switch {
		case len(rest) == 1:
		case len(rest) == 2 && rest[1].text == "local":
			r.Local = true
		case len(rest) == 2:
			return fmt.Errorf("%q: only \"local\" may follow a subnet", rest[1].text)
		default:
			return errors.New("too many fields")
		}
	default:
		a, err := netip.ParseAddr(first)
		if err != nil {
			if len(rest) > 1 {
				return fmt.Errorf("%q is not an IP address", first)
			}
			if err := checkInterfaceName(first); err != nil || first == "" || strings.HasSuffix(first, "*") {
				return fmt.Errorf("%q is neither an address range nor an interface name", first)
			}
			r.Interface = first
			break
		}
		if a.Zone() != "" {
			return fmt.Errorf("%q: no zone allowed", first)
		}
		r.First, r.Last = a, a
		switch len(rest) {
		case 1:
		case 2:
			b, err := netip.ParseAddr(rest[1].text)
			if err != nil || b.Zone() != "" || b.Is4() != a.Is4() {
				return fmt.Errorf("%q is not an IP address of the same family as %q", rest[1].text, first)
			}
			if b.Less(a) {
				return fmt.Errorf("range %s-%s ends before it starts", a, b)
			}
			r.Last = b
		default:
			// dnsmasq ignores a "local" here; it only works with a subnet.
			return errors.New("\"local\" and further fields need the address/prefix-length form")
		}
	}
	p.cfg.Local.Domains = append(p.cfg.Local.Domains, r)
	return nil
}

// DefaultDomain is the domain of the last domain= line without a range
// ("#" when that line asked for resolv-file's search domain), or "".
func (l *LocalData) DefaultDomain() string {
	d := ""
	for _, r := range l.Domains {
		if r.Plain() {
			d = r.Domain
		}
	}
	return d
}

// Plain reports whether the rule has no range: it sets the default domain.
func (r DomainRule) Plain() bool {
	return !r.Prefix.IsValid() && !r.First.IsValid() && r.Interface == ""
}

// Contains reports whether the rule's address range (subnet or first-last)
// holds a. Interface rules never match here; the master resolves them.
func (r DomainRule) Contains(a netip.Addr) bool {
	a = a.Unmap()
	switch {
	case r.Prefix.IsValid():
		return r.Prefix.Contains(a)
	case r.First.IsValid():
		return a.Is4() == r.First.Is4() && !a.Less(r.First) && !r.Last.Less(a)
	}
	return false
}

// setInterfaceName: interface-name=name,interface[/4|/6].
func setInterfaceName(p *parser, v value, at location) error {
	parts := v.split(',')
	if len(parts) != 2 {
		return errors.New("want name,interface[/4|/6]")
	}
	name, err := localName(parts[0].text, "name")
	if err != nil {
		return err
	}
	r := InterfaceName{Name: name, Source: at.String()}
	iface, fam, hasFam := strings.Cut(parts[1].text, "/")
	switch {
	case !hasFam:
	case fam == "4":
		r.Family = 4
	case fam == "6":
		r.Family = 6
	default:
		return fmt.Errorf("%q: only /4 or /6 may follow the interface", parts[1].text)
	}
	if iface == "" || strings.HasSuffix(iface, "*") {
		return fmt.Errorf("%q is not an interface name", iface)
	}
	if err := checkInterfaceName(iface); err != nil {
		return err
	}
	r.Interface = iface
	p.cfg.Local.InterfaceNames = append(p.cfg.Local.InterfaceNames, r)
	return nil
}

// setAddress handles address= (-A):
//
//	address=/dom1/dom2/ip   A or AAAA ip for the domains and their subdomains
//	address=/dom/#          0.0.0.0 and :: for them
//	address=/dom/           NXDOMAIN for them (like local=/dom/)
//	address=/#/ip, address=ip   every name
//
// Domains may start with '*' (wildcards, as for server=) or '.', which
// dnsmasq ignores.
func setAddress(p *parser, v value, at location) error {
	a := Address{Source: at.String()}
	text := strings.Trim(v.text, " ")
	addr := text
	if strings.HasPrefix(text, "/") {
		fields := strings.Split(text[1:], "/")
		if len(fields) < 2 {
			return fmt.Errorf("%q: missing '/' after the domain", v.text)
		}
		addr = strings.TrimSpace(fields[len(fields)-1])
		for _, f := range fields[:len(fields)-1] {
			d, err := addressDomain(strings.TrimSpace(f))
			if err != nil {
				return err
			}
			a.Domains = append(a.Domains, d)
		}
	} else {
		a.Domains = []string{""}
	}
	switch {
	case addr == "" && !strings.HasPrefix(text, "/"):
		return errors.New("missing address")
	case addr == "":
	case addr == "#":
		a.Null = true
	default:
		ip, err := netip.ParseAddr(addr)
		if err != nil || ip.Zone() != "" {
			return fmt.Errorf("%q is not an IP address, '#' or empty", addr)
		}
		a.Addr = ip
	}
	p.cfg.Local.Addresses = append(p.cfg.Local.Addresses, a)
	return nil
}

// addressDomain canonicalises one domain of address=: "#" is every name,
// "*" prefixes a wildcard, a leading '.' is dropped (dnsmasq: "/.dom/" is
// "/dom/").
func addressDomain(d string) (string, error) {
	switch d {
	case "#":
		return "", nil
	case "":
		return "", notYet(`"//" (unqualified names) in address=`)
	}
	wild := ""
	rest := d
	if strings.HasPrefix(rest, "*") {
		wild, rest = "*", rest[1:]
		if strings.HasPrefix(rest, ".") {
			wild, rest = "*.", rest[1:]
		}
		if rest == "" {
			return "", fmt.Errorf("%q: a wildcard needs a domain after '*'", d)
		}
	} else {
		rest = strings.TrimPrefix(rest, ".")
	}
	if strings.Contains(rest, "*") {
		return "", fmt.Errorf("%q: '*' is only allowed at the start", d)
	}
	name, err := localName(rest, "domain")
	if err != nil {
		return "", err
	}
	return wild + name, nil
}
