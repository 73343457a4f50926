package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCommandLine covers getopt_long's forms as dnsmasq 2.90 accepts them
// (each checked with dnsmasq --test).
func TestCommandLine(t *testing.T) {
	port := func(n int) *Config { return configWith(func(c *Config) { c.Port = n }) }
	tests := []struct {
		name string
		args []string
		want *Config
	}{
		{"long=", []string{"--port=5353"}, port(5353)},
		{"long separate", []string{"--port", "5353"}, port(5353)},
		// getopt_long takes unambiguous prefixes (dnsmasq: --no-res works,
		// --po is ambiguous: port, port-limit).
		{"long prefix", []string{"--no-res", "--bind-i"}, configWith(func(c *Config) { c.NoResolv, c.BindInterfaces = true, true })},
		{"short attached", []string{"-p5353"}, port(5353)},
		{"short separate", []string{"-p", "5353"}, port(5353)},
		{"bundled flags", []string{"-kd"}, configWith(func(c *Config) { c.KeepInForeground, c.NoDaemon = true, true })},
		{"bundle ending in value", []string{"-kdp53", "-zR"}, configWith(func(c *Config) {
			c.KeepInForeground, c.NoDaemon, c.Port, c.BindInterfaces, c.NoResolv = true, true, 53, true, true
		})},
		{"bundle then separate value", []string{"-kp", "54"}, configWith(func(c *Config) { c.KeepInForeground, c.Port = true, 54 })},
		// -c takes a value although --cache-size's is optional.
		{"short of optional long", []string{"-c", "10"}, configWith(func(c *Config) { c.CacheSize = 10 })},
		{"optional with =", []string{"--log-queries=extra"}, configWith(func(c *Config) { c.LogQueries, c.LogQueriesExtra = true, "extra" })},
		{"-q takes no value", []string{"-q"}, configWith(func(c *Config) { c.LogQueries = true })},
		{"optional bare", []string{"--user", "--pid-file"}, configWith(func(c *Config) { c.User, c.PidFile = "", "" })},
		{"lists", []string{"-a", "127.0.0.1, ::1", "-i", "lo,eth*", "-I", "eth9", "--interface=veth0"}, configWith(func(c *Config) {
			c.ListenAddresses = addrs("127.0.0.1", "::1")
			c.Interfaces = []string{"lo", "eth*", "veth0"}
			c.ExceptInterfaces = []string{"eth9"}
		})},
		{"servers", []string{"-S", "/example/192.0.2.1", "--server=192.0.2.2#54", "--local=/lan/", "-S//192.0.2.3"}, configWith(func(c *Config) {
			c.Servers = []Server{
				upstream("192.0.2.1:53", "example"),
				upstream("192.0.2.2:54"),
				localOnly("lan"),
				upstream("192.0.2.3:53", ""),
			}
		})},
		{"files and users", []string{"-r", "/r1", "-r/r2", "-H", "/h", "-h", "-u", "dns", "-g", "dns", "-8", "-", "-x", "/p.pid"}, configWith(func(c *Config) {
			c.ResolvFiles = []string{"/r1", "/r2"}
			c.AddnHosts = []string{"/h"}
			c.NoHosts = true
			c.User, c.Group = "dns", "dns"
			c.LogFacility = "-"
			c.PidFile = "/p.pid"
		})},
		{"dhcp-range", []string{"-F", "10.0.0.10,10.0.0.20,1h"}, configWith(func(c *Config) {
			c.DHCP.Ranges = []DHCPRange{{Start: dhcpIP("10.0.0.10"), End: dhcpIP("10.0.0.20"), Lease: 3600}}
		})},
		{"actions", []string{"--test", "--print-config", "--check-sandbox", "--run-dir=/tmp/moat-run"}, configWith(func(c *Config) {
			c.Test, c.PrintConfig, c.CheckSandbox = true, true, true
			c.RunDir = "/tmp/moat-run"
		})},
		{"blank arguments", []string{"", " ", "-p", "1"}, port(1)},
		// dnsmasq reads files after the command line, and a single-valued
		// option in a file overrides the command line's (port 5353 wins).
		{"file overrides command line", []string{"-p", "1", "-C", "testdata/good/port.conf"}, port(5353)},
		{"help stops parsing", []string{"--help", "--bogus"}, configWith(func(c *Config) { c.Help = true })},
		{"-w", []string{"-p1", "-w", "-p2"}, configWith(func(c *Config) { c.Help, c.Port = true, 1 })},
		{"version", []string{"-v"}, configWith(func(c *Config) { c.Version = true })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, tt.args...)
			sameConfig(t, got, tt.want)
			for _, flag := range []struct {
				name      string
				got, want bool
			}{
				{"Test", got.Test, tt.want.Test},
				{"PrintConfig", got.PrintConfig, tt.want.PrintConfig},
				{"CheckSandbox", got.CheckSandbox, tt.want.CheckSandbox},
				{"Help", got.Help, tt.want.Help},
				{"Version", got.Version, tt.want.Version},
			} {
				if flag.got != flag.want {
					t.Errorf("%s = %v, want %v", flag.name, flag.got, flag.want)
				}
			}
		})
	}
}

func TestCommandLineErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--frobnicate"}, "command line: frobnicate: unknown option"},
		{[]string{"--po=5353"}, "command line: po: ambiguous option; could be port, port-limit"},
		{[]string{"--bogus"}, "command line: bogus: ambiguous option; could be bogus-nxdomain, bogus-priv"},
		{[]string{"-%"}, "command line: -%: unknown option"},
		{[]string{"--no"}, "command line: no: ambiguous option; could be no-0x20-encode, no-daemon, no-dhcp-interface, no-dhcpv4-interface, no-dhcpv6-interface, no-hosts, no-ident, no-negcache, no-ping, no-poll, no-resolv, no-round-robin"},
		{[]string{"--bootp-dynamic=x"}, "command line: bootp-dynamic: unsupported option"},
		{[]string{"-3", "x"}, "command line: bootp-dynamic: unsupported option"},
		{[]string{"--port"}, "command line: port: missing value"},
		{[]string{"-p"}, "command line: port: missing value"},
		{[]string{"-kp"}, "command line: port: missing value"},
		{[]string{"--cache-size"}, "command line: cache-size: missing value"},
		// An optional value needs "=": the next word is not taken.
		{[]string{"--cache-size", "53"}, "command line: cache-size: missing value"},
		{[]string{"--log-queries", "extra"}, `command line: "extra": unexpected argument (not an option)`},
		{[]string{"-q", "extra"}, `command line: "extra": unexpected argument (not an option)`},
		{[]string{"--no-resolv=1"}, `command line: no-resolv: takes no value (got "1")`},
		{[]string{"-p", "1", "-p", "2"}, "command line: port: given more than once (first at command line)"},
		{[]string{"--", "-p", "5"}, `command line: "-p": unexpected argument (not an option)`},
		{[]string{"junk"}, `command line: "junk": unexpected argument (not an option)`},
		{[]string{"-"}, `command line: "-": unexpected argument (not an option)`},
		{[]string{"--frobnicate", "--help"}, "command line: frobnicate: unknown option"},
		{[]string{"--conf-file=-"}, `command line: conf-file: reading the configuration from stdin ("-") not supported yet`},
		{[]string{"-C", "testdata/no-such.conf"}, "command line: conf-file: stat testdata/no-such.conf: no such file or directory"},
		{[]string{"--test", "-C", "testdata/bad/port-abc.conf"}, `testdata/bad/port-abc.conf:3: port: "abc" is not a port number`},
		{[]string{"--run-dir=rel"}, `command line: run-dir: "rel" is not an absolute path`},
		{[]string{"--server=192.0.2.1@eth*"}, `command line: server: "eth*": an @interface cannot be a pattern`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			c, err := Parse(tt.args, "")
			if err == nil {
				t.Fatalf("Parse(%q) succeeded:\n%s", tt.args, c)
			}
			if got := firstLine(err); got != tt.want {
				t.Errorf("Parse(%q)\n got: %s\nwant: %s", tt.args, got, tt.want)
			}
		})
	}
}

