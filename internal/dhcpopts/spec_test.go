package dhcpopts

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in    string
		match bool
		want  Spec
	}{
		{in: "3,192.168.0.1", want: Spec{Code: 3, Value: "192.168.0.1",
			Encoded: Encoded{Kind: KindAddrs, Data: mustHex("c0a80001"), Substitute: true}}},
		{in: "option:router", want: Spec{Code: 3, Name: "router", Encoded: Encoded{Kind: KindEmpty}}},
		{in: "option:ROUTER,", want: Spec{Code: 3, Name: "router", Encoded: Encoded{Kind: KindEmpty}}},
		{in: "tag:a,tag:!b,net:c,set:d,e,42,10.0.0.1", want: Spec{Tags: []string{"a", "!b", "c", "d", "e"}, Code: 42, Value: "10.0.0.1",
			Encoded: Encoded{Kind: KindAddrs, Data: mustHex("0a000001"), Substitute: true}}},
		{in: "vendor:PXEClient,1,0.0.0.0", want: Spec{Context: Vendor, VendorClass: "PXEClient", Code: 1, Value: "0.0.0.0",
			Encoded: Encoded{Kind: KindAddrs, Data: mustHex("00000000")}}},
		{in: "vendor:,2,1i", want: Spec{Context: Vendor, Code: 2, Value: "1i", Encoded: Encoded{Kind: KindDecimal, Data: mustHex("00000001")}}},
		// option: names keep their type inside vendor:, numbers do not.
		{in: "vendor:x,option:mtu,5", want: Spec{Context: Vendor, VendorClass: "x", Code: 26, Name: "mtu", Value: "5", Encoded: Encoded{Kind: KindDecimal, Data: mustHex("0005")}}},
		{in: "vendor:x,26,5", want: Spec{Context: Vendor, VendorClass: "x", Code: 26, Value: "5", Encoded: Encoded{Kind: KindDecimal, Data: mustHex("05")}}},
		{in: "encap:175,190,iscsi", want: Spec{Context: Encap, Encap: 175, Code: 190, Value: "iscsi", Encoded: Encoded{Kind: KindString, Data: []byte("iscsi")}}},
		{in: "vi-encap:2,10,text", want: Spec{Context: VIEncap, Enterprise: 2, Code: 10, Value: "text", Encoded: Encoded{Kind: KindString, Data: []byte("text")}}},
		{in: `66,"1.2.3.4"`, want: Spec{Code: 66, Value: "1.2.3.4", Encoded: Encoded{Kind: KindString, Data: []byte("1.2.3.4")}}},
		{in: `200,"1.2.3.4"`, want: Spec{Code: 200, Value: "1.2.3.4", Literal: true, Encoded: Encoded{Kind: KindString, Data: []byte("1.2.3.4")}}},
		{in: `200,"x, y"`, want: Spec{Code: 200, Value: "x, y", Encoded: Encoded{Kind: KindString, Data: []byte("x, y")}}},
		{in: `200, a , b `, want: Spec{Code: 200, Value: "a , b", Encoded: Encoded{Kind: KindString, Data: []byte("a , b")}}},
		{in: `119,"Example.com"`, want: Spec{Code: 119, Value: "Example.com", Encoded: Encoded{Kind: KindDomains, Data: mustHex("076578616d706c6503636f6d00")}}},
		// dhcp-match
		{in: "set:efi,option:client-arch,6", match: true, want: Spec{Tags: []string{"efi"}, Context: Match, Code: 93, Name: "client-arch", Value: "6",
			Encoded: Encoded{Kind: KindDecimal, Data: mustHex("0006")}}},
		{in: "efi,93", match: true, want: Spec{Tags: []string{"efi"}, Context: Match, Code: 93, Encoded: Encoded{Kind: KindEmpty}}},
		{in: "set:a,option:client-id,01:*:02", match: true, want: Spec{Tags: []string{"a"}, Context: Match, Code: 61, Name: "client-id", Value: "01:*:02",
			Encoded: Encoded{Kind: KindHex, Data: mustHex("010002"), Wild: []bool{false, true, false}}}},
		{in: "set:a,vi-encap:123", match: true, want: Spec{Tags: []string{"a"}, Context: Match, Enterprise: 123, NoOption: true, Encoded: Encoded{Kind: KindEmpty}}},
		{in: "set:a,vi-encap:123,abc", match: true, want: Spec{Tags: []string{"a"}, Context: Match, Enterprise: 123, NoOption: true, Value: "abc", Encoded: Encoded{Kind: KindString, Data: []byte("abc")}}},
	} {
		got, err := ParseSpec(lexSpec(t, tc.in), tc.match)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\ngot  %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		in    string
		match bool
		want  string
	}{
		{in: "", want: "option number"},
		{in: "tag:a", want: "no option number"},
		{in: "0,1", want: "must be 1 to 255"},
		{in: "256,1", want: "must be 1 to 255"},
		{in: "option:nosuch,1", want: `unknown option name "nosuch"`},
		{in: "option:hostname,x", want: "set by the server itself"},
		{in: "option6:dns-server,[::1]", want: "not supported yet (DHCPv6)"},
		{in: "tag:a,option6:23,[::1]", want: "not supported yet (DHCPv6)"},
		{in: "encap:175,vendor:x,190,iscsi", want: "inappropriate vendor:"},
		{in: "vendor:x,encap:175,190,iscsi", want: "inappropriate encap:175"},
		{in: "encap:0,1,1", want: "inappropriate encap:0"},
		{in: "encap:x,1,1", want: "inappropriate encap:x"},
		{in: "vi-encap:x,1,1", want: "inappropriate vi-encap:x"},
		{in: "vendor:x", want: "no option number follows vendor:"},
		{in: "option:router,abc", want: "bad IP address"},
		{in: "option:router,1.2.3", want: "bad IPv4 address"},
		{in: "option:router,1.2.3.4/24", want: "prefix descriptor"},
		{in: "option:mtu,70000", want: "out of range"},
		{in: "option:mtu,-1", want: "out of range"},
		{in: "option:mtu,abc", want: "is not a number"},
		{in: "option:mtu,1.2.3.4", want: "is not a number"},
		{in: "option:ip-forward-enable,yes", want: "is not a number"},
		{in: "option:T1,abc", want: "is not a time"},
		{in: "option:T1,1x", want: "is not a time"},
		{in: "option:T1,99999999999", want: "is not a time"},
		{in: "option:T1,5000000w", want: "too long a time"},
		{in: `option:T1,"60"`, want: "is not a time"},
		{in: "option:domain-search,a..com", want: "bad domain"},
		{in: "option:domain-search,a.com,,b.com", want: "empty name"},
		{in: "option:domain-search,exa mple.com", want: "bad domain"},
		{in: "200,01::02", want: "bad hex constant"},
		{in: "200,0102:03", want: "bad hex constant"},
		{in: "200,1500b", want: "out of range"},
		{in: "200,4294967296", want: "out of range"},
		{in: "200,1.2.3.4/33", want: "prefix length"},
		{in: "200,12 34", want: "bad IPv4 address"},
		{in: "200," + strings.Repeat("x", 256), want: "too long"},
		{in: "vendor:x,1," + strings.Repeat("x", 254), want: "too long"},
		{in: "vi-encap:1,1," + strings.Repeat("x", 251), want: "too long"},
		{in: "set:a,set:b,93", match: true, want: "exactly one"},
		{in: "93", match: true, want: "exactly one"},
		{in: "set:a,vendor:x,1", match: true, want: "inappropriate vendor:"},
		{in: "set:a,encap:1,1", match: true, want: "inappropriate encap:1"},
		{in: "set:a", match: true, want: "no option number"},
		{in: "set:a,option6:1", match: true, want: "not supported yet (DHCPv6)"},
	} {
		got, err := ParseSpec(lexSpec(t, tc.in), tc.match)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %+v, %v; want an error with %q", tc.in, got, err, tc.want)
		}
	}
	_, err := ParseSpec(PlainValue("option6:1,x"), false)
	if !errors.Is(err, ErrNotSupportedV6) {
		t.Errorf("option6: %v is not ErrNotSupportedV6", err)
	}
}

