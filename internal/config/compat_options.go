package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// CompatOptions holds dnsmasq options moat accepts, so that the
// configurations that use them keep working, but does not act on: their
// subsystems (D-Bus, ubus, DNSSEC validation, firewall sets) have no place
// in a sandboxed worker or are not built. Each one present gives a warning
// (Warnings), logged once at start and printed by --test, that says what
// does not happen and what to use instead; none is ignored silently.
type CompatOptions struct {
	// DBus (enable-dbus[=name]): dnsmasq's D-Bus control interface, with
	// DBusName the service name ("" = dnsmasq's default).
	DBus     bool
	DBusName string
	// UBus (enable-ubus[=name]): OpenWrt's ubus interface.
	UBus     bool
	UBusName string
	// DNSSEC (dnssec), with TrustAnchors (trust-anchor, as given, checked
	// as dnsmasq checks them) and dnssec-check-unsigned /
	// dnssec-no-timecheck: moat does NOT validate. It never sets the AD
	// bit in a reply, so no client is told an answer was validated.
	DNSSEC              bool
	TrustAnchors        []string
	DNSSECCheckUnsigned bool // dnssec-check-unsigned (bare); "=no" leaves it false
	DNSSECNoTimecheck   bool
	// ProxyDNSSEC (proxy-dnssec): dnsmasq copies the upstream's AD bit to
	// the client; moat never sets AD (see DNSSEC).
	ProxyDNSSEC bool
	// IPSets and NFTSets (ipset=, nftset=): the values as given. moat does
	// not add answers to firewall sets.
	IPSets  []string
	NFTSets []string
	// QuietDHCP6 and QuietRA (quiet-dhcp6, quiet-ra) silence logging of
	// DHCPv6 and router advertisements, which moat does not do: accepted
	// as no-ops (LXD and Incus pass them on every bridge).
	QuietDHCP6 bool
	QuietRA    bool
}

func setEnableDBus(p *parser, v value, _ location) error {
	p.cfg.Compat.DBus, p.cfg.Compat.DBusName = true, v.text
	return nil
}

func setEnableUBus(p *parser, v value, _ location) error {
	p.cfg.Compat.UBus, p.cfg.Compat.UBusName = true, v.text
	return nil
}

func setDNSSEC(p *parser, _ value, _ location) error {
	p.cfg.Compat.DNSSEC = true
	return nil
}

func setDNSSECNoTimecheck(p *parser, _ value, _ location) error {
	p.cfg.Compat.DNSSECNoTimecheck = true
	return nil
}

// setDNSSECCheckUnsigned: bare turns it on, "=no" off; dnsmasq refuses
// anything else.
func setDNSSECCheckUnsigned(p *parser, v value, _ location) error {
	switch {
	case !v.given:
		p.cfg.Compat.DNSSECCheckUnsigned = true
	case strings.EqualFold(v.text, "no"):
		p.cfg.Compat.DNSSECCheckUnsigned = false
	default:
		return fmt.Errorf("bad value %q (the only value is \"no\")", v.text)
	}
	return nil
}

func setProxyDNSSEC(p *parser, _ value, _ location) error {
	p.cfg.Compat.ProxyDNSSEC = true
	return nil
}

// setTrustAnchor checks a DS trust anchor as dnsmasq 2.90 does:
// <domain>,[<class>,]<key-tag>,<algorithm>,<digest-type>,<digest>, the
// class IN, CH or HS, the numbers at most 65535 (key tag) and 255, the
// digest hex digits (colons allowed). Like dnsmasq it lets an empty
// domain or digest pass: moat never uses the anchor.
func setTrustAnchor(p *parser, v value, _ location) error {
	fields := strings.Split(v.text, ",")
	if len(fields) == 6 {
		switch strings.ToUpper(fields[1]) {
		case "IN", "CH", "HS":
		default:
			return fmt.Errorf("bad trust anchor: class %q (IN, CH or HS)", fields[1])
		}
		fields = append(fields[:1], fields[2:]...)
	}
	if len(fields) != 5 {
		return errors.New("bad trust anchor: want <domain>,[<class>,]<key-tag>,<algorithm>,<digest-type>,<digest>")
	}
	for i, part := range []struct {
		what string
		max  int
	}{{"key tag", 65535}, {"algorithm", 255}, {"digest type", 255}} {
		if _, err := parseDecimal(fields[i+1], part.max, "a number"); err != nil {
			return fmt.Errorf("bad trust anchor: %s: %w", part.what, err)
		}
	}
	if digest := fields[4]; strings.Trim(digest, "0123456789abcdefABCDEF:") != "" {
		return fmt.Errorf("bad HEX in trust anchor: digest %q", digest)
	}
	p.cfg.Compat.TrustAnchors = append(p.cfg.Compat.TrustAnchors, v.text)
	return nil
}

// setIPSet and setNFTSet keep the value: /<domain>[/<domain>...]/<set>[,<set>...].
// dnsmasq refuses only an empty list of sets after the last '/'.
func setIPSet(p *parser, v value, _ location) error {
	return addFirewallSet(&p.cfg.Compat.IPSets, v.text)
}

