package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// parseLines writes lines to a file and parses it, so errors carry
// file:line.
func parseLines(t *testing.T, lines ...string) (*Config, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.conf")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]string{"-C", path}, "")
	return c, path, err
}

func TestDNSFiltersParse(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  func(f *DNSFilters)
	}{
		{"defaults", nil, func(f *DNSFilters) {}},
		{"flags", []string{"domain-needed", "bogus-priv", "stop-dns-rebind", "rebind-localhost-ok", "filterwin2k", "filter-A", "filter-AAAA", "no-ident"},
			func(f *DNSFilters) {
				f.DomainNeeded, f.BogusPriv, f.StopDNSRebind, f.RebindLocalhostOK = true, true, true, true
				f.FilterWin2k, f.FilterA, f.FilterAAAA, f.NoIdent = true, true, true, true
			}},
		{"openwrt filter-aaaa", []string{"filter-aaaa"}, func(f *DNSFilters) { f.FilterAAAA = true }},
		{"bogus-nxdomain forms", []string{"bogus-nxdomain=64.94.110.11", "bogus-nxdomain=10.1.2.3/8", "bogus-nxdomain=2001:db8::1", "bogus-nxdomain=fd00::/8", "bogus-nxdomain=1.2.3.4/0"},
			func(f *DNSFilters) {
				f.BogusNXDomain = prefixes("64.94.110.11/32", "10.1.2.3/8", "2001:db8::1/128", "fd00::/8", "1.2.3.4/0")
			}},
		{"ignore-address", []string{"ignore-address=192.0.2.1", "ignore-address=::ffff:1.2.3.4/120"},
			func(f *DNSFilters) { f.IgnoreAddress = prefixes("192.0.2.1/32", "::ffff:1.2.3.4/120") }},
		{"rebind-domain-ok forms", []string{"rebind-domain-ok=Lan", "rebind-domain-ok=/a.example/b.example/", "rebind-domain-ok=/c.example", "rebind-domain-ok=d.example/e.example."},
			func(f *DNSFilters) {
				f.RebindDomainOK = []string{"lan", "a.example", "b.example", "c.example", "d.example", "e.example"}
			}},
		{"filter-rr names numbers duplicates", []string{"filter-rr=ANY", "filter-rr=mx,Txt,16,65535", "filter-rr=SPF"},
			func(f *DNSFilters) {
				f.FilterRR = []uint16{dns.TypeANY, dns.TypeMX, dns.TypeTXT, 65535, dns.TypeSPF}
			}},
		{"local-service bare", []string{"local-service"}, func(f *DNSFilters) { f.LocalService = "net" }},
		{"local-service net", []string{"local-service=net"}, func(f *DNSFilters) { f.LocalService = "net" }},
		{"local-service host", []string{"local-service=host"}, func(f *DNSFilters) { f.LocalService = "host" }},
		{"edns-packet-max", []string{"edns-packet-max=4096"}, func(f *DNSFilters) { f.EDNSPacketMax = 4096 }},
		{"edns-packet-max 0", []string{"edns-packet-max=0"}, func(f *DNSFilters) { f.EDNSPacketMax = 0 }},
		{"add-mac all forms", []string{"add-mac", "add-mac=base64", "add-mac=text"},
			func(f *DNSFilters) { f.AddMAC, f.AddMACBase64, f.AddMACText = true, true, true }},
		{"add-subnet bare", []string{"add-subnet"}, func(f *DNSFilters) { f.AddSubnet.Enabled = true }},
		{"add-subnet v4 only", []string{"add-subnet=24"}, func(f *DNSFilters) {
			f.AddSubnet = ClientSubnet{Enabled: true, V4: SubnetSource{Set: true, Bits: 24}}
		}},
		{"add-subnet both", []string{"add-subnet=24,96"}, func(f *DNSFilters) {
			f.AddSubnet = ClientSubnet{Enabled: true, V4: SubnetSource{Set: true, Bits: 24}, V6: SubnetSource{Set: true, Bits: 96}}
		}},
		{"add-subnet fixed addresses", []string{"add-subnet=1.2.3.4/24,1.2.3.4/24"}, func(f *DNSFilters) {
			src := SubnetSource{Set: true, Bits: 24, Addr: netip.MustParseAddr("1.2.3.4")}
			f.AddSubnet = ClientSubnet{Enabled: true, V4: src, V6: src}
		}},
		{"add-subnet v6 address in first slot", []string{"add-subnet=2001:db8::/48,0"}, func(f *DNSFilters) {
			f.AddSubnet = ClientSubnet{Enabled: true, V4: SubnetSource{Set: true, Bits: 48, Addr: netip.MustParseAddr("2001:db8::")}, V6: SubnetSource{Set: true}}
		}},
		{"later add-subnet keeps the v6 part", []string{"add-subnet=24,56", "add-subnet=16"}, func(f *DNSFilters) {
			f.AddSubnet = ClientSubnet{Enabled: true, V4: SubnetSource{Set: true, Bits: 16}, V6: SubnetSource{Set: true, Bits: 56}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := parseLines(t, tt.lines...)
			if err != nil {
				t.Fatal(err)
			}
			want := DefaultDNSFilters()
			tt.want(&want)
			if !reflect.DeepEqual(c.Filters, want) {
				t.Errorf("got  %+v\nwant %+v", c.Filters, want)
			}
			roundTrip(t, c)
		})
	}
}