func TestEncodeDomainCompression(t *testing.T) {
	for _, tc := range []struct {
		names  []string
		header int
		want   string
	}{
		{[]string{"a.b.c", "b.c", "c", "a.b.c"}, 0, "01610162016300c002c004c000"},
		{[]string{"example.com", "sub.example.com", "other.org"}, 0, "076578616d706c6503636f6d0003737562c000056f74686572036f726700"},
		{[]string{"."}, 0, "00"},
		{[]string{"x.org", "."}, 1, "000178036f72670000"},
		{[]string{"sip.example.com", "sip2.example.com"}, 1, "0003736970076578616d706c6503636f6d000473697032c004"},
	} {
		got, err := encodeDomainList(tc.names, tc.header)
		if err != nil || hex.EncodeToString(got) != tc.want {
			t.Errorf("%q: got %x, %v; want %s", tc.names, got, err, tc.want)
		}
	}
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		spec string
		sent string // hex
		want bool
	}{
		{"set:a,93", "", true},
		{"set:a,option:client-arch,6", "0000", false},
		{"set:a,option:client-arch,6", "00060007", true},
		{"set:a,option:client-arch,6", "00070006", true},
		{"set:a,option:client-arch,6", "0700", false}, // elements are 2-byte aligned
		{"set:a,option:client-arch,6", "000600", true},
		{"set:a,option:client-arch,6", "00", false},
		{"set:a,77,foo", hex.EncodeToString([]byte("xxfooyy")), true},
		{"set:a,77,foo", hex.EncodeToString([]byte("xxfoyy")), false},
		{"set:a,61,01:*:02", "01ff0299", true},
		{"set:a,61,01:*:02", "01ff0399", false},
		{"set:a,61,01:*:02", "01ff", false},
		{"set:a,61,01:02", "9901029", false},
	} {
		s, err := ParseSpec(lexSpec(t, tc.spec), true)
		if err != nil {
			t.Fatalf("%q: %v", tc.spec, err)
		}
		sent, _ := hex.DecodeString(tc.sent)
		if got := s.Encoded.Matches(sent); got != tc.want {
			t.Errorf("%q matches %s: %v, want %v", tc.spec, tc.sent, got, tc.want)
		}
	}
}

