package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// setServer handles server (-S) and local, which dnsmasq treats the same:
//
//	server=ip[#port]                 upstream for every name
//	server=/dom1/dom2/ip[#port]      upstream for these domains only
//	server=//ip                      upstream for unqualified names
//	server=/dom/   local=/dom/       never forward these domains
//	server=/dom/#                    these domains use the standard servers
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
	switch addr := rest.text; {
	case addr == "" && !withDomains:
		return errors.New("missing server address")
	case addr == "":
		// local-only domains: Addr stays invalid
	case addr == "#" && !withDomains:
		return errors.New(`"#" (use the standard servers) needs a /domain/`)
	case addr == "#":
		srv.UseStandard = true
	default:
		ap, err := parseServerAddr(addr)
		if err != nil {
			return err
		}
		srv.Addr = ap
	}
	p.cfg.Servers = append(p.cfg.Servers, srv)
	return nil
}

// parseServerAddr parses "ip[%zone][#port]".
func parseServerAddr(s string) (netip.AddrPort, error) {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		via := s[i:]
		src, _, _ := strings.Cut(s[i+1:], "#")
		src, _, _ = strings.Cut(src, "@")
		if _, err := netip.ParseAddr(src); err == nil {
			return netip.AddrPort{}, notYet(fmt.Sprintf("%q: the @source-address form", via))
		}
		return netip.AddrPort{}, notYet(fmt.Sprintf("%q: the @interface form", via))
	}
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

// normalizeDomain checks a server=/.../ domain and returns it in lower
// case without a trailing dot. "" (from "//") stands for unqualified names.
func normalizeDomain(d string) (string, error) {
	switch {
	case d == "":
		return "", nil
	case d == "#":
		return "", notYet(`"#" as a domain (every domain)`)
	case strings.ContainsRune(d, '*'):
		return "", notYet(fmt.Sprintf("wildcard domain %q", d))
	}
	name := strings.TrimSuffix(strings.ToLower(d), ".")
	if name == "" || len(name) > maxDomainName {
		return "", fmt.Errorf("%q is not a domain name", d)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > maxLabel {
			return "", fmt.Errorf("%q is not a domain name (empty or over-long label)", d)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("%q is not a domain name (character %q)", d, c)
			}
		}
	}
	return name, nil
}