func TestDNSFiltersErrors(t *testing.T) {
	tests := []struct {
		line string
		want string // after "file:2: "
	}{
		{"bogus-nxdomain=example.com", `bogus-nxdomain: "example.com" is not an IP address`},
		{"bogus-nxdomain=1.2.3.4/33", `bogus-nxdomain: "33" is out of range (0 to 32)`},
		{"bogus-nxdomain=::1/129", `bogus-nxdomain: "129" is out of range (0 to 128)`},
		{"bogus-nxdomain=1.2.3.4/", `bogus-nxdomain: empty value`},
		{"bogus-nxdomain=fe80::1%eth0", `bogus-nxdomain: "fe80::1%eth0" is not an IP address`},
		{"bogus-nxdomain", `bogus-nxdomain: missing value`},
		{"ignore-address=1.2.3.4/x", `ignore-address: "x" is not a prefix length`},
		{"rebind-domain-ok=//", `rebind-domain-ok: "//": empty domain`},
		{"rebind-domain-ok=/a//b/", `rebind-domain-ok: "/a//b/": empty domain`},
		{"rebind-domain-ok=/a b/", `rebind-domain-ok: "a b" is not a domain name (character ' ')`},
		{"filter-rr=TYPE99", `filter-rr: "TYPE99" is not an RR type`},
		{"filter-rr=0", `filter-rr: 0 is not an RR type`},
		{"filter-rr=65536", `filter-rr: "65536" is out of range (0 to 65535)`},
		{"filter-rr=A,,MX", `filter-rr: empty RR type`},
		{"filter-rr=", `filter-rr: empty RR type`},
		{"local-service=lan", `local-service: "lan" is not net or host`},
		{"edns-packet-max=65536", `edns-packet-max: "65536" is out of range (0 to 65535)`},
		{"edns-packet-max=-1", `edns-packet-max: "-1" is not a packet size`},
		{"add-mac=hex", `add-mac: "hex" is not base64 or text`},
		{"add-subnet=33", `add-subnet: "33" is out of range (0 to 32)`},
		{"add-subnet=24,129", `add-subnet: "129" is out of range (0 to 128)`},
		{"add-subnet=1.2.3.4", `add-subnet: "1.2.3.4" is not a prefix length`},
		{"add-subnet=a/24", `add-subnet: "a" is not an IP address`},
		{"add-subnet=,64", `add-subnet: empty value`},
		{"add-subnet=::1/129", `add-subnet: "129" is out of range (0 to 128)`},
		{"domain-needed=yes", `domain-needed: takes no value (got "yes")`},
		{"filter-aaaa=1", `filter-aaaa: takes no value (got "1")`},
		{"no-ident=", `no-ident: takes no value (got "")`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, path, err := parseLines(t, "# a comment", tt.line)
			if want := path + ":2: " + tt.want; firstLine(err) != want {
				t.Errorf("got  %v\nwant %s", err, want)
			}
		})
	}
}

