package config

import (
	"strings"
	"testing"

	"github.com/moatdns/moat/internal/dhcpopts"
)

func TestDHCPOption(t *testing.T) {
	for _, tc := range []struct {
		line  string
		force bool
		check func(s dhcpopts.Spec) bool
	}{
		{"dhcp-option=3,192.168.4.4", false, func(s dhcpopts.Spec) bool {
			return s.Code == 3 && string(s.Encoded.Data) == "\xc0\xa8\x04\x04" && s.Encoded.Substitute
		}},
		{"dhcp-option = option:router, 192.168.4.4", false, func(s dhcpopts.Spec) bool { return s.Code == 3 && s.Name == "router" }},
		{"dhcp-option=option:router", false, func(s dhcpopts.Spec) bool { return s.Encoded.Kind == dhcpopts.KindEmpty }},
		{"dhcp-option-force=43,ANDROID_METERED", true, func(s dhcpopts.Spec) bool { return string(s.Encoded.Data) == "ANDROID_METERED" }},
		{"dhcp-option=tag:a,tag:!b,c,42,10.0.0.1", false, func(s dhcpopts.Spec) bool { return strings.Join(s.Tags, " ") == "a !b c" }},
		{`dhcp-option=66,"1.2.3.4"`, false, func(s dhcpopts.Spec) bool { return string(s.Encoded.Data) == "1.2.3.4" }},
		{`dhcp-option=252,"\n"`, false, func(s dhcpopts.Spec) bool { return string(s.Encoded.Data) == "\n" }},
		{`dhcp-option=253," leading and trailing spaces "`, false, func(s dhcpopts.Spec) bool {
			return string(s.Encoded.Data) == " leading and trailing spaces "
		}},
		{`dhcp-option=200,"1,2"`, false, func(s dhcpopts.Spec) bool { return string(s.Encoded.Data) == "1,2" && s.Literal }},
		{"dhcp-option=vendor:MSFT,2,1i", false, func(s dhcpopts.Spec) bool {
			return s.Context == dhcpopts.Vendor && s.VendorClass == "MSFT" && string(s.Encoded.Data) == "\x00\x00\x00\x01"
		}},
		{`dhcp-option=vendor:"MSFT 5.0",2,1i`, false, func(s dhcpopts.Spec) bool { return s.VendorClass == "MSFT 5.0" }},
		{`dhcp-option=vendor:"a,b",2,1`, false, func(s dhcpopts.Spec) bool { return s.VendorClass == "a,b" }},
		{"dhcp-option=encap:175,190,iscsi", false, func(s dhcpopts.Spec) bool { return s.Context == dhcpopts.Encap && s.Encap == 175 }},
		{"dhcp-option=vi-encap:2,10,text", false, func(s dhcpopts.Spec) bool { return s.Context == dhcpopts.VIEncap && s.Enterprise == 2 }},
		{"dhcp-option=option:domain-search,a.com, b.com", false, func(s dhcpopts.Spec) bool { return s.Value == "a.com,b.com" }},
		{"dhcp-option=121,10.0.0.0/8,192.168.0.1", false, func(s dhcpopts.Spec) bool { return s.Encoded.Kind == dhcpopts.KindPrefixes }},
	} {
		c, err := parseConfText(t, tc.line+"\n")
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if len(c.DHCP.Options) != 1 || c.DHCP.Options[0].Force != tc.force || !tc.check(c.DHCP.Options[0].Spec) {
			t.Errorf("%s: got %+v", tc.line, c.DHCP.Options)
		}
		roundTrip(t, c)
	}
}

func TestDHCPMatch(t *testing.T) {
	c, err := parseConfText(t, "dhcp-match=set:efi-ia32,option:client-arch,6\ndhcp-match=ipxe,175\n"+
		"dhcp-match=set:cid,61,01:*:02\ndhcp-match=set:vi,vi-encap:3561\n")
	if err != nil {
		t.Fatal(err)
	}
	m := c.DHCP.Matches
	if len(m) != 4 || m[0].Tags[0] != "efi-ia32" || m[0].Code != 93 || m[1].Tags[0] != "ipxe" || m[1].Code != 175 ||
		m[2].Encoded.Wild == nil || !m[3].NoOption || m[3].Enterprise != 3561 {
		t.Errorf("matches: %+v", m)
	}
	if !m[0].Encoded.Matches([]byte{0, 7, 0, 6}) || m[0].Encoded.Matches([]byte{0, 7}) {
		t.Error("client-arch 6 does not match as an array element")
	}
	roundTrip(t, c)
}

func TestDHCPOptionErrors(t *testing.T) {
	checkDHCPErrors(t, []dhcpErrCase{
		{"dhcp-option=tag:a", "dhcp-option: bad dhcp-option: no option number"},
		{"dhcp-option=option:nosuch,1", `dhcp-option: bad dhcp-option: unknown option name "nosuch"`},
		{"dhcp-option=option:router,abc", "dhcp-option: bad IP address"},
		{"dhcp-option=option:mtu,70000", "dhcp-option: 70000 is out of range for 2 bytes"},
		{"dhcp-option=300,x", "dhcp-option: bad dhcp-option: option number 300 (must be 1 to 255)"},
		{"dhcp-option=tag:,3,1.2.3.4", "dhcp-option: empty tag"},
		{"dhcp-option=tag:a b,3,1.2.3.4", `dhcp-option: tag "a b": character ' ' is not allowed`},
		{"dhcp-option=encap:175,vendor:x,190,iscsi", "dhcp-option: inappropriate vendor:"},
		{"dhcp-option=option6:dns-server,[::1]", `dhcp-option: "option6:dns-server": not supported yet (DHCPv6)`},
		{"dhcp-option=lan,option6:domain-search,lan", `dhcp-option: "option6:domain-search": not supported yet (DHCPv6)`},
		{"dhcp-option-force=option6:dns-server,[fd42:1:2:3::1]", `dhcp-option-force: "option6:dns-server": not supported yet (DHCPv6)`},
		{"dhcp-match=set:a,set:b,93", "dhcp-match: illegal dhcp-match: it needs exactly one set:<tag>"},
		{"dhcp-match=set:a", "dhcp-match: bad dhcp-option: no option number"},
		{"dhcp-match=set:!a,93", `dhcp-match: tag "!a": a tag to set cannot start with '!'`},
		{"dhcp-match=set:a,option6:1", `dhcp-match: "option6:1": not supported yet (DHCPv6)`},
	})
}
