package config

import (
	"reflect"
	"testing"
)

func dhcpMAC(s string) HWAddr {
	h, err := parseHWAddr(s, true)
	if err != nil {
		panic(err)
	}
	return h
}

func TestDHCPHost(t *testing.T) {
	for _, tc := range []struct {
		line string
		want DHCPHost
	}{
		{"dhcp-host=00:20:e0:3b:13:af,wap,infinite", DHCPHost{HWAddrs: []HWAddr{{Addr: []byte{0, 0x20, 0xe0, 0x3b, 0x13, 0xaf}}}, Name: "wap", Lease: LeaseInfinite}},
		{"dhcp-host=lap,192.168.0.199", DHCPHost{Name: "lap", Addr: dhcpIP("192.168.0.199")}},
		{"dhcp-host=Lap.Example.COM.,192.168.0.199", DHCPHost{Name: "lap", Domain: "example.com", Addr: dhcpIP("192.168.0.199")}},
		{"dhcp-host=id:01:02:03:04,x", DHCPHost{ClientID: []byte{1, 2, 3, 4}, Name: "x"}},
		{"dhcp-host=ID:0102:0304,x", DHCPHost{ClientID: []byte{1, 2, 3, 4}, Name: "x"}},
		{"dhcp-host=id:clientidastext,x", DHCPHost{ClientID: []byte("clientidastext"), Name: "x"}},
		{`dhcp-host=id:"a:b c",x`, DHCPHost{ClientID: []byte("a:b c"), Name: "x"}},
		{"dhcp-host=id:*,00:11:22:33:44:55", DHCPHost{IgnoreClientID: true, HWAddrs: []HWAddr{dhcpMAC("00:11:22:33:44:55")}}},
		{"dhcp-host=00:20:e0:3b:13:*,ignore", DHCPHost{HWAddrs: []HWAddr{{Addr: []byte{0, 0x20, 0xe0, 0x3b, 0x13, 0}, Wild: []bool{false, false, false, false, false, true}}}, Ignore: true}},
		{"dhcp-host=06-00:20:e0:3b:13:af,1.2.3.4", DHCPHost{HWAddrs: []HWAddr{{Type: 6, Addr: []byte{0, 0x20, 0xe0, 0x3b, 0x13, 0xaf}}}, Addr: dhcpIP("1.2.3.4")}},
		{"dhcp-host=11:22:33:44:55:66,12:34:56:78:90:12,192.168.0.2", DHCPHost{HWAddrs: []HWAddr{dhcpMAC("11:22:33:44:55:66"), dhcpMAC("12:34:56:78:90:12")}, Addr: dhcpIP("192.168.0.2")}},
		{"dhcp-host=0011:2233:4455,x", DHCPHost{HWAddrs: []HWAddr{dhcpMAC("00:11:22:33:44:55")}, Name: "x"}},
		{"dhcp-host=set:a,net:b,tag:c,tag:!d,00:11:22:33:44:55", DHCPHost{SetTags: Tags{"a", "b"}, Tags: Tags{"c", "!d"}, HWAddrs: []HWAddr{dhcpMAC("00:11:22:33:44:55")}}},
		// Lease times: a number with an optional unit; under 2m is 2m.
		{"dhcp-host=00:11:22:33:44:55,45", DHCPHost{HWAddrs: []HWAddr{dhcpMAC("00:11:22:33:44:55")}, Lease: 120}},
		{"dhcp-host=00:11:22:33:44:55,20m", DHCPHost{HWAddrs: []HWAddr{dhcpMAC("00:11:22:33:44:55")}, Lease: 1200}},
		{"dhcp-host=00:11:22:33:44:55,300s", DHCPHost{HWAddrs: []HWAddr{dhcpMAC("00:11:22:33:44:55")}, Lease: 300}},
		// "h" alone and "5x" are names, as in dnsmasq; empty fields are skipped.
		{"dhcp-host=00:11:22:33:44:55,,h", DHCPHost{HWAddrs: []HWAddr{dhcpMAC("00:11:22:33:44:55")}, Name: "h"}},
		{"dhcp-host=00:11:22:33:44:55,5x", DHCPHost{HWAddrs: []HWAddr{dhcpMAC("00:11:22:33:44:55")}, Name: "5x"}},
		{"dhcp-host=a_b", DHCPHost{Name: "a_b"}},
		{"dhcp-host=00-11-22-33-44-55", DHCPHost{Name: "00-11-22-33-44-55"}}, // no colon: a name, as in dnsmasq
		{"dhcp-host=0:1:2:3:4:5:6:7:8:9:a:b:c:d:e:f,x", DHCPHost{HWAddrs: []HWAddr{dhcpMAC("00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f")}, Name: "x"}},
		{"dhcp-host=ab:,x", DHCPHost{HWAddrs: []HWAddr{{Addr: []byte{0xab}}}, Name: "x"}},
	} {
		c, err := parseConfText(t, tc.line+"\n")
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if len(c.DHCP.Hosts) != 1 || !reflect.DeepEqual(c.DHCP.Hosts[0], tc.want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", tc.line, c.DHCP.Hosts, tc.want)
		}
		roundTrip(t, c)
	}
}

