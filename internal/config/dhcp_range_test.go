package config

import (
	"reflect"
	"testing"
)

func TestDHCPRange(t *testing.T) {
	for _, tc := range []struct {
		line string
		want DHCPRange
	}{
		{"dhcp-range=192.168.0.5,192.168.0.9", DHCPRange{Start: dhcpIP("192.168.0.5"), End: dhcpIP("192.168.0.9")}},
		{"dhcp-range=192.168.0.9,192.168.0.5,1h", DHCPRange{Start: dhcpIP("192.168.0.5"), End: dhcpIP("192.168.0.9"), Lease: 3600}},
		{"dhcp-range=192.168.0.5,static", DHCPRange{Start: dhcpIP("192.168.0.5"), End: dhcpIP("192.168.0.5"), Static: true}},
		{"dhcp-range=192.168.0.0,static,255.255.255.0,infinite", DHCPRange{Start: dhcpIP("192.168.0.0"), End: dhcpIP("192.168.0.0"), Static: true,
			Netmask: dhcpIP("255.255.255.0"), Lease: LeaseInfinite}},
		{"dhcp-range=192.168.0.5,192.168.0.9,255.255.255.0,192.168.0.255,45m", DHCPRange{Start: dhcpIP("192.168.0.5"), End: dhcpIP("192.168.0.9"),
			Netmask: dhcpIP("255.255.255.0"), Broadcast: dhcpIP("192.168.0.255"), Lease: 2700}},
		{"dhcp-range=192.168.0.5,192.168.0.9,255.255.255.0,192.168.0.255", DHCPRange{Start: dhcpIP("192.168.0.5"), End: dhcpIP("192.168.0.9"),
			Netmask: dhcpIP("255.255.255.0"), Broadcast: dhcpIP("192.168.0.255")}},
		{"dhcp-range=192.168.0.5,192.168.0.9,255.255.255.0", DHCPRange{Start: dhcpIP("192.168.0.5"), End: dhcpIP("192.168.0.9"), Netmask: dhcpIP("255.255.255.0")}},
		{"dhcp-range=10.0.0.1,10.0.0.9,2d", DHCPRange{Start: dhcpIP("10.0.0.1"), End: dhcpIP("10.0.0.9"), Lease: 2 * 86400}},
		{"dhcp-range=10.0.0.1,10.0.0.9,1w", DHCPRange{Start: dhcpIP("10.0.0.1"), End: dhcpIP("10.0.0.9"), Lease: 7 * 86400}},
		{"dhcp-range=10.0.0.1,10.0.0.9,12H", DHCPRange{Start: dhcpIP("10.0.0.1"), End: dhcpIP("10.0.0.9"), Lease: 12 * 3600}},
		{"dhcp-range=10.0.0.1,10.0.0.9,3600", DHCPRange{Start: dhcpIP("10.0.0.1"), End: dhcpIP("10.0.0.9"), Lease: 3600}},
		// Under two minutes is two minutes, as in dnsmasq.
		{"dhcp-range=10.0.0.1,10.0.0.9,0", DHCPRange{Start: dhcpIP("10.0.0.1"), End: dhcpIP("10.0.0.9"), Lease: 120}},
		{"dhcp-range=10.0.0.1,10.0.0.9,1m", DHCPRange{Start: dhcpIP("10.0.0.1"), End: dhcpIP("10.0.0.9"), Lease: 120}},
		// A trailing comma is no lease time.
		{"dhcp-range=10.0.0.1,10.0.0.9,", DHCPRange{Start: dhcpIP("10.0.0.1"), End: dhcpIP("10.0.0.9")}},
		{"dhcp-range= 10.0.0.1 , 10.0.0.9 , 1h", DHCPRange{Start: dhcpIP("10.0.0.1"), End: dhcpIP("10.0.0.9"), Lease: 3600}},
		// Tags: filters, one tag to set (set: or a bare word).
		{"dhcp-range=set:lan,10.0.0.1,10.0.0.9", DHCPRange{SetTag: "lan", Start: dhcpIP("10.0.0.1"), End: dhcpIP("10.0.0.9")}},
		{"dhcp-range=lan,10.0.0.1,10.0.0.9", DHCPRange{SetTag: "lan", Start: dhcpIP("10.0.0.1"), End: dhcpIP("10.0.0.9")}},
		{"dhcp-range=tag:a,tag:!b,net:c,set:lan,10.0.0.1,10.0.0.9", DHCPRange{Tags: Tags{"a", "!b", "c"}, SetTag: "lan",
			Start: dhcpIP("10.0.0.1"), End: dhcpIP("10.0.0.9")}},
		{"dhcp-range=tag:,10.0.0.1,10.0.0.9", DHCPRange{Start: dhcpIP("10.0.0.1"), End: dhcpIP("10.0.0.9")}},
		{"dhcp-range=set:myzone-10.0.1.0-24,10.0.1.0,static,255.255.255.0,infinite", DHCPRange{SetTag: "myzone-10.0.1.0-24",
			Start: dhcpIP("10.0.1.0"), End: dhcpIP("10.0.1.0"), Static: true, Netmask: dhcpIP("255.255.255.0"), Lease: LeaseInfinite}},
	} {
		c, err := parseConfText(t, tc.line+"\n")
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if len(c.DHCP.Ranges) != 1 || !reflect.DeepEqual(c.DHCP.Ranges[0], tc.want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", tc.line, c.DHCP.Ranges, tc.want)
		}
		if !c.DHCP.Enabled() {
			t.Errorf("%s: DHCP not enabled", tc.line)
		}
		roundTrip(t, c)
	}
	if c := mustParse(t); c.DHCP.Enabled() {
		t.Error("DHCP enabled with no dhcp-range")
	}
	if l := (DHCPRange{}).LeaseOrDefault(); l != DefaultLeaseTime {
		t.Errorf("LeaseOrDefault() = %v", l)
	}
}

