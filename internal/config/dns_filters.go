package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// DNSFilters holds the options that filter queries and answers, add EDNS0
// client information to forwarded queries, and limit who is served:
// dnsmasq 2.90's domain-needed, bogus-priv, bogus-nxdomain,
// ignore-address, stop-dns-rebind, rebind-localhost-ok, rebind-domain-ok,
// filterwin2k, filter-rr, filter-A, filter-AAAA, local-service,
// edns-packet-max, add-mac, add-subnet and no-ident.
type DNSFilters struct {
	DomainNeeded bool // domain-needed (-D): A/AAAA/ANY of single-label names are never forwarded
	BogusPriv    bool // bogus-priv (-b): private reverse lookups answered NXDOMAIN
	// BogusNXDomain (bogus-nxdomain, -B): an answer holding one of these
	// addresses becomes NXDOMAIN. A plain address is a /32 or /128 prefix;
	// the address is kept as written (not masked).
	BogusNXDomain []netip.Prefix
	// IgnoreAddress (ignore-address): a reply holding one of these
	// addresses is dropped and dnsd waits for another.
	IgnoreAddress     []netip.Prefix
	StopDNSRebind     bool     // stop-dns-rebind
	RebindLocalhostOK bool     // rebind-localhost-ok
	RebindDomainOK    []string // rebind-domain-ok: lower case, no trailing dot
	FilterWin2k       bool     // filterwin2k (-f)
	// FilterRR (filter-rr): record types removed from answers; ANY (255)
	// means "reduce answers to ANY queries to A, AAAA, MX and CNAME".
	FilterRR   []uint16
	FilterA    bool // filter-A
	FilterAAAA bool // filter-AAAA (also spelled filter-aaaa, as OpenWrt writes it)
	// LocalService (local-service): "" (off), "net" (clients on a directly
	// connected network) or "host" (loopback clients only).
	LocalService  string
	EDNSPacketMax int // edns-packet-max (-P); default 1232
	// AddMAC (add-mac): the client's MAC in EDNS0 option 65001.
	// AddMACBase64 / AddMACText (add-mac=base64 / add-mac=text): the MAC
	// in option 65073, base64 or hex-and-colons; text wins when both are
	// given, as in dnsmasq.
	AddMAC, AddMACBase64, AddMACText bool
	AddSubnet                        ClientSubnet // add-subnet
	NoIdent                          bool         // no-ident: no CHAOS TXT *.bind answers
}

// ClientSubnet is add-subnet: an EDNS0 client-subnet option (RFC 7871) on
// forwarded queries. V4 applies to IPv4 clients and V6 to IPv6 clients;
// an unset source adds the option with a zero prefix, which tells the
// upstream not to add client information itself.
type ClientSubnet struct {
	Enabled bool
	V4, V6  SubnetSource
}

// SubnetSource is one side of add-subnet.
type SubnetSource struct {
	Set  bool // given in the option
	Bits int  // prefix length sent
	// Addr is a fixed address to send (its family may differ from the
	// client's); invalid = the client's own address.
	Addr netip.Addr
}

// DefaultEDNSPacketMax is dnsmasq 2.90's edns-packet-max (DNS flag day
// 2020).
const DefaultEDNSPacketMax = 1232

// DefaultDNSFilters returns the filter settings in effect when no option
// is given.
func DefaultDNSFilters() DNSFilters {
	return DNSFilters{EDNSPacketMax: DefaultEDNSPacketMax}
}

func setDomainNeeded(p *parser, _ value, _ location) error {
	p.cfg.Filters.DomainNeeded = true
	return nil
}

func setBogusPriv(p *parser, _ value, _ location) error {
	p.cfg.Filters.BogusPriv = true
	return nil
}

func setBogusNXDomain(p *parser, v value, _ location) error {
	pr, err := parseAddrPrefix(v.text)
	if err != nil {
		return err
	}
	p.cfg.Filters.BogusNXDomain = append(p.cfg.Filters.BogusNXDomain, pr)
	return nil
}

func setIgnoreAddress(p *parser, v value, _ location) error {
	pr, err := parseAddrPrefix(v.text)
	if err != nil {
		return err
	}
	p.cfg.Filters.IgnoreAddress = append(p.cfg.Filters.IgnoreAddress, pr)
	return nil
}