func TestDHCPHostErrors(t *testing.T) {
	checkDHCPErrors(t, []dhcpErrCase{
		{"dhcp-host=", "dhcp-host: a dhcp-host needs a hardware address"},
		{"dhcp-host=ignore", "dhcp-host: a dhcp-host needs a hardware address"},
		{"dhcp-host=1.2.3.4,1h", "dhcp-host: a dhcp-host needs a hardware address"},
		{"dhcp-host=00:zz:e0:3b:13:af", `dhcp-host: bad hex constant "00:zz:e0:3b:13:af"`},
		{"dhcp-host=00:11:22:33:44:5*,x", `dhcp-host: bad hex constant "00:11:22:33:44:5*"`},
		{"dhcp-host=0:1:2:3:4:5:6:7:8:9:a:b:c:d:e:f:10,x", `dhcp-host: bad hex constant "0:1:2:3:4:5:6:7:8:9:a:b:c:d:e:f:10": more than 16 bytes`},
		{"dhcp-host=100-00:11,x", `dhcp-host: bad hex constant "100-00:11": the hardware type`},
		{"dhcp-host=01-00:11-22,x", `dhcp-host: bad hex constant "01-00:11-22": separate the bytes with ':'`},
		{"dhcp-host=id:,x", "dhcp-host: empty client identifier in id:"},
		{"dhcp-host=id:00:*:11,x", `dhcp-host: bad hex constant "00:*:11"`},
		{"dhcp-host=id:01:02,id:03:04,x", "dhcp-host: more than one id:<client-id>"},
		{"dhcp-host=-ab", `dhcp-host: bad DHCP host name "-ab": character '-'`},
		{"dhcp-host=a.b..c", `dhcp-host: bad DHCP host name "a.b..c": bad domain`},
		{"dhcp-host=a,b", `dhcp-host: more than one host name ("a" and "b")`},
		{"dhcp-host=a,1.2.3.4,1.2.3.5", "dhcp-host: more than one IPv4 address (1.2.3.4 and 1.2.3.5)"},
		{"dhcp-host=a,1.2.3", `dhcp-host: "1.2.3" is not an IPv4 address`},
		{"dhcp-host=a,01.2.3.4", `dhcp-host: "01.2.3.4" is not an IPv4 address`},
		{"dhcp-host=a,99999999999", "dhcp-host: bad lease time"},
		{"dhcp-host=set:,a", "dhcp-host: empty tag"},
		{"dhcp-host=set:!x,a", `dhcp-host: tag "!x": a tag to set cannot start with '!'`},
		{"dhcp-host=laptop,[1234::56]", "dhcp-host: IPv6 address [1234::56]: not supported yet (DHCPv6)"},
	})
	// The duplicate is reported on the second line.
	_, err := parseConfText(t, "dhcp-host=x,1.2.3.4\ndhcp-host=y,1.2.3.4\n")
	if got := relErr(err); got != "dhcp.conf:2: dhcp-host: duplicate dhcp-host IP address 1.2.3.4" {
		t.Errorf("duplicate: %s", got)
	}
}

func TestHWAddrMatches(t *testing.T) {
	exact := dhcpMAC("00:11:22:33:44:55")
	wild := dhcpMAC("00:11:22:*:*:*")
	typed := dhcpMAC("06-00:11:22:33:44:55")
	addr := []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55}
	other := []byte{0, 0x11, 0x22, 0x99, 0x98, 0x97}
	for _, tc := range []struct {
		h     HWAddr
		htype uint8
		addr  []byte
		want  bool
	}{
		{exact, 1, addr, true},
		{exact, 6, addr, true}, // no type: any type
		{exact, 1, other, false},
		{exact, 1, addr[:5], false},
		{wild, 1, other, true},
		{wild, 1, []byte{1, 0x11, 0x22, 0, 0, 0}, false},
		{typed, 6, addr, true},
		{typed, 1, addr, false},
	} {
		if got := tc.h.Matches(tc.htype, tc.addr); got != tc.want {
			t.Errorf("%s matches %d/%x: %v", tc.h, tc.htype, tc.addr, got)
		}
	}
	if !exact.Exact() || wild.Exact() {
		t.Error("Exact is wrong")
	}
	for in, want := range map[string]string{
		"00:11:22:33:44:55": "00:11:22:33:44:55", "0A:b:C:dd:*:*": "0a:0b:0c:dd:*:*", "06-001122334455": "06-00:11:22:33:44:55",
		"ab": "ab:", "00 11 22": "00:11:22",
	} {
		h, err := parseHWAddr(in, true)
		if err != nil || h.String() != want {
			t.Errorf("%q: %q, %v; want %q", in, h.String(), err, want)
		}
	}
	if _, err := parseHWAddr("00:*", false); err == nil {
		t.Error("a wildcard is accepted where none is allowed")
	}
}

func TestClientIDText(t *testing.T) {
	for _, id := range [][]byte{[]byte("abc"), {1}, {1, 2, 3}, []byte("*x"), []byte("a b"), []byte("a:b"), []byte("0102"), {0xff}} {
		text := clientIDText(id)
		h, err := parseDHCPHost(plainValue("id:" + text))
		if err != nil || string(h.ClientID) != string(id) {
			t.Errorf("%q printed as %q reads back as %q, %v", id, text, h.ClientID, err)
		}
	}
}
