package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// setServer handles server (-S) and local, which dnsmasq treats the same:
//
//	server=ip[#port][@interface][@source-ip[#port]]   upstream for every name
//	server=/dom1/dom2/ip[#port]...  upstream for these domains only
//	server=//ip                     upstream for unqualified names
//	server=/*example.com/ip         wildcard: any name ending in example.com
//	server=/*.example.com/ip        wildcard: subdomains of example.com only
//	server=/#/ip                    every domain (the same as no domain)
//	server=/dom/   local=/dom/      never forward these domains
//	server=/dom/#                   these domains use the standard servers
//
// IPv6 addresses are written bare (server=::1#5353), link-local ones with
// a zone (fe80::1%eth0). dnsmasq restores quoted characters before parsing
// this option, so quotes make no difference here.
func setServer(p *parser, v value, at location) error {
	srv := Server{Source: at.String()}
	rest := plainValue(strings.Trim(v.text, " "))
	withDomains := strings.HasPrefix(rest.text, "/")
	if withDomains {
		rest = rest.slice(1, len(rest.text))
		for {
			dom, after, found := rest.cut('/')
			if !found {
				break
			}
			d, err := normalizeDomain(dom.text)
			if err != nil {
				return err
			}
			srv.Domains = append(srv.Domains, d)
			rest = after
		}
		if len(srv.Domains) == 0 {
			return fmt.Errorf("%q: missing '/' after the domain", v.text)
		}
	}
	if err := srv.setAddress(rest.text, withDomains); err != nil {
		return err
	}
	p.cfg.Servers = append(p.cfg.Servers, srv)
	return nil
}

// setAddress parses what follows the domains: an address with its
// options, "#" (use the standard servers) or nothing (local).
func (srv *Server) setAddress(addr string, withDomains bool) error {
	switch {
	case addr == "" && !withDomains:
		return errors.New("missing server address")
	case addr == "":
		// local-only domains: Addr stays invalid
	case addr == "#" && !withDomains:
		return errors.New(`"#" (use the standard servers) needs a /domain/`)
	case addr == "#":
		srv.UseStandard = true
	default:
		ap, bind, err := parseServerAddr(addr)
		if err != nil {
			return err
		}
		srv.Addr, srv.Bind = ap, bind
	}
	return nil
}

// parseServerAddr parses "ip[%zone][#port][@interface][@source-ip[#port]]"
// in dnsmasq's order: the first '@' starts the source part, whose first
// '#' is the source port; then the server's '#port'; then, inside the
// source part, "interface@source-ip". A source that is not an address
// names an interface.
func parseServerAddr(s string) (netip.AddrPort, ServerBind, error) {
	var bind ServerBind
	serverText, sourceText, hasSource := plainValue(s).cut('@')
	ap, err := parseAddrPort(serverText.text)
	if err != nil {
		return netip.AddrPort{}, bind, err
	}
	if !hasSource {
		return ap, bind, nil
	}
	src, portText, hasPort := sourceText.cut('#')
	if hasPort {
		n, err := parseDecimal(portText.text, 65535, "a port number")
		if err != nil {
			return netip.AddrPort{}, bind, err
		}
		bind.Port = uint16(n)
	}
	iface, srcAddr, hasBoth := src.cut('@')
	if !hasBoth {
		iface, srcAddr = value{}, src
	}
	if hasBoth {
		if err := checkBindInterface(iface.text); err != nil {
			return netip.AddrPort{}, bind, err
		}
		bind.Interface = iface.text
	}
	a, err := netip.ParseAddr(srcAddr.text)
	switch {
	case err != nil && hasBoth:
		return netip.AddrPort{}, bind, fmt.Errorf("%q is not a source address", srcAddr.text)
	case err != nil:
		if err := checkBindInterface(srcAddr.text); err != nil {
			return netip.AddrPort{}, bind, err
		}
		bind.Interface = srcAddr.text
	case a.Zone() != "":
		return netip.AddrPort{}, bind, fmt.Errorf("%q: a source address takes no %%zone", srcAddr.text)
	case a.Unmap().Is4() != ap.Addr().Unmap().Is4():
		v := map[bool]string{true: "IPv4", false: "IPv6"}
		return netip.AddrPort{}, bind, fmt.Errorf("cannot use %s server address with %s source address",
			v[ap.Addr().Unmap().Is4()], v[a.Unmap().Is4()])
	default:
		bind.Addr = a
	}
	return ap, bind, nil
}

