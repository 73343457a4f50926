package config

import (
	"reflect"
	"strings"
	"testing"
)

// The accepted values and the rejections below are dnsmasq 2.90's
// (checked by hand against dnsmasq --test).
func TestCompatOptionsParse(t *testing.T) {
	const root = ".,20326,8,2,E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"
	tests := []struct {
		name  string
		lines []string
		want  CompatOptions
	}{
		{"none", nil, CompatOptions{}},
		{"enable-dbus bare", []string{"enable-dbus"}, CompatOptions{DBus: true}},
		{"enable-dbus named", []string{"enable-dbus=org.freedesktop.NetworkManager.dnsmasq"}, CompatOptions{DBus: true, DBusName: "org.freedesktop.NetworkManager.dnsmasq"}},
		{"enable-dbus empty", []string{"enable-dbus="}, CompatOptions{DBus: true}},
		{"enable-ubus named", []string{"enable-ubus=dnsmasq"}, CompatOptions{UBus: true, UBusName: "dnsmasq"}},
		{"dnssec", []string{"dnssec"}, CompatOptions{DNSSEC: true}},
		{"pi-hole's trust anchors", []string{"dnssec", "trust-anchor=" + root, "trust-anchor=.,IN,38696,8,2,683D2D0ACB8C"},
			CompatOptions{DNSSEC: true, TrustAnchors: []string{root, ".,IN,38696,8,2,683D2D0ACB8C"}}},
		{"trust anchor with class CH, colons in the digest", []string{"trust-anchor=.,CH,1,2,3,ab:cd"}, CompatOptions{TrustAnchors: []string{".,CH,1,2,3,ab:cd"}}},
		{"trust anchor with empty domain and digest (dnsmasq accepts)", []string{"trust-anchor=,1,2,3,"}, CompatOptions{TrustAnchors: []string{",1,2,3,"}}},
		{"dnssec-check-unsigned", []string{"dnssec-check-unsigned"}, CompatOptions{DNSSECCheckUnsigned: true}},
		{"dnssec-check-unsigned=no", []string{"dnssec-check-unsigned", "dnssec-check-unsigned=no"}, CompatOptions{}},
		{"dnssec-no-timecheck", []string{"dnssec-no-timecheck"}, CompatOptions{DNSSECNoTimecheck: true}},
		{"proxy-dnssec", []string{"proxy-dnssec"}, CompatOptions{ProxyDNSSEC: true}},
		{"ipset and nftset", []string{"ipset=/example.com/example.org/vpn4,vpn6", "nftset=/example.com/4#inet#fw4#vpn4,6#inet#fw4#vpn6", "ipset=a.com/x"},
			CompatOptions{IPSets: []string{"/example.com/example.org/vpn4,vpn6", "a.com/x"}, NFTSets: []string{"/example.com/4#inet#fw4#vpn4,6#inet#fw4#vpn6"}}},
		{"quiet-dhcp6 and quiet-ra", []string{"quiet-dhcp6", "quiet-ra"}, CompatOptions{QuietDHCP6: true, QuietRA: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := parseRunLines(t, nil, tc.lines...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Compat, tc.want) {
				t.Errorf("got %+v, want %+v", c.Compat, tc.want)
			}
			roundTrip(t, c)
		})
	}
}

func TestCompatOptionsRejected(t *testing.T) {
	tests := []struct{ line, want string }{
		{"dnssec=1", "dnssec: takes no value"},
		{"dnssec-no-timecheck=1", "dnssec-no-timecheck: takes no value"},
		{"dnssec-check-unsigned=x", `dnssec-check-unsigned: bad value "x"`},
		{"trust-anchor=.", "trust-anchor: bad trust anchor"},
		{"trust-anchor=.,1,2,3", "trust-anchor: bad trust anchor"},
		{"trust-anchor=.,x,8,2,E06D44", "trust-anchor: bad trust anchor: key tag"},
		{"trust-anchor=.,x,1,2,3,ab", `trust-anchor: bad trust anchor: class "x"`},
		{"trust-anchor=.,70000,2,3,ab", "trust-anchor: bad trust anchor: key tag"},
		{"trust-anchor=.,1,256,3,ab", "trust-anchor: bad trust anchor: algorithm"},
		{"trust-anchor=.,1,2,300,ab", "trust-anchor: bad trust anchor: digest type"},
		{"trust-anchor=.,-1,2,3,ab", "trust-anchor: bad trust anchor: key tag"},
		{"trust-anchor=.,1,2,3,zz", "trust-anchor: bad HEX in trust anchor"},
		{"trust-anchor=.,IN,1,2,3,ab,7", "trust-anchor: bad trust anchor"},
		{"ipset=/a.com/", "ipset: no set named"},
		{"ipset=/a.com/b.org/", "ipset: no set named"},
		{"ipset=", "ipset: no set named"},
		{"nftset=/", "nftset: no set named"},
	}
	for _, tc := range tests {
		_, path, err := parseRunLines(t, nil, tc.line)
		if want := path + ":1: " + tc.want; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want %s...", tc.line, err, want)
		}
	}
}

// TestWarnings: every accepted-but-inert subsystem gives one warning that
// names its options and what to do instead; a configuration without them
// gives none.
func TestWarnings(t *testing.T) {
	c, _, err := parseRunLines(t, nil, "server=192.0.2.1", "quiet-dhcp6", "quiet-ra")
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("plain config warns: %v", w)
	}
	c, _, err = parseRunLines(t, nil,
		"enable-dbus=org.freedesktop.NetworkManager.dnsmasq", "enable-ubus", "dnssec",
		"trust-anchor=.,1,2,3,ab", "trust-anchor=.,1,2,3,cd", "dnssec-check-unsigned",
		"proxy-dnssec", "ipset=/a.com/s", "nftset=/a.com/4#inet#t#s")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range c.Warnings() {
		got = append(got, w.String())
	}
	want := []struct{ prefix, contains string }{
		{"enable-dbus=org.freedesktop.NetworkManager.dnsmasq: moat has no D-Bus interface", "moatctl"},
		{"enable-ubus: moat has no ubus interface", "moatctl"},
		{"dnssec, trust-anchor (2), dnssec-check-unsigned: DNSSEC VALIDATION IS NOT PERFORMED", "never sets the AD bit"},
		{"proxy-dnssec: the upstream's AD bit is not passed on", "validate themselves"},
		{"ipset (1), nftset (1): firewall sets are not filled", "another way"},
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s", strings.Join(got, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w.prefix) || !strings.Contains(got[i], w.contains) {
			t.Errorf("warning %d = %q, want %q ... %q", i, got[i], w.prefix, w.contains)
		}
	}
	// trust-anchor alone (a file of anchors included without dnssec)
	// still says that nothing is validated.
	c, _, err = parseRunLines(t, nil, "trust-anchor=.,1,2,3,ab")
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0].Msg, "NOT PERFORMED") {
		t.Errorf("trust-anchor alone: %v", w)
	}
}
