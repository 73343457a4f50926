package config

import "testing"

// TestRoleUsers: dns-user and dhcp-user are read, checked, printed back
// (print-config round trip), and default to user='s value.
func TestRoleUsers(t *testing.T) {
	for _, tc := range []struct {
		text      string
		want      RoleUsers
		wantErr   bool
		dns, dhcp string // RoleUser's answer
		dnsOpt    string
		dhcpOpt   string
	}{
		{text: "", dns: "nobody", dhcp: "nobody", dnsOpt: "user", dhcpOpt: "user"},
		{text: "user=moatd\n", dns: "moatd", dhcp: "moatd", dnsOpt: "user", dhcpOpt: "user"},
		{text: "user\n", dns: DefaultUser, dhcp: DefaultUser, dnsOpt: "user", dhcpOpt: "user"},
		{text: "dns-user=moatd-dns\n", want: RoleUsers{DNS: "moatd-dns"}, dns: "moatd-dns", dhcp: "nobody", dnsOpt: "dns-user", dhcpOpt: "user"},
		{text: "user=moatd\ndhcp-user=moatd-dhcp\n", want: RoleUsers{DHCP: "moatd-dhcp"}, dns: "moatd", dhcp: "moatd-dhcp", dnsOpt: "user", dhcpOpt: "dhcp-user"},
		{text: "dns-user=a\ndhcp-user=b\n", want: RoleUsers{DNS: "a", DHCP: "b"}, dns: "a", dhcp: "b", dnsOpt: "dns-user", dhcpOpt: "dhcp-user"},
		{text: "dns-user=1000\n", want: RoleUsers{DNS: "1000"}, dns: "1000", dhcp: "nobody", dnsOpt: "dns-user", dhcpOpt: "user"},
		{text: "dns-user=\n", wantErr: true},
		{text: "dns-user=a:b\n", wantErr: true},
		{text: "dhcp-user=a/b\n", wantErr: true},
		{text: "dns-user=a\ndns-user=b\n", wantErr: true}, // once
	} {
		cfg, err := ParseText("test.conf", tc.text)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err %v, want error %v", tc.text, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if cfg.Roles != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.text, cfg.Roles, tc.want)
		}
		if name, opt := cfg.RoleUser("dnsd"); name != tc.dns || opt != tc.dnsOpt {
			t.Errorf("%q: dnsd runs as %s (%s), want %s (%s)", tc.text, name, opt, tc.dns, tc.dnsOpt)
		}
		if name, opt := cfg.RoleUser("dhcpd"); name != tc.dhcp || opt != tc.dhcpOpt {
			t.Errorf("%q: dhcpd runs as %s (%s), want %s (%s)", tc.text, name, opt, tc.dhcp, tc.dhcpOpt)
		}
		again, err := ParseText("printed.conf", cfg.String())
		if err != nil || again.Roles != cfg.Roles {
			t.Errorf("%q: print-config round trip: %v %+v\n%s", tc.text, err, again.Roles, cfg.String())
		}
	}
}

func TestRoleUserOption(t *testing.T) {
	for role, want := range map[string]string{"dnsd": "dns-user", "dhcpd": "dhcp-user", "script": "user"} {
		if got := RoleUserOption(role); got != want {
			t.Errorf("RoleUserOption(%s) = %s, want %s", role, got, want)
		}
	}
}
