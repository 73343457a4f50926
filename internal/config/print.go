package config

import (
	"strconv"
	"strings"
)

// String prints the configuration back in normalized option=value form,
// one option per line, in a stable order; parsing the output gives an
// equal Config, apart from Files, Server.Source and the command-line
// actions (test, help, ...), which String leaves out. Every setting is
// printed, defaults included, so the output shows what is in effect.
func (c *Config) String() string {
	var b strings.Builder
	line := func(name, val string) {
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(quoteIfNeeded(val))
		b.WriteByte('\n')
	}
	flag := func(name string, on bool) {
		if on {
			b.WriteString(name)
			b.WriteByte('\n')
		}
	}
	line("port", strconv.Itoa(c.Port))
	for _, a := range c.ListenAddresses {
		line("listen-address", a.String())
	}
	for _, i := range c.Interfaces {
		line("interface", i)
	}
	for _, i := range c.ExceptInterfaces {
		line("except-interface", i)
	}
	flag("bind-interfaces", c.BindInterfaces)
	c.Runtime.print(line, flag) // bind-dynamic, log-async (runtime_options.go)
	for _, s := range c.Servers {
		name, val := serverLine(s)
		line(name, val)
	}
	flag("no-resolv", c.NoResolv)
	if len(c.ResolvFiles) == 0 {
		b.WriteString("resolv-file\n") // bare: read no resolv file
	}
	for _, f := range c.ResolvFiles {
		line("resolv-file", f)
	}
	line("cache-size", strconv.Itoa(c.CacheSize))
	printCache(c.Cache, line, flag)
	flag("no-hosts", c.NoHosts)
	for _, f := range c.AddnHosts {
		line("addn-hosts", f)
	}
	c.Local.printLocalData(&b)
	line("user", c.User)
	if c.Group != "" {
		line("group", c.Group)
	}
	printRoleUsers(c, line) // dns-user, dhcp-user (role_users.go)
	flag("keep-in-foreground", c.KeepInForeground)
	flag("no-daemon", c.NoDaemon)
	switch {
	case c.LogQueries && c.LogQueriesExtra != "":
		line("log-queries", c.LogQueriesExtra)
	default:
		flag("log-queries", c.LogQueries)
	}
	if c.LogFacility != "" {
		line("log-facility", c.LogFacility)
	}
	line("pid-file", c.PidFile)
	c.DHCP.printDHCP(&b)
	c.Filters.print(line, flag)
	c.printDNSUpstream(line, flag)
	if c.RunDir != "" {
		line("run-dir", c.RunDir)
	}
	printSocketFilter(c, line) // sockfilter.go
	print0x20(c, flag)         // case0x20.go
	printControl(c, line)      // control.go
	c.Compat.print(line, flag) // accepted, not acted on (compat_options.go)
	return b.String()
}

// serverLine prints one Server in the form setServer reads.
func serverLine(s Server) (name, val string) {
	if s.RevPrefix.IsValid() {
		return revServerLine(s)
	}
	var b strings.Builder
	if len(s.Domains) > 0 {
		b.WriteByte('/')
		for _, d := range s.Domains {
			b.WriteString(d)
			b.WriteByte('/')
		}
	}
	name = "server"
	switch {
	case s.UseStandard:
		b.WriteByte('#')
	case !s.Addr.IsValid():
		name = "local"
	default:
		b.WriteString(s.Addr.Addr().String())
		if s.Addr.Port() != DefaultPort {
			b.WriteByte('#')
			b.WriteString(strconv.Itoa(int(s.Addr.Port())))
		}
		b.WriteString(s.Bind.String())
	}
	return name, b.String()
}

// quoteIfNeeded quotes a value that the line rules would otherwise change:
// leading or trailing spaces, a '#' after a space (a comment), '"', tabs
// and other control characters.
func quoteIfNeeded(s string) string {
	plain := s == "" || s[0] != ' ' && s[len(s)-1] != ' '
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c != '"' && c >= ' ' && c != 0x7f && !(c == '#' && i > 0 && s[i-1] == ' ')
	}
	if plain {
		return s
	}
	return forceQuote(s)
}
