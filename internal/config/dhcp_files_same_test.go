package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// hostsReaderCases are hosts-file texts that take every path of the
// fast reader: quoting and comments (lexLine), upper-case and odd MAC
// addresses, wildcards, types, id:, tags, duplicates across lines and
// files, bad lines of every kind.
var hostsReaderCases = []string{
	"",
	"\n\n   \n",
	"02:00:00:00:00:01,10.0.0.1,a\n02:00:00:00:00:02,10.0.0.1,b\n",
	"02:AB:cd:EF:00:01,10.0.0.2,Host.Example.COM,1h\n",
	"ID:01:02:03,10.0.0.3\nid:*,02:00:00:00:00:03,set:x,tag:y,10.0.0.4,infinite\n",
	"id:client one,10.0.0.5\n\"id:quoted, with comma\",10.0.0.6\n",
	`"02:00:00:00:00:04",10.0.0.7,"my host"` + "\n",
	"# comment\n  02:00:00:00:00:05 , 10.0.0.8 , c # trailing\n",
	"02:00:00:00:00:06,\t10.0.0.9\r\n02:00:00:00:00:07,10.0.0.10\r\n",
	"02:*:00:00:*:08,10.0.0.11\n*:*,10.0.0.12\n",
	"06-02:00:00:00:00:09,10.0.0.13\n00ff-01:02,x\n100-01:02,y\n01-02-03,z\n-01:02,w\n01-,v\n",
	"0200.0000.000a,10.0.0.14\n020000:00000b,10.0.0.15\nabc:d,10.0.0.16\n",
	"01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10,p\n01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11,q\n",
	"01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:zz,r\n",
	"zz:00:00:00:00:01,10.0.0.17\n02:00:00:00:00:0g,s\n+1:02,t\n",
	"[::1],u\n10.0.0.18,10.0.0.19,v\n1.2.3,w\n-bad,02:00:00:00:00:0c\n",
	"02:00:00:00:00:0d,ignore\n02:00:00:00:00:0e,10m,5\n,,,\nonlyname\n",
	"\"unterminated,10.0.0.20\n02:00:00:00:00:0f,\"\\t\"\n",
	"İD:01:02,x\nId:abc,10.0.0.21\n",
	"02:00:00:00:00:10 02:00:00:00:00:11,10.0.0.22\n02:00:00:00:00:12,02:00:00:00:00:13,10.0.0.23\n",
	strings.Repeat("x", maxLineBytes+1) + "\nab:cd,ok\nx\x00y\n",
	"02:00:00:00:00:14,10.0.0.24,h\n02:00:00:00:00:15,10.0.0.24,dup\nno-newline,10.0.0.25",
}

// sameAsReference reads text with the fast reader and with the
// reference (dhcp_files_ref_test.go), and fails where they differ: in
// the hosts, the errors (text and order) or the read error. It also
// reads text as two files after configured hosts, through
// DHCPFileHosts and its reference.
func sameAsReference(t *testing.T, text string) {
	t.Helper()
	existing := []DHCPHost{{Name: "cfg", Addr: dhcpIP("10.0.0.1")}, {Name: "cfg2", Addr: dhcpIP("10.0.0.25")}}
	hosts, errs, err := ReadDHCPHosts(strings.NewReader(text), "f", existing)
	rHosts, rErrs, rErr := refReadDHCPHosts(strings.NewReader(text), "f", existing)
	if !reflect.DeepEqual(hosts, rHosts) {
		t.Fatalf("%q: hosts\ngot  %+v\nwant %+v", text, hosts, rHosts)
	}
	if got, want := fmt.Sprint(dhcpErrorTexts(errs), err), fmt.Sprint(dhcpErrorTexts(rErrs), rErr); got != want {
		t.Fatalf("%q: errors\ngot  %s\nwant %s", text, got, want)
	}
	half := len(text) / 2
	files := []DHCPFileText{{Name: "a", Text: text[:half]}, {Name: "b", Text: text[half:]}, {Name: "c", Text: text}}
	ethers := &DHCPFileText{Name: "e", Text: "02:00:00:00:00:01 10.0.0.1\n"}
	hosts, errs = DHCPFileHosts(existing, files, ethers)
	rHosts, rErrs = refDHCPFileHosts(existing, files, ethers)
	if !reflect.DeepEqual(hosts, rHosts) {
		t.Fatalf("%q as files: hosts\ngot  %+v\nwant %+v", text, hosts, rHosts)
	}
	if got, want := dhcpErrorTexts(errs), dhcpErrorTexts(rErrs); !reflect.DeepEqual(got, want) {
		t.Fatalf("%q as files: errors\ngot  %q\nwant %q", text, got, want)
	}
	for _, line := range strings.Split(text, "\n") {
		for _, wild := range []bool{false, true} {
			h, err := parseHWAddr(line, wild)
			rh, rErr := refParseHWAddr(line, wild)
			if !reflect.DeepEqual(h, rh) || fmt.Sprint(err) != fmt.Sprint(rErr) {
				t.Fatalf("parseHWAddr(%q, %v) = %+v, %v; want %+v, %v", line, wild, h, err, rh, rErr)
			}
		}
	}
}

// TestHostsReaderSameAsReference: the fast hosts-file reader reads the
// test texts and the fixtures exactly as the reference does.
func TestHostsReaderSameAsReference(t *testing.T) {
	for i, text := range hostsReaderCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) { sameAsReference(t, text) })
	}
	fixtures, err := filepath.Glob("testdata/dhcp_files/*")
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("fixtures: %v", err)
	}
	for _, name := range fixtures {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(name), func(t *testing.T) { sameAsReference(t, string(b)) })
	}
	t.Run("big", func(t *testing.T) { sameAsReference(t, bigHostsFile(3000)) })
	t.Run("limit", func(t *testing.T) {
		// Files at the size limit, with and without a final newline and
		// with CRLF line ends, which the limit counts as bufio does.
		defer func(n int) { hostsFileLimit = n }(hostsFileLimit)
		hostsFileLimit = 48
		for _, line := range []string{"ab:cd,x\n", "ab:cd,x\r\n", "\n", "\r\n"} {
			for size := 40; size <= 56; size++ {
				text := strings.Repeat(line, size/len(line)+1)[:size]
				sameAsReference(t, text)
			}
		}
	})
}

// TestHostListBlocks: hosts collected over several blocks come out in
// order, whatever the hint.
func TestHostListBlocks(t *testing.T) {
	for _, hint := range []int{0, 1, 100, 5000, 1 << 30} {
		var l hostList
		l.hint = hint
		const n = 10_000
		for i := range n {
			l.add(DHCPHost{Name: fmt.Sprint(i)})
		}
		got := l.slice()
		if len(got) != n {
			t.Fatalf("hint %d: %d hosts", hint, len(got))
		}
		for i, h := range got {
			if h.Name != fmt.Sprint(i) {
				t.Fatalf("hint %d: host %d is %q", hint, i, h.Name)
			}
		}
	}
	if (&hostList{hint: 10}).slice() != nil {
		t.Error("no host: want nil")
	}
}

// FuzzReadDHCPHostsSame: on any text the fast reader agrees with the
// reference.
func FuzzReadDHCPHostsSame(f *testing.F) {
	for _, text := range hostsReaderCases {
		f.Add(text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		sameAsReference(t, text)
	})
}
