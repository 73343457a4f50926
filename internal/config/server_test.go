package config

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestServerForms(t *testing.T) {
	tests := []struct {
		arg  string
		want Server
	}{
		{"192.0.2.1", upstream("192.0.2.1:53")},
		{"192.0.2.1#5353", upstream("192.0.2.1:5353")},
		{"::1", upstream("[::1]:53")},
		{"2001:db8::1#54", upstream("[2001:db8::1]:54")},
		{"::ffff:192.0.2.1", upstream("[::ffff:192.0.2.1]:53")},
		{"fe80::1%eth0#53", upstream("[fe80::1%eth0]:53")},
		{"/example.com/192.0.2.1", upstream("192.0.2.1:53", "example.com")},
		{"/a.example/b.example/192.0.2.1#54", upstream("192.0.2.1:54", "a.example", "b.example")},
		{"/Example.COM./192.0.2.1", upstream("192.0.2.1:53", "example.com")},
		{"/example/", localOnly("example")},
		{"/a/b/", localOnly("a", "b")},
		{"//", localOnly("")},
		{"//192.0.2.1", upstream("192.0.2.1:53", "")},
		{"/a//192.0.2.1", upstream("192.0.2.1:53", "a", "")},
		{"/www.example/#", Server{Domains: []string{"www.example"}, UseStandard: true}},
		{"/1.168.192.in-addr.arpa/", localOnly("1.168.192.in-addr.arpa")},
		{"/_tcp.example/192.0.2.1", upstream("192.0.2.1:53", "_tcp.example")},
		// dnsmasq trims spaces around '/' and '#'.
		{" /a / 192.0.2.1 # 54", upstream("192.0.2.1:54", "a")},
		// @source-ip, @interface and both, with and without ports.
		{"192.0.2.1@192.0.2.2", bound(upstream("192.0.2.1:53"), "192.0.2.2", 0, "")},
		{"192.0.2.1#5353@192.0.2.2#5300", bound(upstream("192.0.2.1:5353"), "192.0.2.2", 5300, "")},
		{"192.0.2.1@eth0", bound(upstream("192.0.2.1:53"), "", 0, "eth0")},
		{"192.0.2.1@eth0#5300", bound(upstream("192.0.2.1:53"), "", 5300, "eth0")},
		{"192.0.2.1#54@eth0@192.0.2.2#5300", bound(upstream("192.0.2.1:54"), "192.0.2.2", 5300, "eth0")},
		{"2001:db8::1@2001:db8::2", bound(upstream("[2001:db8::1]:53"), "2001:db8::2", 0, "")},
		{"fe80::1%eth0@fe80::2", bound(upstream("[fe80::1%eth0]:53"), "fe80::2", 0, "")},
		{"/lan/192.0.2.1@lo", bound(upstream("192.0.2.1:53", "lan"), "", 0, "lo")},
		// Wildcards, "#" and "*" domains, a leading dot.
		{"/*example.com/192.0.2.1", upstream("192.0.2.1:53", "*example.com")},
		{"/*.Example.COM./192.0.2.1", upstream("192.0.2.1:53", "*.example.com")},
		{"/.example.com/192.0.2.1", upstream("192.0.2.1:53", "example.com")},
		{"/#/192.0.2.1", upstream("192.0.2.1:53", "#")},
		{"/*/192.0.2.1", upstream("192.0.2.1:53", "#")},
		{"/*.example/", localOnly("*.example")},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			for _, opt := range []string{"--server=", "--local="} {
				c := mustParse(t, opt+tt.arg)
				if len(c.Servers) != 1 {
					t.Fatalf("%d servers", len(c.Servers))
				}
				got := c.Servers[0]
				got.Source = ""
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%s%s = %+v, want %+v", opt, tt.arg, got, tt.want)
				}
				if got.Local() != (!tt.want.Addr.IsValid() && !tt.want.UseStandard) {
					t.Errorf("Local() = %v", got.Local())
				}
			}
		})
	}
}

func TestServerErrors(t *testing.T) {
	tests := []struct{ arg, want string }{
		{"", "command line: server: missing server address"},
		{"#", `command line: server: "#" (use the standard servers) needs a /domain/`},
		{"/a", `command line: server: "/a": missing '/' after the domain`},
		{"/a/b", `command line: server: "b" is not an IP address`},
		{"/a/192.0.2.1,192.0.2.2", `command line: server: "192.0.2.1,192.0.2.2" is not an IP address`},
		{"[::1]", `command line: server: "[::1]" is not an IP address`},
		{"192.0.2.1#", "command line: server: empty value"},
		{"192.0.2.1#70000", `command line: server: "70000" is out of range (0 to 65535)`},
		{"192.0.2.1#53#53", `command line: server: "53#53" is not a port number`},
		{"fe80::1%", `command line: server: "fe80::1%": empty %zone`},
		{"192.0.2.1@::1", `command line: server: cannot use IPv4 server address with IPv6 source address`},
		{"2001:db8::1@192.0.2.2", `command line: server: cannot use IPv6 server address with IPv4 source address`},
		{"192.0.2.1@", `command line: server: empty interface name after '@'`},
		{"192.0.2.1@#53", `command line: server: empty interface name after '@'`},
		{"192.0.2.1@eth*", `command line: server: "eth*": an @interface cannot be a pattern`},
		{"192.0.2.1@0123456789abcdef", `command line: server: "0123456789abcdef" is longer than 15 bytes`},
		{"192.0.2.1@eth0@", `command line: server: "" is not a source address`},
		{"192.0.2.1@eth0@bogus", `command line: server: "bogus" is not a source address`},
		{"192.0.2.1@192.0.2.2#70000", `command line: server: "70000" is out of range (0 to 65535)`},
		{"192.0.2.1@192.0.2.2#x", `command line: server: "x" is not a port number`},
		{"fe80::1@fe80::2%eth0", `command line: server: "fe80::2%eth0": a source address takes no %zone`},
		{"/ex*/", `command line: server: "ex*": '*' is only allowed at the start`},
		{"/*ex*/192.0.2.1", `command line: server: "*ex*": '*' is only allowed at the start`},
		{"/*./192.0.2.1", `command line: server: "*." is not a domain pattern`},
		{"/*.a..b/192.0.2.1", `command line: server: "*.a..b" is not a domain name (empty or over-long label)`},
		{"/a..b/192.0.2.1", `command line: server: "a..b" is not a domain name (empty or over-long label)`},
		{"/./192.0.2.1", `command line: server: "." is not a domain name`},
		{"/ä/192.0.2.1", `command line: server: "ä" is not a domain name (character 'ä')`},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			_, err := Parse([]string{"--server=" + tt.arg}, "")
			if got := firstLine(err); got != tt.want {
				t.Errorf("server=%s\n got: %s\nwant: %s", tt.arg, got, tt.want)
			}
		})
	}
}

func bound(s Server, addr string, port uint16, iface string) Server {
	if addr != "" {
		s.Bind.Addr = netip.MustParseAddr(addr)
	}
	s.Bind.Port, s.Bind.Interface = port, iface
	return s
}
