package hosts

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestParseFixture(t *testing.T) {
	data, err := os.ReadFile("testdata/hosts.txt")
	if err != nil {
		t.Fatal(err)
	}
	entries, problems := Parse("/etc/hosts", data)

	type got struct {
		addr  string
		names string
		line  int
	}
	var gotEntries []got
	for _, e := range entries {
		if e.Source != "/etc/hosts" {
			t.Errorf("line %d: source %q", e.Line, e.Source)
		}
		gotEntries = append(gotEntries, got{e.Addr.String(), strings.Join(e.Names, " "), e.Line})
	}
	want := []got{
		{"127.0.0.1", "localhost", 2},
		{"::1", "localhost ip6-localhost ip6-loopback", 3},
		{"192.168.1.10", "foo.lan foo", 4},
		{"192.168.1.10", "alias.lan", 5},
		{"fd00::10", "foo.lan", 6},
		{"10.0.0.3", "good.lan after.lan", 10},
		{"::ffff:1.2.3.4", "mapped.lan", 11},
		{"10.0.0.10", "dup.lan", 14},
		{"10.0.0.10", "dup.lan", 15},
		{"10.0.0.11", "dup.lan", 16},
		{"10.0.0.12", "lead.lan trailing.dot.lan", 17},
		{"10.0.0.13", "under_s.lan", 18},
	}
	if !reflect.DeepEqual(gotEntries, want) {
		t.Errorf("entries:\n got %v\nwant %v", gotEntries, want)
	}

	var gotProblems []string
	for _, p := range problems {
		gotProblems = append(gotProblems, p.Error())
	}
	wantProblems := []string{
		`bad address at /etc/hosts line 7 ("not-an-ip")`,
		`bad address at /etc/hosts line 9 ("300.1.1.1")`,
		`bad name at /etc/hosts line 10 ("` + strings.Repeat("a", 64) + `.lan")`,
		`bad address at /etc/hosts line 13 ("fe80::1%eth0")`,
		`bad name at /etc/hosts line 18 ("a..b")`,
	}
	if !reflect.DeepEqual(gotProblems, wantProblems) {
		t.Errorf("problems:\n got %q\nwant %q", gotProblems, wantProblems)
	}
}

