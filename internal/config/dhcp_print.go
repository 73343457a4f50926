package config

import (
	"strconv"
	"strings"
)

// printDHCP writes the DHCP options in the form their handlers read, one
// per line, in the order of DHCPConfig's fields; defaults are left out.
// Parsing the lines back gives an equal DHCPConfig.
func (d *DHCPConfig) printDHCP(b *strings.Builder) {
	line := func(name string, fields ...string) {
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(strings.Join(fields, ","))
		b.WriteByte('\n')
	}
	flag := func(name string, on bool) {
		if on {
			b.WriteString(name)
			b.WriteByte('\n')
		}
	}
	tagLines := func(name string, lists []Tags) {
		for _, l := range lists {
			if l == nil {
				b.WriteString(name + "\n")
				continue
			}
			f := make([]string, len(l))
			for i, t := range l {
				f[i] = "tag:" + t
			}
			line(name, f...)
		}
	}
	for _, r := range d.Ranges {
		line("dhcp-range", rangeFields(r)...)
	}
	for _, h := range d.Hosts {
		line("dhcp-host", hostFields(h)...)
	}
	for _, f := range d.HostsFiles {
		line("dhcp-hostsfile", quoteDHCPPath(f))
	}
	flag("read-ethers", d.ReadEthers)
	for _, o := range d.Options {
		name := "dhcp-option"
		if o.Force {
			name = "dhcp-option-force"
		}
		line(name, specText(o.Spec))
	}
	for _, m := range d.Matches {
		line("dhcp-match", specText(m))
	}
	for _, c := range d.Classes {
		line(c.Kind.OptionName(), "set:"+c.Tag, classText(c))
	}
	for _, m := range d.MACs {
		line("dhcp-mac", "set:"+m.Tag, m.Addr.String())
	}
	for _, m := range d.NameMatches {
		name := m.Name
		if m.Wildcard {
			name += "*"
		}
		line("dhcp-name-match", "set:"+m.Tag, name)
	}
	for _, t := range d.TagIfs {
		var f []string
		for _, s := range t.Set {
			f = append(f, "set:"+s)
		}
		for _, s := range t.Tags {
			f = append(f, "tag:"+s)
		}
		line("tag-if", f...)
	}
	tagLines("dhcp-ignore", d.Ignore)
	tagLines("dhcp-ignore-names", d.IgnoreNames)
	tagLines("dhcp-generate-names", d.GenerateNames)
	tagLines("dhcp-broadcast", d.Broadcast)
	for _, bt := range d.Boot {
		line("dhcp-boot", bootFields(bt)...)
	}
	for _, i := range d.NoInterfaces {
		line("no-dhcp-interface", i)
	}
	flag("dhcp-ignore-clid", d.IgnoreClientID)
	flag("dhcp-authoritative", d.Authoritative)
	flag("dhcp-rapid-commit", d.RapidCommit)
	flag("dhcp-no-override", d.NoOverride)
	flag("dhcp-sequential-ip", d.Sequential)
	flag("no-ping", d.NoPing)
	flag("log-dhcp", d.Log)
	flag("quiet-dhcp", d.Quiet)
	if d.LeaseMax != DefaultLeaseMax {
		line("dhcp-lease-max", strconv.Itoa(d.LeaseMax))
	}
	if d.LeaseFile != DefaultLeaseFile {
		line("dhcp-leasefile", quoteDHCPPath(d.LeaseFile))
	}
	flag("leasefile-ro", d.LeaseFileRO)
	if d.Script != "" {
		line("dhcp-script", quoteDHCPPath(d.Script))
	}
	if d.ScriptUser != "" {
		line("dhcp-scriptuser", d.ScriptUser)
	}
}

// classText writes the data of a class match: hex for a hex id, else
// the text, quoted where it would otherwise read differently.
func classText(c DHCPClassMatch) string {
	if c.Hex {
		parts := make([]string, len(c.Data))
		for i, x := range c.Data {
			parts[i] = strconv.FormatUint(uint64(x)|0x100, 16)[1:]
		}
		if len(parts) == 1 {
			return parts[0] + ":" // a colon makes it hex
		}
		return strings.Join(parts, ":")
	}
	s := string(c.Data)
	if (c.Kind == CircuitID || c.Kind == RemoteID) && isHexID(plainValue(s)) {
		return forceQuote(s)
	}
	if c.Kind == VendorClass && strings.HasPrefix(s, "enterprise:") {
		return forceQuote(s)
	}
	return quoteDHCPField(s)
}

// needsQuotes reports whether s would change on its way through the line
// syntax: surrounding spaces, '"', control characters, or a '#' after a
// space (a comment).
func needsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c < ' ' || c == 0x7f || c == '#' && i > 0 && s[i-1] == ' ' {
			return true
		}
	}
	return false
}

// forceQuote writes s in double quotes with the escapes the lexer knows.
func forceQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\b':
			b.WriteString(`\b`)
		case '\033':
			b.WriteString(`\e`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// quoteDHCPField quotes a field of a comma-separated value when it holds
// a comma or needs quotes for the line syntax.
func quoteDHCPField(s string) string {
	if strings.IndexByte(s, ',') >= 0 || needsQuotes(s) {
		return forceQuote(s)
	}
	return s
}

// quoteDHCPPath quotes a whole-value path only where the line syntax
// needs it (commas do not split a path).
func quoteDHCPPath(s string) string {
	if needsQuotes(s) {
		return forceQuote(s)
	}
	return s
}