func TestEDNSPacketMaxOnce(t *testing.T) {
	_, path, err := parseLines(t, "edns-packet-max=1000", "edns-packet-max=2000")
	if want := path + ":2: edns-packet-max: given more than once (first at " + path + ":1)"; firstLine(err) != want {
		t.Errorf("got %v, want %s", err, want)
	}
	// The file's value overrides the command line's, as in dnsmasq.
	path = filepath.Join(t.TempDir(), "f.conf")
	if err := os.WriteFile(path, []byte("edns-packet-max=2000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, "-P", "1000", "-C", path)
	if c.Filters.EDNSPacketMax != 2000 {
		t.Errorf("EDNSPacketMax = %d, want 2000", c.Filters.EDNSPacketMax)
	}
}

func TestDNSFiltersCommandLine(t *testing.T) {
	c := mustParse(t, "-D", "-b", "-f", "-B", "1.2.3.4", "-P", "4096", "--filter-aaaa", "--add-mac=text", "--add-subnet=24,48", "--local-service")
	f := c.Filters
	if !f.DomainNeeded || !f.BogusPriv || !f.FilterWin2k || !f.FilterAAAA || !f.AddMACText || f.LocalService != "net" ||
		f.EDNSPacketMax != 4096 || !reflect.DeepEqual(f.BogusNXDomain, prefixes("1.2.3.4/32")) ||
		f.AddSubnet != (ClientSubnet{Enabled: true, V4: SubnetSource{Set: true, Bits: 24}, V6: SubnetSource{Set: true, Bits: 48}}) {
		t.Errorf("filters %+v", f)
	}
}

func TestDNSFiltersPrint(t *testing.T) {
	c := mustParse(t, "-C", "testdata/good/filters.conf")
	var got []string
	for _, l := range strings.Split(c.String(), "\n") {
		name, _, _ := strings.Cut(l, "=")
		if byName[name] != nil && byName[name].apply != nil && isFilterOption(name) {
			got = append(got, l)
		}
	}
	want := []string{
		"domain-needed",
		"bogus-priv",
		"bogus-nxdomain=64.94.110.11",
		"bogus-nxdomain=10.0.0.0/8",
		"ignore-address=192.0.2.66",
		"stop-dns-rebind",
		"rebind-localhost-ok",
		"rebind-domain-ok=/lan/home.arpa/",
		"filterwin2k",
		"filter-rr=ANY,MX,TXT",
		"filter-A",
		"filter-AAAA",
		"local-service=net",
		"edns-packet-max=4096",
		"add-mac",
		"add-mac=base64",
		"add-subnet=1.2.3.4/24,56",
		"no-ident",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func isFilterOption(name string) bool {
	switch name {
	case "domain-needed", "bogus-priv", "bogus-nxdomain", "ignore-address", "stop-dns-rebind",
		"rebind-localhost-ok", "rebind-domain-ok", "filterwin2k", "filter-rr", "filter-A",
		"filter-AAAA", "filter-aaaa", "local-service", "edns-packet-max", "add-mac", "add-subnet", "no-ident":
		return true
	}
	return false
}

func FuzzDNSFilterValues(f *testing.F) {
	for _, s := range []string{"1.2.3.4/24", "24,96", "/a/b/", "ANY,MX", "::1/128,0", "x"} {
		f.Add(s)
	}
	options := []string{"bogus-nxdomain", "ignore-address", "rebind-domain-ok", "filter-rr", "add-subnet", "local-service", "edns-packet-max", "add-mac"}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsAny(v, "\n\r\x00") {
			return
		}
		for _, o := range options {
			c, err := Parse([]string{"--" + o + "=" + v}, "")
			if err != nil {
				continue
			}
			// Whatever parses must print and parse back the same.
			back, err := Parse(configArgs(c.String()), "")
			if err != nil {
				t.Fatalf("%s=%q: printed form does not parse: %v\n%s", o, v, err, c.String())
			}
			if !reflect.DeepEqual(back.Filters, c.Filters) {
				t.Fatalf("%s=%q: round trip %+v != %+v", o, v, back.Filters, c.Filters)
			}
		}
	})
}

// configArgs turns printed option lines into command-line arguments.
func configArgs(text string) []string {
	var args []string
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if l != "" {
			args = append(args, "--"+l)
		}
	}
	return args
}

// TestFilterAAAASpelling: OpenWrt's filter-aaaa is accepted in full, but
// a shortened --filter-a on the command line is not taken for it.
func TestFilterAAAASpelling(t *testing.T) {
	c := mustParse(t, "--filter-aaaa")
	if !c.Filters.FilterAAAA {
		t.Error("--filter-aaaa did not set filter-AAAA")
	}
	if _, err := Parse([]string{"--filter-a"}, ""); firstLine(err) != "command line: filter-a: unknown option" {
		t.Errorf("--filter-a: %v, want unknown option", err)
	}
	if _, err := Parse([]string{"--filter-aa"}, ""); firstLine(err) != "command line: filter-aa: unknown option" {
		t.Errorf("--filter-aa: %v, want unknown option", err)
	}
}
