package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestUpstreamPolicyOptions(t *testing.T) {
	tests := []struct {
		args []string
		edit func(u *DNSUpstream)
	}{
		{nil, func(u *DNSUpstream) {}},
		{[]string{"--strict-order"}, func(u *DNSUpstream) { u.StrictOrder = true }},
		{[]string{"-o"}, func(u *DNSUpstream) { u.StrictOrder = true }},
		{[]string{"--all-servers"}, func(u *DNSUpstream) { u.AllServers = true }},
		{[]string{"--dns-forward-max=1000"}, func(u *DNSUpstream) { u.ForwardMax = 1000 }},
		{[]string{"-0", "0"}, func(u *DNSUpstream) { u.ForwardMax = 0 }},
		{[]string{"--query-port=5353"}, func(u *DNSUpstream) { u.QueryPort = 5353 }},
		{[]string{"-Q", "0"}, func(u *DNSUpstream) { u.QueryPort = 0 }},
		{[]string{"--min-port=2000", "--max-port=3000"}, func(u *DNSUpstream) { u.MinPort, u.MaxPort = 2000, 3000 }},
		{[]string{"--max-port=0"}, func(u *DNSUpstream) {}},
		{[]string{"--fast-dns-retry"}, func(u *DNSUpstream) { u.FastRetry = 1000 }},
		{[]string{"--fast-dns-retry=50"}, func(u *DNSUpstream) { u.FastRetry = 50 }},
		{[]string{"--fast-dns-retry=200,3000"}, func(u *DNSUpstream) { u.FastRetry, u.FastRetryTotal = 200, 3000 }},
		{[]string{"--fast-dns-retry=200,"}, func(u *DNSUpstream) { u.FastRetry = 200 }},
		{[]string{"--dns-loop-detect"}, func(u *DNSUpstream) { u.LoopDetect = true }},
		{[]string{"--no-poll", "-n"}, func(u *DNSUpstream) { u.NoPoll = true }},
		{[]string{"--servers-file=/etc/moat/servers"}, func(u *DNSUpstream) { u.ServersFile = "/etc/moat/servers" }},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := mustParse(t, tt.args...)
			want := DefaultDNSUpstream()
			tt.edit(&want)
			if c.Upstream != want {
				t.Errorf("Upstream = %+v, want %+v", c.Upstream, want)
			}
			roundTrip(t, c)
		})
	}
}

func TestUpstreamPolicyErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--dns-forward-max="}, "command line: dns-forward-max: empty value"},
		{[]string{"--dns-forward-max=abc"}, `command line: dns-forward-max: "abc" is not a number`},
		{[]string{"--dns-forward-max=1", "--dns-forward-max=2"}, "command line: dns-forward-max: given more than once (first at command line)"},
		{[]string{"--query-port=70000"}, `command line: query-port: "70000" is out of range (0 to 65535)`},
		{[]string{"--query-port=-1"}, `command line: query-port: "-1" is not a port number`},
		{[]string{"--min-port=70000"}, `command line: min-port: "70000" is out of range (0 to 65535)`},
		{[]string{"--max-port=x"}, `command line: max-port: "x" is not a port number`},
		{[]string{"--fast-dns-retry=49"}, "command line: fast-dns-retry: retry delay 49ms is below 50ms"},
		{[]string{"--fast-dns-retry=,100"}, "command line: fast-dns-retry: empty value"},
		{[]string{"--fast-dns-retry=100,abc"}, `command line: fast-dns-retry: "abc" is not a number of milliseconds`},
		{[]string{"--strict-order=yes"}, `command line: strict-order: takes no value (got "yes")`},
		{[]string{"--servers-file="}, "command line: servers-file: empty file name"},
		{[]string{"--servers-file=/a", "--servers-file=/b"}, "command line: servers-file: given more than once (first at command line)"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := Parse(tt.args, "")
			if got := firstLine(err); got != tt.want {
				t.Errorf("\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

// TestCheckPorts: dnsmasq accepts max-port below min-port in --test and
// refuses to start; the master calls CheckPorts at start.
func TestCheckPorts(t *testing.T) {
	for _, tt := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"--min-port=3000", "--max-port=3000"}, true},
		{[]string{"--min-port=3000", "--max-port=2000"}, false},
		{[]string{"--max-port=500"}, false},
	} {
		c := mustParse(t, tt.args...)
		if err := c.Upstream.CheckPorts(); (err == nil) != tt.ok {
			t.Errorf("%v: CheckPorts() = %v", tt.args, err)
		}
	}
}