func TestDHCPRangeErrors(t *testing.T) {
	checkDHCPErrors(t, []dhcpErrCase{
		{"dhcp-range=", `dhcp-range: bad dhcp-range: needs a start address`},
		{"dhcp-range=192.168.0.5", `dhcp-range: bad dhcp-range: needs a start address`},
		{"dhcp-range=192.168.0.5,192.168.0.9,12h,", `dhcp-range: bad dhcp-range: unexpected "" after the lease time`},
		{"dhcp-range=192.168.0.5,192.168.1.9,255.255.255.0", `dhcp-range: inconsistent DHCP range`},
		{"dhcp-range=192.168.0.5,192.168.0.9,255.0.255.0", `dhcp-range: bad dhcp-range: 255.0.255.0 is not a netmask`},
		{"dhcp-range=set:lan,set:x,192.168.0.5,192.168.0.9", `dhcp-range: only one tag allowed`},
		{"dhcp-range=192.168.0.5,192.168.0.9,1x", `dhcp-range: bad dhcp-range: bad lease time`},
		{"dhcp-range=192.168.0.5,192.168.0.9,h", `dhcp-range: bad dhcp-range: bad lease time`},
		{"dhcp-range=192.168.0.5,192.168.0.9,-5", `dhcp-range: bad dhcp-range: bad lease time`},
		{"dhcp-range=192.168.0.5,192.168.0.9,99999999999", `dhcp-range: bad dhcp-range: bad lease time`},
		{"dhcp-range=192.168.0.5,192.168.0.9,1.2.3", `dhcp-range: bad dhcp-range: bad lease time`},
		{"dhcp-range=192.168.0.5,192.168.0.9,deprecated", `dhcp-range: bad dhcp-range: "deprecated" applies only to IPv6 ranges`},
		{"dhcp-range=dead,192.168.0.5,192.168.0.9", `dhcp-range: bad dhcp-range: "dead" is not an IPv4 address`},
		{"dhcp-range=1.2.3,192.168.0.9", `dhcp-range: bad dhcp-range: "1.2.3" is not an IPv4 address`},
		{"dhcp-range=192.168.0.5,nope", `dhcp-range: bad dhcp-range: end "nope" is not an IPv4 address`},
		{"dhcp-range=192.168.0.5,proxy", `dhcp-range: proxy-DHCP (dhcp-range mode "proxy") not supported yet`},
		{"dhcp-range=set:a b,192.168.0.5,192.168.0.9", `dhcp-range: tag "a b": character ' ' is not allowed`},
		{"dhcp-range=set:!a,192.168.0.5,192.168.0.9", `dhcp-range: tag "!a": a tag to set cannot start with '!'`},
		{"dhcp-range=1.1.1.1,1.1.1.2,255.0.0.0,1.1.1.255,1h,1", `dhcp-range: bad dhcp-range: unexpected "1" after the lease time`},
		{"dhcp-range=1.1.1.1,1.1.1.2,255.0.0.0,1.1.1.255,1h,1,2,3", `dhcp-range: "1.1.1.1,1.1.1.2,255.0.0.0,1.1.1.255,1h,1,2,3": too many fields`},
		// IPv6: every form names DHCPv6.
		{"dhcp-range=::1,::400,constructor:eth0", `dhcp-range: IPv6 range starting at ::1: not supported yet (DHCPv6)`},
		{"dhcp-range=::,constructor:eth0,ra-stateless,ra-names", `dhcp-range: IPv6 range starting at ::: not supported yet (DHCPv6)`},
		{"dhcp-range=2001:db8::1,ra-only", `dhcp-range: IPv6 range starting at 2001:db8::1, ra-only (IPv6 router advertisements): not supported yet (DHCPv6)`},
		{"dhcp-range=set:lan,fd00:1::,static,64,infinite", `dhcp-range: IPv6 range starting at fd00:1::: not supported yet (DHCPv6)`},
		{"dhcp-range=::", `dhcp-range: IPv6 range "::": not supported yet (DHCPv6)`},
	})
}

func TestLeaseTimeString(t *testing.T) {
	for l, want := range map[LeaseTime]string{
		LeaseInfinite: "infinite", 120: "2m", 3600: "1h", 5400: "90m", 86400: "1d", 604800: "1w", 1209600: "2w",
		121: "121", 0: "0", 90000: "25h",
	} {
		if got := l.String(); got != want {
			t.Errorf("%d: %q, want %q", uint32(l), got, want)
		}
		if l >= MinLeaseTime {
			if back, err := parseLeaseTime(want); err != nil || back != l {
				t.Errorf("%q reads back as %d, %v", want, back, err)
			}
		}
	}
}