// TestConfFileOrder: dnsmasq reads the command line's first conf-file
// after the rest of the command line and later ones at once, so here
// second.conf is read before first.conf.
func TestConfFileOrder(t *testing.T) {
	c := mustParse(t, "-C", "testdata/order/first.conf", "--conf-file=testdata/order/second.conf")
	if want := []string{"/second", "/first"}; !equalStrings(c.AddnHosts, want) {
		t.Errorf("AddnHosts = %q, want %q", c.AddnHosts, want)
	}
	if want := []string{"testdata/order/second.conf", "testdata/order/first.conf"}; !equalStrings(c.Files, want) {
		t.Errorf("Files = %q, want %q", c.Files, want)
	}
	// The same file twice is read once, as in dnsmasq.
	c = mustParse(t, "-C", "testdata/order/first.conf", "-C", "testdata/order/first.conf")
	if want := []string{"/first"}; !equalStrings(c.AddnHosts, want) {
		t.Errorf("repeated file: AddnHosts = %q, want %q", c.AddnHosts, want)
	}
}

func TestDefaultFile(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "moat.conf")
	if err := os.WriteFile(def, []byte("port=5400\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(nil, def)
	if err != nil || c.Port != 5400 || !equalStrings(c.Files, []string{def}) {
		t.Errorf("default file: port %v, files %v, err %v", c.Port, c.Files, err)
	}
	// A conf-file on the command line replaces the default file.
	c, err = Parse([]string{"-C", "testdata/good/empty.conf"}, def)
	if err != nil || c.Port != DefaultPort || !equalStrings(c.Files, []string{"testdata/good/empty.conf"}) {
		t.Errorf("with -C: port %v, files %v, err %v", c.Port, c.Files, err)
	}
	// An empty or bare conf-file reads nothing, and keeps the default
	// file from being read too (dnsmasq 2.90 does the same).
	for _, args := range [][]string{{"--conf-file="}, {"--conf-file"}, {"-C", ""}} {
		c, err = Parse(args, def)
		if err != nil || c.Port != DefaultPort || len(c.Files) != 0 {
			t.Errorf("%q with a default file: port %v, files %v, err %v", args, c.Port, c.Files, err)
		}
	}
	// Then a second -C is read after the command line, as the first.
	c, err = Parse([]string{"--conf-file=", "-C", "testdata/good/port.conf", "-p", "1"}, def)
	if err != nil || c.Port != 5353 || !equalStrings(c.Files, []string{"testdata/good/port.conf"}) {
		t.Errorf("empty -C then -C: port %v, files %v, err %v", c.Port, c.Files, err)
	}
	// A missing default file is fine, as for dnsmasq.
	c, err = Parse([]string{"-p", "1"}, filepath.Join(dir, "absent.conf"))
	if err != nil || c.Port != 1 || len(c.Files) != 0 {
		t.Errorf("absent default: port %v, files %v, err %v", c.Port, c.Files, err)
	}
	// "" means no default file.
	if c, err := Parse(nil, ""); err != nil || len(c.Files) != 0 {
		t.Errorf("no default: files %v, err %v", c.Files, err)
	}
	// A default file that cannot be read is an error.
	_, err = Parse(nil, dir)
	if want := "command line: conf-file: " + dir + " is a directory (conf-dir reads directories)"; firstLine(err) != want {
		t.Errorf("directory as default file: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t)
	if c.Port != 53 || c.CacheSize != 150 || c.User != "nobody" || c.PidFile != DefaultPidFile ||
		!equalStrings(c.ResolvFiles, []string{"/etc/resolv.conf"}) || c.RunDir != "" {
		t.Errorf("defaults: %+v", c)
	}
	// The first resolv-file replaces the default; later ones add.
	c = mustParse(t, "-r", "/a", "-r", "/b")
	if !equalStrings(c.ResolvFiles, []string{"/a", "/b"}) {
		t.Errorf("ResolvFiles = %q", c.ResolvFiles)
	}
	// A bare first one leaves none; a later bare one changes nothing.
	c = mustParse(t, "--resolv-file", "-r", "/a", "--resolv-file")
	if !equalStrings(c.ResolvFiles, []string{"/a"}) {
		t.Errorf("ResolvFiles = %q", c.ResolvFiles)
	}
}
