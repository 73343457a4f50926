package config

import (
	"reflect"
	"testing"
)

func TestDHCPTagOptions(t *testing.T) {
	c, err := parseConfText(t, `dhcp-vendorclass=set:printers,Hewlett-Packard JetDirect
dhcp-vendorclass=pxe,PXEClient
dhcp-vendorclass=set:any,
dhcp-userclass=set:accounts,accounts
dhcp-circuitid=set:c,01:02:03
dhcp-circuitid=set:t,port-7
dhcp-remoteid=set:r,"01:02"
dhcp-remoteid=set:one,ab:
dhcp-mac=set:3com,01:34:23:*:*:*
dhcp-name-match=set:wpad,wpad*
dhcp-name-match=bogus,localhost
tag-if=set:a,set:b,tag:!c,tag:d*
tag-if=set:always
dhcp-ignore=tag:!known
dhcp-ignore=known,net:x
dhcp-ignore-names
dhcp-ignore-names=tag:bogus
dhcp-generate-names=tag:lan
dhcp-generate-names
dhcp-broadcast=tag:x,y
dhcp-broadcast
`)
	if err != nil {
		t.Fatal(err)
	}
	d := c.DHCP
	wantClasses := []DHCPClassMatch{
		{Kind: VendorClass, Tag: "printers", Data: []byte("Hewlett-Packard JetDirect")},
		{Kind: VendorClass, Tag: "pxe", Data: []byte("PXEClient")},
		{Kind: VendorClass, Tag: "any", Data: []byte("")},
		{Kind: UserClass, Tag: "accounts", Data: []byte("accounts")},
		{Kind: CircuitID, Tag: "c", Data: []byte{1, 2, 3}, Hex: true},
		{Kind: CircuitID, Tag: "t", Data: []byte("port-7")},
		{Kind: RemoteID, Tag: "r", Data: []byte("01:02")},
		{Kind: RemoteID, Tag: "one", Data: []byte{0xab}, Hex: true},
	}
	if !reflect.DeepEqual(d.Classes, wantClasses) {
		t.Errorf("classes:\ngot  %+v\nwant %+v", d.Classes, wantClasses)
	}
	if len(d.MACs) != 1 || d.MACs[0].Tag != "3com" || d.MACs[0].Addr.String() != "01:34:23:*:*:*" {
		t.Errorf("macs: %+v", d.MACs)
	}
	wantNames := []DHCPNameMatch{{Tag: "wpad", Name: "wpad", Wildcard: true}, {Tag: "bogus", Name: "localhost"}}
	if !reflect.DeepEqual(d.NameMatches, wantNames) {
		t.Errorf("name matches: %+v", d.NameMatches)
	}
	wantTagIfs := []DHCPTagIf{{Set: Tags{"a", "b"}, Tags: Tags{"!c", "d*"}}, {Set: Tags{"always"}}}
	if !reflect.DeepEqual(d.TagIfs, wantTagIfs) {
		t.Errorf("tag-if: %+v", d.TagIfs)
	}
	if !reflect.DeepEqual(d.Ignore, []Tags{{"!known"}, {"known", "x"}}) ||
		!reflect.DeepEqual(d.IgnoreNames, []Tags{nil, {"bogus"}}) ||
		!reflect.DeepEqual(d.GenerateNames, []Tags{{"lan"}, nil}) ||
		!reflect.DeepEqual(d.Broadcast, []Tags{{"x", "y"}, nil}) {
		t.Errorf("tag lists: %+v %+v %+v %+v", d.Ignore, d.IgnoreNames, d.GenerateNames, d.Broadcast)
	}
	roundTrip(t, c)
}

func TestDHCPTagOptionErrors(t *testing.T) {
	checkDHCPErrors(t, []dhcpErrCase{
		{"dhcp-vendorclass=set:a", "dhcp-vendorclass: needs set:<tag>,<vendorclass>"},
		{"dhcp-vendorclass=set:a,enterprise:123,x", "dhcp-vendorclass: enterprise:<number> (IPv6 vendor classes): not supported yet (DHCPv6)"},
		{"dhcp-vendorclass=tag:a,x", `dhcp-vendorclass: "tag:a": the tag to set is written set:<tag>`},
		{"dhcp-userclass=set:a,x,y", `dhcp-userclass: "x,y": only one class`},
		{"dhcp-circuitid=set:,x", "dhcp-circuitid: empty tag"},
		{"dhcp-mac=3com,zz", `dhcp-mac: bad hex constant "zz"`},
		{"dhcp-mac=set:a", "dhcp-mac: needs set:<tag>,<MAC address>"},
		{"dhcp-mac=set:a,00-11-22-33-44-55", `dhcp-mac: bad hex constant "00-11-22-33-44-55": separate the bytes with ':'`},
		{"dhcp-name-match=set:a,", "dhcp-name-match: needs set:<tag>,<name>[*]"},
		{"dhcp-name-match=set:a", "dhcp-name-match: needs set:<tag>,<name>[*]"},
		{"dhcp-name-match=set:a,b*c*", `dhcp-name-match: "b*c*" is not a host name`},
		{"tag-if=tag:b", "tag-if: bad tag-if: nothing to set"},
		{"tag-if=set:a,x:b", `tag-if: bad tag-if: "x:b" is neither set:<tag> nor tag:<tag>`},
		{"tag-if=set:a,tag:", "tag-if: bad tag-if: empty tag"},
		{"dhcp-ignore=", "dhcp-ignore: empty tag"},
		{"dhcp-broadcast=tag:a,,tag:b", "dhcp-broadcast: empty tag"},
	})
}
