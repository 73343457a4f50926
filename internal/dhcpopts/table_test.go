package dhcpopts

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestListedMatchesDnsmasqHelp: Listed is exactly what `dnsmasq --help
// dhcp` (2.90) prints, in its order (testdata/dnsmasq-help-dhcp.txt).
func TestListedMatchesDnsmasqHelp(t *testing.T) {
	f, err := os.Open("testdata/dnsmasq-help-dhcp.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] != "Known" {
			want = append(want, f[0]+" "+f[1])
		}
	}
	var got []string
	for _, o := range Listed() {
		got = append(got, fmt.Sprintf("%d %s", o.Code, o.Name))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Listed differs from dnsmasq --help dhcp:\ngot  %q\nwant %q", got, want)
	}
	if len(want) < 60 {
		t.Errorf("only %d options in the help fixture", len(want))
	}
}

func TestLookups(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     uint8
		typ      Type
		internal bool
	}{
		{"router", 3, Addrs, false},
		{"Router", 3, Addrs, false},
		{"DNS-SERVER", 6, Addrs, false},
		{"mtu", 26, Uint16, false},
		{"T1", 58, Time, false},
		{"t2", 59, Time, false},
		{"hostname", 12, Name, true},
		{"client-id", 61, Unknown, true},
		{"domain-search", 119, Domains, false},
		{"nis+-domain", 64, Name, false},
		{"ipv6-only", 108, Uint32, false},
		{"time-offset", 2, Int32, false},
		{"server-ip-address", 255, Addrs, false},
	} {
		o, ok := ByName(tc.name)
		if !ok || o.Code != tc.code || o.Type != tc.typ || o.Internal != tc.internal {
			t.Errorf("ByName(%q) = %+v, %v", tc.name, o, ok)
		}
		if o2, ok := ByCode(tc.code); !ok || o2 != o {
			t.Errorf("ByCode(%d) = %+v, %v", tc.code, o2, ok)
		}
	}
	for _, bad := range []string{"", "nosuch", "option:router", "router "} {
		if o, ok := ByName(bad); ok {
			t.Errorf("ByName(%q) = %+v", bad, o)
		}
	}
	if _, ok := ByCode(250); ok {
		t.Error("ByCode(250) found an option")
	}
	if TypeOf(250) != Unknown || TypeOf(26) != Uint16 {
		t.Error("TypeOf is wrong")
	}
	seen := map[uint8]bool{}
	for _, o := range Table() {
		if seen[o.Code] {
			t.Errorf("code %d twice", o.Code)
		}
		seen[o.Code] = true
		if o.Type.String() == "Type(?)" {
			t.Errorf("%s: bad type", o.Name)
		}
	}
}