// parseAddrPrefix reads "ip[/prefix]" as dnsmasq's bogus-nxdomain does: one
// address, no zone, a prefix no longer than the family allows.
func parseAddrPrefix(s string) (netip.Prefix, error) {
	addrText, bitsText, hasBits := strings.Cut(strings.TrimSpace(s), "/")
	a, err := netip.ParseAddr(addrText)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address", addrText)
	}
	bits := a.BitLen()
	if hasBits {
		bits, err = parseDecimal(bitsText, a.BitLen(), "a prefix length")
		if err != nil {
			return netip.Prefix{}, err
		}
	}
	return netip.PrefixFrom(a, bits), nil
}

func setStopDNSRebind(p *parser, _ value, _ location) error {
	p.cfg.Filters.StopDNSRebind = true
	return nil
}

func setRebindLocalhostOK(p *parser, _ value, _ location) error {
	p.cfg.Filters.RebindLocalhostOK = true
	return nil
}

// setRebindDomainOK reads "domain" or "/dom1/dom2/", as dnsmasq: one
// leading '/' is dropped, then the value is split at every '/'.
func setRebindDomainOK(p *parser, v value, _ location) error {
	s := strings.TrimPrefix(strings.TrimSpace(v.text), "/")
	parts := strings.Split(s, "/")
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1] // the closing '/'
	}
	for _, part := range parts {
		if part == "" {
			return fmt.Errorf("%q: empty domain", v.text)
		}
		d, err := normalizeDomain(part)
		if err != nil {
			return err
		}
		p.cfg.Filters.RebindDomainOK = append(p.cfg.Filters.RebindDomainOK, d)
	}
	return nil
}

func setFilterWin2k(p *parser, _ value, _ location) error {
	p.cfg.Filters.FilterWin2k = true
	return nil
}

// setFilterRR reads a comma-separated list of record types, by name (any
// case) or number, as dnsmasq's filter-rr; duplicates are dropped.
func setFilterRR(p *parser, v value, _ location) error {
	for _, part := range v.split(',') {
		t, err := parseRRType(part.text)
		if err != nil {
			return err
		}
		f := &p.cfg.Filters
		if !containsType(f.FilterRR, t) {
			f.FilterRR = append(f.FilterRR, t)
		}
	}
	return nil
}

func containsType(list []uint16, t uint16) bool {
	for _, x := range list {
		if x == t {
			return true
		}
	}
	return false
}

// parseRRType reads a type name known to miekg/dns or a decimal number
// from 1 to 65535 (dnsmasq accepts 0 and silently truncates larger
// numbers; moat reports both).
func parseRRType(s string) (uint16, error) {
	if s == "" {
		return 0, errors.New("empty RR type")
	}
	if s[0] >= '0' && s[0] <= '9' {
		n, err := parseDecimal(s, 65535, "an RR type number")
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, errors.New("0 is not an RR type")
		}
		return uint16(n), nil
	}
	if t, ok := dns.StringToType[strings.ToUpper(s)]; ok && t != dns.TypeNone && t != dns.TypeReserved {
		return t, nil
	}
	return 0, fmt.Errorf("%q is not an RR type", s)
}

// rrTypeName prints a type as parseRRType reads it back.
func rrTypeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		if back, err := parseRRType(s); err == nil && back == t {
			return s
		}
	}
	return strconv.Itoa(int(t))
}

func setFilterA(p *parser, _ value, _ location) error {
	p.cfg.Filters.FilterA = true
	return nil
}

func setFilterAAAA(p *parser, _ value, _ location) error {
	p.cfg.Filters.FilterAAAA = true
	return nil
}

func setLocalService(p *parser, v value, _ location) error {
	switch v.text {
	case "", "net":
		p.cfg.Filters.LocalService = "net"
	case "host":
		p.cfg.Filters.LocalService = "host"
	default:
		return fmt.Errorf("%q is not net or host", v.text)
	}
	return nil
}

func setEDNSPacketMax(p *parser, v value, _ location) error {
	n, err := parseDecimal(v.text, 65535, "a packet size")
	if err != nil {
		return err
	}
	p.cfg.Filters.EDNSPacketMax = n
	return nil
}

func setAddMAC(p *parser, v value, _ location) error {
	f := &p.cfg.Filters
	switch {
	case !v.given:
		f.AddMAC = true
	case v.text == "base64":
		f.AddMACBase64 = true
	case v.text == "text":
		f.AddMACText = true
	default:
		return fmt.Errorf("%q is not base64 or text", v.text)
	}
	return nil
}