func TestCanonicalName(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"foo", "foo", true},
		{"Foo.LAN.", "foo.lan", true},
		{"under_s.lan", "under_s.lan", true},
		{"-x.lan", "-x.lan", true}, // dnsmasq accepts it
		{long + ".lan", long + ".lan", true},
		{long + "a.lan", "", false},
		{strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 126) + "a", true},
		{strings.Repeat("a.", 127) + "a", "", false},
		{"", "", false},
		{".", "", false},
		{"a..b", "", false},
		{".lead", "", false},
		{"tab\tx", "", false},
		{"nul\x00x", "", false},
		{"caf\xc3\xa9", "", false},
		{`esc\.aped`, "", false},
		{"semi;colon", "", false},
	}
	for _, tt := range tests {
		got, ok := CanonicalName(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CanonicalName(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func fixtureTable(t testing.TB) *Table {
	t.Helper()
	data, err := os.ReadFile("testdata/hosts.txt")
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := Parse("/etc/hosts", data)
	return NewTable(entries)
}

func TestTableLookup(t *testing.T) {
	tab := fixtureTable(t)
	tests := []struct {
		key  string
		v6   bool
		want []string
	}{
		{"foo.lan", false, []string{"192.168.1.10"}},
		{"foo.lan", true, []string{"fd00::10"}},
		{"foo", true, nil},
		{"dup.lan", false, []string{"10.0.0.10", "10.0.0.11"}},
		{"mapped.lan", false, nil},
		{"mapped.lan", true, []string{"::ffff:1.2.3.4"}},
		{"localhost", false, []string{"127.0.0.1"}},
		{"localhost", true, []string{"::1"}},
		{"nope.lan", false, nil},
	}
	for _, tt := range tests {
		var got []string
		for _, r := range tab.Lookup(tt.key, tt.v6) {
			got = append(got, r.Addr.String())
			if r.Source != "/etc/hosts" {
				t.Errorf("%s: source %q", tt.key, r.Source)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Lookup(%q, v6=%v) = %v, want %v", tt.key, tt.v6, got, tt.want)
		}
	}
	if !tab.Exists("foo") || tab.Exists("nope.lan") || !tab.Exists("mapped.lan") {
		t.Error("Exists is wrong")
	}
	if got := tab.Len(); got != 16 {
		t.Errorf("Len = %d, want 16", got)
	}
	var nilTable *Table
	if nilTable.Lookup("foo", false) != nil || nilTable.Exists("foo") || nilTable.Len() != 0 {
		t.Error("nil table must be empty")
	}
	if _, _, ok := nilTable.Reverse(netip.MustParseAddr("127.0.0.1")); ok {
		t.Error("nil table reverse")
	}
}

func TestTableReverse(t *testing.T) {
	tab := fixtureTable(t)
	tests := []struct {
		addr string
		want string
		ok   bool
	}{
		{"192.168.1.10", "foo.lan", true}, // first name of the first line wins
		{"10.0.0.11", "dup.lan", true},
		{"::1", "localhost", true},
		{"::ffff:1.2.3.4", "mapped.lan", true},
		{"1.2.3.4", "", false}, // the mapped form is a different address
		{"10.9.9.9", "", false},
	}
	for _, tt := range tests {
		name, _, ok := tab.Reverse(netip.MustParseAddr(tt.addr))
		if name != tt.want || ok != tt.ok {
			t.Errorf("Reverse(%s) = %q, %v; want %q, %v", tt.addr, name, ok, tt.want, tt.ok)
		}
	}
}

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"Foo.Example.": "foo.example",
		"foo.example.": "foo.example",
		"foo":          "foo",
		".":            "",
		"ÄB.":          "Äb", // only ASCII folds, as DNS does
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseReverse(t *testing.T) {
	for _, a := range []string{"1.2.3.4", "0.0.0.0", "255.255.255.255", "10.0.0.1", "::1", "2001:db8::567:89ab", "fd00::10"} {
		addr := netip.MustParseAddr(a)
		name, err := dns.ReverseAddr(a)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ParseReverse(Key(name))
		if !ok || got != addr {
			t.Errorf("ParseReverse(%q) = %v, %v; want %v", name, got, ok, addr)
		}
	}
	for _, bad := range []string{
		"3.2.1.in-addr.arpa", "5.4.3.2.1.in-addr.arpa", "256.2.3.4.in-addr.arpa", "01.2.3.4.in-addr.arpa",
		"a.2.3.4.in-addr.arpa", ".2.3.4.in-addr.arpa", "in-addr.arpa", "1.2.3.4.example",
		"1.0.0.ip6.arpa", strings.Repeat("g.", 32) + "ip6.arpa", strings.Repeat("1.", 31) + "11.ip6.arpa",
	} {
		if got, ok := ParseReverse(bad); ok {
			t.Errorf("ParseReverse(%q) = %v, want failure", bad, got)
		}
	}
}

// FuzzParse checks that Parse never panics and that what it returns is
// consistent: valid addresses, canonical names, and a second parse of the
// entries written back out gives the same entries.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/hosts.txt"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("1.2.3.4 a b c\n::1 x\n"))
	f.Add([]byte("#\n\n\t\r\n1.2.3.4"))
	f.Add([]byte("::ffff:1.2.3.4 A.B.\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, problems := Parse("f", data)
		var out strings.Builder
		for _, e := range entries {
			if !e.Addr.IsValid() || e.Addr.Zone() != "" || len(e.Names) == 0 {
				t.Fatalf("bad entry %+v", e)
			}
			out.WriteString(e.Addr.String())
			for _, n := range e.Names {
				if c, ok := CanonicalName(n); !ok || c != n {
					t.Fatalf("name %q not canonical", n)
				}
				out.WriteString(" " + n)
			}
			out.WriteString("\n")
		}
		for _, p := range problems {
			if p.Line < 1 {
				t.Fatalf("problem without a line: %+v", p)
			}
		}
		again, againProblems := Parse("f", []byte(out.String()))
		if len(again) != len(entries) || len(againProblems) != 0 {
			t.Fatalf("round trip: %d entries, %v problems; want %d, none", len(again), againProblems, len(entries))
		}
		for i := range again {
			if again[i].Addr != entries[i].Addr || !reflect.DeepEqual(again[i].Names, entries[i].Names) {
				t.Fatalf("round trip entry %d: %+v != %+v", i, again[i], entries[i])
			}
		}
		tab := NewTable(entries)
		for _, e := range entries {
			if _, _, ok := tab.Reverse(e.Addr); !ok {
				t.Fatalf("no reverse for %v", e.Addr)
			}
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	tab := fixtureTable(b)
	b.ReportAllocs()
	for b.Loop() {
		if len(tab.Lookup(Key("Foo.Lan."), false)) != 1 {
			b.Fatal("miss")
		}
	}
}

func TestHasAtOrBelow(t *testing.T) {
	tab := fixtureTable(t)
	for name, want := range map[string]bool{
		"foo.lan": true, "lan": true, "alias.lan": true, "foo": true, "dot.lan": true,
		"trailing.dot.lan": true, "x.foo.lan": false, "nope.lan": false, "": false, "an": false,
	} {
		if got := tab.HasAtOrBelow(name); got != want {
			t.Errorf("HasAtOrBelow(%q) = %v, want %v", name, got, want)
		}
	}
	var nilTable *Table
	if nilTable.HasAtOrBelow("lan") {
		t.Error("nil table")
	}
}
