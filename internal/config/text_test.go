package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// dhcpPart is what DHCPText promises to carry, without Sources.
type dhcpPart struct {
	Port    int
	DHCP    DHCPConfig
	Domains []DomainRule
}

func dhcpPartOf(c *Config) dhcpPart {
	return dhcpPart{Port: c.Port, DHCP: c.DHCP, Domains: stripSources(c.Local).Domains}
}

func TestDHCPTextRoundTrips(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	sawDHCP := false
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Parse([]string{"-C", f}, "")
			if err != nil {
				t.Fatalf("fixture does not parse: %v", err)
			}
			sawDHCP = sawDHCP || c.DHCP.Enabled()
			text := c.DHCPText()
			back, err := ParseText("dhcp", text)
			if err != nil {
				t.Fatalf("DHCPText does not parse back: %v\n%s", err, text)
			}
			if g, w := dhcpPartOf(back), dhcpPartOf(c); !reflect.DeepEqual(g, w) {
				t.Fatalf("round trip differs:\ngot  %+v\nwant %+v\ntext:\n%s", g, w, text)
			}
		})
	}
	if !sawDHCP {
		t.Fatal("no fixture configures DHCP: the round trip proved nothing")
	}
}

func TestDHCPTextCarriesOnlyWhatDHCPNeeds(t *testing.T) {
	c, err := ParseText("in", "port=5353\ndomain=lan\ndomain=guest,192.168.2.0/24\nserver=192.0.2.1\ncache-size=10\naddress=/ads/0.0.0.0\ndhcp-range=192.168.1.10,192.168.1.20\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "port=5353\ndomain=lan\ndomain=guest,192.168.2.0/24\ndhcp-range=192.168.1.10,192.168.1.20\n"
	if got := c.DHCPText(); got != want {
		t.Fatalf("DHCPText:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseTextRefusesFiles(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "inc.conf")
	if err := os.WriteFile(inc, []byte("port=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"conf-file", "conf-file=" + inc + "\n", "dhcp:1: conf-file: not allowed here"},
		{"conf-dir", "port=53\nconf-dir=" + dir + "\n", "dhcp:2: conf-dir: not allowed here"},
		{"command-line only", "test\n", "dhcp:1: test"},
		{"unknown option", "no-such-option\n", "dhcp:1: no-such-option"},
		{"bad value", "dhcp-range=nonsense\n", "dhcp:1: dhcp-range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseText("dhcp", tc.text)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestParseTextReadsNoFile(t *testing.T) {
	// dhcp-hostsfile and addn-hosts are recorded, not read: a missing
	// path is no error here.
	c, err := ParseText("", "dhcp-hostsfile=/nonexistent/hosts\naddn-hosts=/nonexistent/h\nread-ethers\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.DHCP.HostsFiles) != 1 || !c.DHCP.ReadEthers || len(c.Files) != 0 {
		t.Fatalf("got hostsfiles %v read-ethers %v files %v", c.DHCP.HostsFiles, c.DHCP.ReadEthers, c.Files)
	}
}

func TestParseTextSizeCap(t *testing.T) {
	_, err := ParseText("big", strings.Repeat("#\n", maxFileBytes/2+1))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}

// FuzzParseText feeds arbitrary text to ParseText (dhcpd parses the
// master's text with it): no panic, no file opened (noFiles would make
// that an error, never a read), and a success prints to DHCPText that
// parses back to the same DHCP part.
func FuzzParseText(f *testing.F) {
	for _, s := range []string{
		"port=53\ndhcp-range=192.168.1.10,192.168.1.20,12h\n",
		"domain=lan\ndomain=guest,192.168.2.10,192.168.2.20\ndhcp-host=00:11:22:33:44:55,192.168.1.5,host,1h\n",
		"conf-file=/etc/passwd\n", "conf-dir=/etc\n", "dhcp-option=3,192.168.1.1\ndhcp-option=option:ntp-server,0.0.0.0\n",
		"dhcp-hostsfile=\"a b\"\nread-ethers\ntag-if=set:a,tag:b\n", "\x00\n", "=\n",
	} {
		f.Add(s)
	}
	if data, err := os.ReadFile("testdata/good/dhcp_full.conf"); err == nil {
		f.Add(string(data))
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseText("fuzz", text)
		if err != nil {
			if len(Errors(err)) == 0 {
				t.Fatalf("error with no parts: %v", err)
			}
			return
		}
		printed := c.DHCPText()
		back, err := ParseText("printed", printed)
		if err != nil {
			t.Fatalf("DHCPText does not parse: %v\n%s", err, printed)
		}
		if g, w := dhcpPartOf(back), dhcpPartOf(c); !reflect.DeepEqual(g, w) {
			t.Fatalf("round trip differs:\ngot  %+v\nwant %+v\nprinted:\n%s", g, w, printed)
		}
	})
}