func TestRevServer(t *testing.T) {
	tests := []struct {
		arg  string
		want Server
	}{
		{"192.168.1.0/24,192.0.2.1", upstream("192.0.2.1:53", "1.168.192.in-addr.arpa")},
		{"192.168.1.7/24,192.0.2.1#5353", upstream("192.0.2.1:5353", "1.168.192.in-addr.arpa")},
		{"10.0.0.0/8", localOnly("10.in-addr.arpa")},
		{"10.1.2.3", localOnly("3.2.1.10.in-addr.arpa")},
		{"10.1.2.3,192.0.2.1", upstream("192.0.2.1:53", "3.2.1.10.in-addr.arpa")},
		{"192.168.0.0/23,192.0.2.1", upstream("192.0.2.1:53", "0.168.192.in-addr.arpa", "1.168.192.in-addr.arpa")},
		{"172.16.0.0/12,#", Server{Domains: []string{"16.172.in-addr.arpa", "17.172.in-addr.arpa", "18.172.in-addr.arpa",
			"19.172.in-addr.arpa", "20.172.in-addr.arpa", "21.172.in-addr.arpa", "22.172.in-addr.arpa", "23.172.in-addr.arpa",
			"24.172.in-addr.arpa", "25.172.in-addr.arpa", "26.172.in-addr.arpa", "27.172.in-addr.arpa", "28.172.in-addr.arpa",
			"29.172.in-addr.arpa", "30.172.in-addr.arpa", "31.172.in-addr.arpa"}, UseStandard: true}},
		{"2001:db8::/32,192.0.2.1", upstream("192.0.2.1:53", "8.b.d.0.1.0.0.2.ip6.arpa")},
		{"2001:db8::/33,192.0.2.1", upstream("192.0.2.1:53",
			"0.8.b.d.0.1.0.0.2.ip6.arpa", "1.8.b.d.0.1.0.0.2.ip6.arpa", "2.8.b.d.0.1.0.0.2.ip6.arpa", "3.8.b.d.0.1.0.0.2.ip6.arpa",
			"4.8.b.d.0.1.0.0.2.ip6.arpa", "5.8.b.d.0.1.0.0.2.ip6.arpa", "6.8.b.d.0.1.0.0.2.ip6.arpa", "7.8.b.d.0.1.0.0.2.ip6.arpa")},
		{"fd00:ab::/36,192.0.2.1@lo", bound(upstream("192.0.2.1:53", "0.b.a.0.0.0.0.d.f.ip6.arpa"), "", 0, "lo")},
		{"::ffff:10.0.0.0/8,192.0.2.1", upstream("192.0.2.1:53", "10.in-addr.arpa")},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			c := mustParse(t, "--rev-server="+tt.arg)
			if len(c.Servers) != 1 {
				t.Fatalf("%d servers", len(c.Servers))
			}
			got := c.Servers[0]
			if !got.RevPrefix.IsValid() || got.RevPrefix != got.RevPrefix.Masked() {
				t.Errorf("RevPrefix = %v", got.RevPrefix)
			}
			got.Source, got.RevPrefix = "", netip.Prefix{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rev-server=%s\n got %+v\nwant %+v", tt.arg, got, tt.want)
			}
			roundTrip(t, c)
		})
	}
}

