package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// roundTrip writes c.String() to a file, parses it, and compares.
func roundTrip(t *testing.T, c *Config) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "printed.conf")
	text := c.String()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := Parse([]string{"-C", path}, "")
	if err != nil {
		t.Fatalf("printed config does not parse: %v\n%s", err, text)
	}
	sameConfig(t, back, c)
	if again := back.String(); again != text {
		t.Errorf("String is not stable:\n%s\nthen:\n%s", text, again)
	}
}

func TestRoundTripFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.conf")
	files = append(files, "testdata/nested/main.conf")
	for _, f := range files {
		t.Run(f, func(t *testing.T) { roundTrip(t, mustParse(t, "-C", f)) })
	}
}

func TestRoundTripAwkwardValues(t *testing.T) {
	c := configWith(func(c *Config) {
		c.AddnHosts = []string{
			"/a b", " lead", "trail ", "/x #y", "/x#y", `/q"uote`, `/back\slash`,
			"/tab\there", "/nl\nhere", "/cr\rhere", "/esc\033", "/bs\b", "/del\x7f", "/ctl\x01", "/ünï",
		}
		c.PidFile = "/run/with space.pid"
		c.User = ""
		c.Group = "wheel"
		c.RunDir = "/run/moat d"
		c.LogFacility = "/var/log/moat #1.log"
		c.ResolvFiles = nil
		c.Interfaces = []string{"", "eth0:1", "veth*"}
		c.DHCP.Ranges = []DHCPRange{{SetTag: "a#b", Start: netip.MustParseAddr("10.0.0.1"), End: netip.MustParseAddr("10.0.0.9")}}
		c.LogQueries, c.LogQueriesExtra = true, "proto"
		c.Servers = []Server{
			upstream("[fe80::1%eth0]:5353", "a", ""),
			{Domains: []string{"b"}, UseStandard: true},
			localOnly(""),
			upstream("[::ffff:192.0.2.1]:53"),
		}
		c.ListenAddresses = []netip.Addr{netip.MustParseAddr("::ffff:127.0.0.1")}
	})
	roundTrip(t, c)
}

func TestStringFormat(t *testing.T) {
	c := mustParse(t, "-p", "5353", "-S", "/Example/192.0.2.1#54", "--local=/lan/", "-q", "-x", "", "--test")
	want := strings.Join([]string{
		"port=5353",
		"server=/example/192.0.2.1#54",
		"local=/lan/",
		"resolv-file=/etc/resolv.conf",
		"cache-size=150",
		"user=nobody",
		"log-queries",
		"pid-file=",
	}, "\n") + "\n"
	if got := c.String(); got != want {
		t.Errorf("String():\n%s\nwant:\n%s", got, want)
	}
}
