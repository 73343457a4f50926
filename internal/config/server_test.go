package config

import (
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
		{"192.0.2.1@192.0.2.2#53", `command line: server: "@192.0.2.2#53": the @source-address form not supported yet`},
		{"192.0.2.1@eth0", `command line: server: "@eth0": the @interface form not supported yet`},
		{"/*.example/192.0.2.1", `command line: server: wildcard domain "*.example" not supported yet`},
		{"/ex*/", `command line: server: wildcard domain "ex*" not supported yet`},
		{"/#/192.0.2.1", `command line: server: "#" as a domain (every domain) not supported yet`},
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
