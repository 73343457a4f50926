package config

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
)

// printLocalData writes LocalData in the form its handlers read, one
// option per line; parsing the lines back gives an equal LocalData (apart
// from Source). Values are built field by field: a field holding a comma
// is quoted on its own so that the parser does not split it.
func (l *LocalData) printLocalData(b *strings.Builder) {
	line := func(name string, fields ...string) {
		b.WriteString(name)
		b.WriteByte('=')
		for i, f := range fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quoteField(f))
		}
		b.WriteByte('\n')
	}
	flag := func(name string, on bool) {
		if on {
			b.WriteString(name + "\n")
		}
	}
	for _, d := range l.HostsDirs {
		line("hostsdir", d)
	}
	flag("expand-hosts", l.ExpandHosts)
	for _, d := range l.Domains {
		line("domain", domainFields(d)...)
	}
	for _, r := range l.HostRecords {
		var f []string
		for _, n := range r.Names {
			// A name that reads as a TTL or an address keeps its final
			// dot, which makes it a name again when parsed.
			if _, err := netip.ParseAddr(n); err == nil || isDecimal(n) {
				n += "."
			}
			f = append(f, n)
		}
		if r.V4.IsValid() {
			f = append(f, r.V4.String())
		}
		if r.V6.IsValid() {
			f = append(f, r.V6.String())
		}
		if r.HasTTL {
			f = append(f, strconv.FormatUint(uint64(r.TTL), 10))
		}
		line("host-record", f...)
	}
	for _, c := range l.CNAMEs {
		target := c.Target
		if isDecimal(target) && !c.HasTTL {
			// A target of digits alone would read back as a TTL; the
			// trailing dot keeps it a name (fuzz finding).
			target += "."
		}
		f := append(append([]string{}, c.Aliases...), target)
		if c.HasTTL {
			f = append(f, strconv.FormatUint(uint64(c.TTL), 10))
		}
		line("cname", f...)
	}
	for _, s := range l.SRVs {
		if s.Target == "" && s.Port == 1 && s.Priority == 0 && s.Weight == 0 {
			line("srv-host", s.Name)
			continue
		}
		line("srv-host", s.Name, rootName(s.Target), u16(s.Port), u16(s.Priority), u16(s.Weight))
	}
	for _, t := range l.TXTs {
		line("txt-record", append([]string{t.Name}, t.Strings...)...)
	}
	for _, m := range l.MXs {
		switch {
		case m.HasTarget:
			line("mx-host", m.Name, rootName(m.Target), u16(m.Pref))
		default:
			line("mx-host", m.Name, u16(m.Pref))
		}
	}
	if l.MXTarget != "" {
		line("mx-target", l.MXTarget)
	}
	flag("selfmx", l.SelfMX)
	flag("localmx", l.LocalMX)
	for _, p := range l.PTRs {
		line("ptr-record", p.Name, rootName(p.Target))
	}
	for _, n := range l.NAPTRs {
		line("naptr-record", n.Name, u16(n.Order), u16(n.Pref), n.Flags, n.Service, n.Regexp, rootName(n.Replacement))
	}
	for _, c := range l.CAAs {
		line("caa-record", c.Name, strconv.Itoa(int(c.Flags)), c.Tag, c.Value)
	}
	for _, r := range l.RRs {
		line("dns-rr", r.Name, u16(r.Type), hex.EncodeToString(r.Data))
	}
	for _, n := range l.InterfaceNames {
		iface := n.Interface
		if n.Family != 0 {
			iface += "/" + strconv.Itoa(n.Family)
		}
		line("interface-name", n.Name, iface)
	}
	for _, a := range l.Addresses {
		b.WriteString("address=/")
		for _, d := range a.Domains {
			if d == "" {
				d = "#"
			}
			b.WriteString(d + "/")
		}
		switch {
		case a.Null:
			b.WriteByte('#')
		case a.Addr.IsValid():
			b.WriteString(a.Addr.String())
		}
		b.WriteByte('\n')
	}
	if l.LocalTTL != 0 {
		line("local-ttl", strconv.FormatUint(uint64(l.LocalTTL), 10))
	}
	if l.HasDHCPTTL {
		line("dhcp-ttl", strconv.FormatUint(uint64(l.DHCPTTL), 10))
	}
	flag("localise-queries", l.LocaliseQueries)
}

func domainFields(d DomainRule) []string {
	f := []string{d.Domain}
	switch {
	case d.Prefix.IsValid():
		f = append(f, d.Prefix.String())
		if d.Local {
			f = append(f, "local")
		}
	case d.First.IsValid() && d.First == d.Last:
		f = append(f, d.First.String())
	case d.First.IsValid():
		f = append(f, d.First.String(), d.Last.String())
	case d.Interface != "":
		f = append(f, d.Interface)
	}
	return f
}

func u16(n uint16) string { return strconv.Itoa(int(n)) }

// rootName prints a target name; the root is written ".".
func rootName(s string) string {
	if s == "" {
		return "."
	}
	return s
}

// quoteField quotes one comma-separated field when the line rules or the
// comma split would change it.
func quoteField(s string) string {
	if q := quoteIfNeeded(s); q != s || !strings.Contains(s, ",") {
		return q
	}
	// Plain text with a comma: no quote or control character in it.
	return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"`
}