func setNFTSet(p *parser, v value, _ location) error {
	return addFirewallSet(&p.cfg.Compat.NFTSets, v.text)
}

// addFirewallSet appends s to sets unless it names no set.
func addFirewallSet(sets *[]string, s string) error {
	if s == "" || strings.HasSuffix(s, "/") {
		return errors.New("no set named after the domains (want /<domain>/.../<set>[,<set>...])")
	}
	*sets = append(*sets, s)
	return nil
}

func setQuietDHCP6(p *parser, _ value, _ location) error {
	p.cfg.Compat.QuietDHCP6 = true
	return nil
}

func setQuietRA(p *parser, _ value, _ location) error {
	p.cfg.Compat.QuietRA = true
	return nil
}

// print writes the options back so that the printed form parses to the
// same CompatOptions.
func (c CompatOptions) print(line func(name, val string), flag func(name string, on bool)) {
	optLine := func(name string, on bool, val string) {
		if on && val != "" {
			line(name, val)
		} else {
			flag(name, on)
		}
	}
	optLine("enable-dbus", c.DBus, c.DBusName)
	optLine("enable-ubus", c.UBus, c.UBusName)
	flag("dnssec", c.DNSSEC)
	for _, t := range c.TrustAnchors {
		line("trust-anchor", t)
	}
	flag("dnssec-check-unsigned", c.DNSSECCheckUnsigned)
	flag("dnssec-no-timecheck", c.DNSSECNoTimecheck)
	flag("proxy-dnssec", c.ProxyDNSSEC)
	for _, s := range c.IPSets {
		line("ipset", s)
	}
	for _, s := range c.NFTSets {
		line("nftset", s)
	}
	flag("quiet-dhcp6", c.QuietDHCP6)
	flag("quiet-ra", c.QuietRA)
}

// Warning is one thing a configuration asks for that moat does not do.
type Warning struct {
	Options []string // the options concerned, as written in files
	Msg     string   // what does not happen, and what to do instead
}

func (w Warning) String() string {
	return strings.Join(w.Options, ", ") + ": " + w.Msg
}

// Warnings lists what the configuration asks for that moat accepts but
// does not do, one entry per subsystem, in a fixed order. The master logs
// each once at start; moatd --test prints them before its verdict.
func (c *Config) Warnings() []Warning {
	cp := c.Compat
	var out []Warning
	add := func(msg string, opts ...string) { out = append(out, Warning{Options: opts, Msg: msg}) }
	if cp.DBus {
		add("moat has no D-Bus interface: the D-Bus methods (SetServers, SetServersEx, ClearCache, AddDhcpLease...) are not available; "+
			"use moatctl (the control socket) for statistics and state, server= / resolv-file and SIGHUP for upstream servers", "enable-dbus"+nameSuffix(cp.DBusName))
	}
	if cp.UBus {
		add("moat has no ubus interface: the ubus objects and events are not available; "+
			"use moatctl (the control socket) for statistics and state, and dhcp-script for lease events", "enable-ubus"+nameSuffix(cp.UBusName))
	}
	if cp.DNSSEC || len(cp.TrustAnchors) > 0 || cp.DNSSECCheckUnsigned || cp.DNSSECNoTimecheck {
		var opts []string
		if cp.DNSSEC {
			opts = append(opts, "dnssec")
		}
		if n := len(cp.TrustAnchors); n > 0 {
			opts = append(opts, "trust-anchor ("+strconv.Itoa(n)+")")
		}
		if cp.DNSSECCheckUnsigned {
			opts = append(opts, "dnssec-check-unsigned")
		}
		if cp.DNSSECNoTimecheck {
			opts = append(opts, "dnssec-no-timecheck")
		}
		add("DNSSEC VALIDATION IS NOT PERFORMED: moat does not check signatures, passes on answers that fail validation "+
			"(dnsmasq would answer SERVFAIL) and never sets the AD bit; the DO bit, RRSIG and DNSKEY records are still "+
			"relayed, so validate on the clients (a validating stub resolver) or in a validating upstream resolver", opts...)
	}
	if cp.ProxyDNSSEC {
		add("the upstream's AD bit is not passed on: moat never sets AD in a reply (DNSSEC records are still relayed); "+
			"clients that need validation must validate themselves", "proxy-dnssec")
	}
	if len(cp.IPSets) > 0 || len(cp.NFTSets) > 0 {
		var opts []string
		if n := len(cp.IPSets); n > 0 {
			opts = append(opts, "ipset ("+strconv.Itoa(n)+")")
		}
		if n := len(cp.NFTSets); n > 0 {
			opts = append(opts, "nftset ("+strconv.Itoa(n)+")")
		}
		add("firewall sets are not filled: the addresses of answers for these domains are not added to any ipset or "+
			"nftables set (the sandboxed DNS worker has no netlink access); rules that rely on these sets match nothing "+
			"until they are filled another way", opts...)
	}
	return out
}

func nameSuffix(name string) string {
	if name == "" {
		return ""
	}
	return "=" + name
}