// setAddSubnet reads add-subnet[=[ipv4addr/]bits[,[ipv6addr/]bits]]. The
// first part is for IPv4 clients and the second for IPv6 clients; either
// may name an address of the other family, which is then sent instead of
// the client's. A later add-subnet replaces the IPv4 part, and the IPv6
// part when it has one, as in dnsmasq.
func setAddSubnet(p *parser, v value, _ location) error {
	cs := &p.cfg.Filters.AddSubnet
	cs.Enabled = true
	if !v.given {
		return nil
	}
	first, second, hasSecond := v.cut(',')
	v4, err := parseSubnetSource(first.text, 32)
	if err != nil {
		return err
	}
	var v6 SubnetSource
	if hasSecond {
		if v6, err = parseSubnetSource(second.text, 128); err != nil {
			return err
		}
	}
	cs.V4 = v4
	if hasSecond {
		cs.V6 = v6
	}
	return nil
}

// parseSubnetSource reads "bits" or "addr/bits"; plainMax bounds bits
// when no address says which family applies.
func parseSubnetSource(s string, plainMax int) (SubnetSource, error) {
	addrText, bitsText, hasAddr := strings.Cut(s, "/")
	if !hasAddr {
		bits, err := parseDecimal(s, plainMax, "a prefix length")
		if err != nil {
			return SubnetSource{}, err
		}
		return SubnetSource{Set: true, Bits: bits}, nil
	}
	a, err := netip.ParseAddr(addrText)
	if err != nil || a.Zone() != "" {
		return SubnetSource{}, fmt.Errorf("%q is not an IP address", addrText)
	}
	bits, err := parseDecimal(bitsText, a.BitLen(), "a prefix length")
	if err != nil {
		return SubnetSource{}, err
	}
	return SubnetSource{Set: true, Bits: bits, Addr: a}, nil
}

func (s SubnetSource) String() string {
	if s.Addr.IsValid() {
		return s.Addr.String() + "/" + strconv.Itoa(s.Bits)
	}
	return strconv.Itoa(s.Bits)
}

func setNoIdent(p *parser, _ value, _ location) error {
	p.cfg.Filters.NoIdent = true
	return nil
}

// print writes the settings in the form the handlers read, through the
// same line and flag helpers String uses.
func (f *DNSFilters) print(line func(name, val string), flag func(name string, on bool)) {
	flag("domain-needed", f.DomainNeeded)
	flag("bogus-priv", f.BogusPriv)
	for _, p := range f.BogusNXDomain {
		line("bogus-nxdomain", prefixText(p))
	}
	for _, p := range f.IgnoreAddress {
		line("ignore-address", prefixText(p))
	}
	flag("stop-dns-rebind", f.StopDNSRebind)
	flag("rebind-localhost-ok", f.RebindLocalhostOK)
	if len(f.RebindDomainOK) > 0 {
		line("rebind-domain-ok", "/"+strings.Join(f.RebindDomainOK, "/")+"/")
	}
	flag("filterwin2k", f.FilterWin2k)
	if len(f.FilterRR) > 0 {
		names := make([]string, len(f.FilterRR))
		for i, t := range f.FilterRR {
			names[i] = rrTypeName(t)
		}
		line("filter-rr", strings.Join(names, ","))
	}
	flag("filter-A", f.FilterA)
	flag("filter-AAAA", f.FilterAAAA)
	if f.LocalService != "" {
		line("local-service", f.LocalService)
	}
	if f.EDNSPacketMax != DefaultEDNSPacketMax {
		line("edns-packet-max", strconv.Itoa(f.EDNSPacketMax))
	}
	flag("add-mac", f.AddMAC)
	if f.AddMACBase64 {
		line("add-mac", "base64")
	}
	if f.AddMACText {
		line("add-mac", "text")
	}
	if cs := f.AddSubnet; cs.Enabled {
		switch {
		case !cs.V4.Set && !cs.V6.Set:
			flag("add-subnet", true)
		case !cs.V6.Set:
			line("add-subnet", cs.V4.String())
		default:
			line("add-subnet", cs.V4.String()+","+cs.V6.String())
		}
	}
	flag("no-ident", f.NoIdent)
}

// prefixText prints a prefix as the option takes it: a full-length prefix
// as the bare address.
func prefixText(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

// spelling marks a row as another spelling of an option, matched only in
// full (so "--filter-a" stays unknown, as in dnsmasq, rather than becoming
// filter-aaaa).
func (o option) spelling() option { o.exactOnly = true; return o }