// checkBindInterface checks an @interface name (no pattern allowed).
func checkBindInterface(name string) error {
	if name == "" {
		return errors.New("empty interface name after '@'")
	}
	if strings.IndexByte(name, '*') >= 0 {
		return fmt.Errorf("%q: an @interface cannot be a pattern", name)
	}
	return checkInterfaceName(name)
}

// parseAddrPort parses "ip[%zone][#port]".
func parseAddrPort(s string) (netip.AddrPort, error) {
	addrText, portText, hasPort := plainValue(s).cut('#')
	port := DefaultPort
	if hasPort {
		n, err := parseDecimal(portText.text, 65535, "a port number")
		if err != nil {
			return netip.AddrPort{}, err
		}
		if n == 0 {
			return netip.AddrPort{}, errors.New("port 0 is not a server port")
		}
		port = n
	}
	ipText, zone, hasZone := addrText.cut('%')
	a, err := netip.ParseAddr(ipText.text)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not an IP address", ipText.text)
	}
	if hasZone {
		if !a.Is6() || a.Is4In6() {
			return netip.AddrPort{}, fmt.Errorf("%q: a %%zone needs an IPv6 address", s)
		}
		if zone.text == "" {
			return netip.AddrPort{}, fmt.Errorf("%q: empty %%zone", s)
		}
		if err := checkInterfaceName(zone.text); err != nil {
			return netip.AddrPort{}, err
		}
		a = a.WithZone(zone.text)
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// Domain name limits (RFC 1035).
const (
	maxDomainName = 253
	maxLabel      = 63
)

// EveryDomain is the Domains element of server=/#/ip: every name, the
// same as a server without domains.
const EveryDomain = "#"

// normalizeDomain checks a server=/.../ domain and returns it in lower
// case without a trailing dot. "" (from "//") stands for unqualified
// names, EveryDomain for "#" (and "*", which dnsmasq reads the same way).
// A leading '*' makes a wildcard, kept as "*suffix": "*example.com"
// matches example.com and every name that ends in it (supergoogle.com for
// *google.com); "*.example.com" matches subdomains only. A leading '.'
// without '*' is dropped, as dnsmasq does (/.example.com/ is
// /example.com/).
func normalizeDomain(d string) (string, error) {
	switch {
	case d == "":
		return "", nil
	case d == "#" || d == "*":
		return EveryDomain, nil
	case d[0] == '*':
		rest := strings.TrimSuffix(strings.ToLower(d[1:]), ".")
		if strings.ContainsRune(rest, '*') {
			return "", fmt.Errorf("%q: '*' is only allowed at the start", d)
		}
		body := strings.TrimPrefix(rest, ".")
		if body == "" {
			return "", fmt.Errorf("%q is not a domain pattern", d)
		}
		if err := checkDomainLabels(d, body); err != nil {
			return "", err
		}
		return "*" + rest, nil
	case strings.ContainsRune(d, '*'):
		return "", fmt.Errorf("%q: '*' is only allowed at the start", d)
	}
	name := strings.TrimSuffix(strings.ToLower(d), ".")
	name = strings.TrimPrefix(name, ".")
	if err := checkDomainLabels(d, name); err != nil {
		return "", err
	}
	return name, nil
}

func checkDomainLabels(orig, name string) error {
	if name == "" || len(name) > maxDomainName {
		return fmt.Errorf("%q is not a domain name", orig)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > maxLabel {
			return fmt.Errorf("%q is not a domain name (empty or over-long label)", orig)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%q is not a domain name (character %q)", orig, c)
			}
		}
	}
	return nil
}

// ServerBind is the "@..." part of a server= line: how queries to that
// server leave this host. The zero value lets the kernel choose.
type ServerBind struct {
	// Addr (@source-ip) is the local address queries leave from.
	Addr netip.Addr
	// Port (@source-ip#port, @interface#port) fixes the local port; 0 =
	// a random port per query (query-port does not apply to a server with
	// a source, as in dnsmasq).
	Port uint16
	// Interface (@interface) sends queries through this interface only
	// (SO_BINDTODEVICE).
	Interface string
}

// IsZero reports whether no "@..." part was given.
func (b ServerBind) IsZero() bool { return b == ServerBind{} }

// String prints the "@..." part in the form parseServerAddr reads ("" for
// the zero value).
func (b ServerBind) String() string {
	if b.IsZero() {
		return ""
	}
	var s strings.Builder
	if b.Interface != "" {
		s.WriteString("@" + b.Interface)
	}
	if b.Addr.IsValid() {
		s.WriteString("@" + b.Addr.String())
	}
	if b.Port != 0 {
		fmt.Fprintf(&s, "#%d", b.Port)
	}
	return s.String()
}