func TestWire(t *testing.T) {
	server := netip.MustParseAddr("192.0.2.1")
	s, _ := ParseSpec(PlainValue("6,0.0.0.0,10.0.0.1,0.0.0.0"), false)
	if got := s.Encoded.Wire(6, server); !bytes.Equal(got, mustHex("c00002010a000001c0000201")) {
		t.Errorf("substitution: %x", got)
	}
	if !bytes.Equal(s.Encoded.Data, mustHex("000000000a00000100000000")) {
		t.Errorf("Wire changed the stored data: %x", s.Encoded.Data)
	}
	v, _ := ParseSpec(PlainValue("vendor:x,1,0.0.0.0"), false)
	if got := v.Encoded.WithServer(server); !bytes.Equal(got, mustHex("00000000")) {
		t.Errorf("vendor sub-options are not substituted: %x", got)
	}
	b, _ := ParseSpec(PlainValue("67,pxelinux.0"), false)
	if got := b.Encoded.Wire(67, server); !bytes.Equal(got, append([]byte("pxelinux.0"), 0)) {
		t.Errorf("bootfile-name: %q", got)
	}
	long, _ := ParseSpec(PlainValue("66,"+strings.Repeat("x", 255)), false)
	if got := long.Encoded.Wire(66, server); len(got) != 255 {
		t.Errorf("a 255-byte option 66 grew to %d", len(got))
	}
	if got := VIEncapsulate(2, []SubOption{{10, []byte("ab")}, {11, nil}}); !bytes.Equal(got, mustHex("0000000206"+"0a026162"+"0b00")) {
		t.Errorf("VIEncapsulate: %x", got)
	}
	if got := Encapsulate(nil); !bytes.Equal(got, []byte{255}) {
		t.Errorf("Encapsulate(nil): %x", got)
	}
}