func TestRevServerErrors(t *testing.T) {
	tests := []struct{ arg, want string }{
		{"192.168.1.0/33,192.0.2.1", `command line: rev-server: bad IPv4 prefix length "33" (1 to 32)`},
		{"192.168.1.0/0,192.0.2.1", `command line: rev-server: bad IPv4 prefix length "0" (1 to 32)`},
		{"::/0,192.0.2.1", `command line: rev-server: bad IPv6 prefix length "0" (1 to 128)`},
		{"::1/129", `command line: rev-server: bad IPv6 prefix length "129" (1 to 128)`},
		{"1.2.3/24,192.0.2.1", `command line: rev-server: "1.2.3" is not an IP address`},
		{"192.168.1.0/24,bogus", `command line: rev-server: "bogus" is not an IP address`},
		{"192.168.1.0/24,192.0.2.1@::1", "command line: rev-server: cannot use IPv4 server address with IPv6 source address"},
		{"fe80::%eth0/64,192.0.2.1", `command line: rev-server: "fe80::%eth0" is not an IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			_, err := Parse([]string{"--rev-server=" + tt.arg}, "")
			if got := firstLine(err); got != tt.want {
				t.Errorf("\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestParseServersFile(t *testing.T) {
	text := strings.Join([]string{
		"# servers pushed by a VPN client",
		"server=/corp.example/10.0.0.53",
		"",
		"rev-server=10.0.0.0/8,10.0.0.53",
		"local=/lan/",
		"server=/*.ads.example/",
		"server=bogus",
		"address=/x/1.2.3.4",
		`server="/quoted.example/10.0.0.54"`,
		"server=/std.example/#",
	}, "\n")
	servers, err := ParseServersFile("/etc/servers", []byte(text))
	want := []Server{
		upstream("10.0.0.53:53", "corp.example"),
		upstream("10.0.0.53:53", "10.in-addr.arpa"),
		localOnly("*.ads.example"),
		upstream("10.0.0.54:53", "quoted.example"),
		{Domains: []string{"std.example"}, UseStandard: true},
	}
	wantSources := []string{"/etc/servers:2", "/etc/servers:4", "/etc/servers:6", "/etc/servers:9", "/etc/servers:10"}
	if len(servers) != len(want) {
		t.Fatalf("%d servers: %+v", len(servers), servers)
	}
	for i := range servers {
		if servers[i].Source != wantSources[i] {
			t.Errorf("server %d Source = %q, want %q", i, servers[i].Source, wantSources[i])
		}
		servers[i].Source, servers[i].RevPrefix = "", netip.Prefix{}
		if !reflect.DeepEqual(servers[i], want[i]) {
			t.Errorf("server %d = %+v, want %+v", i, servers[i], want[i])
		}
	}
	var got []string
	for _, e := range Errors(err) {
		got = append(got, e.Error())
	}
	wantErrs := []string{
		"/etc/servers:5: local: only server and rev-server are allowed in a servers-file",
		`/etc/servers:7: server: "bogus" is not an IP address`,
		"/etc/servers:8: address: only server and rev-server are allowed in a servers-file",
	}
	if !equalStrings(got, wantErrs) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantErrs, "\n"))
	}
	if _, err := ParseServersFile("/e", []byte("server=/a/10.0.0.1\n")); err != nil {
		t.Errorf("good file: %v", err)
	}
}

// TestServerFormsRoundTrip prints every server form and parses it back.
func TestServerFormsRoundTrip(t *testing.T) {
	c := configWith(func(c *Config) {
		c.Servers = []Server{
			bound(upstream("192.0.2.1:53"), "192.0.2.2", 0, ""),
			bound(upstream("192.0.2.1:5353"), "192.0.2.2", 5300, "eth0"),
			bound(upstream("[fe80::1%eth0]:53"), "", 5300, "eth0"),
			upstream("192.0.2.3:53", "*google.com", "*.example.com", "#", ""),
			localOnly("*.ads.example"),
			{Domains: []string{"0.168.192.in-addr.arpa"}, UseStandard: true},
		}
		c.Upstream = DNSUpstream{StrictOrder: true, AllServers: true, ForwardMax: 0, QueryPort: 0,
			MinPort: 0, MaxPort: 1000, FastRetry: 75, FastRetryTotal: 500, LoopDetect: true, NoPoll: true,
			ServersFile: "/etc/servers with space"}
	})
	roundTrip(t, c)
	text := c.String()
	for _, line := range []string{"server=192.0.2.1@192.0.2.2", "server=192.0.2.1#5353@eth0@192.0.2.2#5300",
		"server=fe80::1%eth0@eth0#5300", "server=/*google.com/*.example.com/#//192.0.2.3", "local=/*.ads.example/",
		"server=/0.168.192.in-addr.arpa/#", "strict-order", "all-servers", "dns-forward-max=0", "query-port=0",
		"min-port=0", "max-port=1000", "fast-dns-retry=75,500", "dns-loop-detect", "no-poll",
		`servers-file=/etc/servers with space`} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("printed config lacks %q:\n%s", line, text)
		}
	}
}

func TestServersFileFixture(t *testing.T) {
	path := filepath.Join("testdata", "servers", "vpn.servers")
	c := mustParse(t, "--servers-file="+path)
	if c.Upstream.ServersFile != path || len(c.Servers) != 0 {
		t.Errorf("servers-file is read by the master, not by Parse: %+v", c.Upstream)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	servers, err := ParseServersFile(path, data)
	if err != nil || len(servers) != 3 || servers[1].Bind.Addr != netip.MustParseAddr("192.0.2.9") ||
		servers[1].Bind.Port != 5300 || servers[2].Domains[0] != "8.10.in-addr.arpa" || servers[2].Source != path+":4" {
		t.Errorf("ParseServersFile = %+v, %v", servers, err)
	}
}

// FuzzParseServersFile: whatever the bytes, no panic, and every server
// the parser accepts prints as a line that parses back to the same server.
func FuzzParseServersFile(f *testing.F) {
	for _, s := range []string{
		"server=/a/192.0.2.1\nrev-server=10.0.0.0/9,192.0.2.2@eth0#53\n",
		"server=/*.x/#\nlocal=/y/\nserver=192.0.2.1@192.0.2.2#5300\n",
		`server="/q/192.0.2.1" # comment` + "\nserver=/#/::1@::2\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		servers, _ := ParseServersFile("fuzz", data)
		for _, s := range servers {
			name, val := serverLine(s)
			if name == "local" {
				name = "server" // servers-files take server=/dom/ only
			}
			if name != "server" && name != "rev-server" {
				t.Fatalf("serverLine name %q", name)
			}
			back, err := ParseServersFile("back", []byte(name+"="+quoteIfNeeded(val)+"\n"))
			if err != nil || len(back) != 1 {
				t.Fatalf("%s=%s does not parse back: %v", name, val, err)
			}
			back[0].Source, s.Source = "", ""
			if !reflect.DeepEqual(back[0], s) {
				t.Fatalf("round trip of %q: %+v, want %+v", val, back[0], s)
			}
		}
	})
}
