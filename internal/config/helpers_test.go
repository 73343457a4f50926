package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// configWith returns Defaults() changed by edit.
func configWith(edit func(c *Config)) *Config {
	c := Defaults()
	if edit != nil {
		edit(c)
	}
	return c
}

// comparable returns a copy without the fields String does not print
// (Files, Server.Source, the actions), so configs from different sources
// can be compared.
func comparable(c *Config) Config {
	out := *c
	out.Files = nil
	out.Test, out.CheckSandbox, out.PrintConfig, out.Help, out.Version = false, false, false, false, false
	out.Servers = nil
	for _, s := range c.Servers {
		s.Source = ""
		out.Servers = append(out.Servers, s)
	}
	out.Local = stripSources(c.Local) // dns_localdata_test.go
	return out
}

func sameConfig(t *testing.T, got, want *Config) {
	t.Helper()
	if g, w := comparable(got), comparable(want); !reflect.DeepEqual(g, w) {
		t.Errorf("config differs\ngot:\n%s\nwant:\n%s\ngot  %+v\nwant %+v", got, want, g, w)
	}
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func upstream(addrPort string, domains ...string) Server {
	return Server{Domains: domains, Addr: netip.MustParseAddrPort(addrPort)}
}

func localOnly(domains ...string) Server { return Server{Domains: domains} }

// mustParse parses args with no default file.
func mustParse(t *testing.T, args ...string) *Config {
	t.Helper()
	c, err := Parse(args, "")
	if err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	return c
}

// firstLine is the first error of a joined error.
func firstLine(err error) string {
	if err == nil {
		return ""
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
