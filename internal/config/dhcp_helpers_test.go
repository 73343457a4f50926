package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dhcpIP parses an address in test tables.
func dhcpIP(s string) netip.Addr { return netip.MustParseAddr(s) }

// parseConfText writes text to a file named dhcp.conf in a temporary
// directory and parses it; errors read "<dir>/dhcp.conf:N: ...", which
// relErr shortens to "dhcp.conf:N: ...".
func parseConfText(t *testing.T, text string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dhcp.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return Parse([]string{"-C", path}, "")
}

// relErr is the first error with the temporary directory cut off.
func relErr(err error) string {
	s := firstLine(err)
	if i := strings.Index(s, "dhcp.conf:"); i >= 0 {
		return s[i:]
	}
	return s
}

// dhcpErrCase is one line that must fail: the error must start with
// want, after "dhcp.conf:1: " unless want names its own line.
type dhcpErrCase struct {
	line string
	want string
}

func checkDHCPErrors(t *testing.T, cases []dhcpErrCase) {
	t.Helper()
	for _, tc := range cases {
		c, err := parseConfText(t, tc.line+"\n")
		if err == nil {
			t.Errorf("%q: no error; parsed to\n%s", tc.line, c)
			continue
		}
		want := tc.want
		if !strings.HasPrefix(want, "dhcp.conf:") {
			want = "dhcp.conf:1: " + want
		}
		if got := relErr(err); !strings.HasPrefix(got, want) {
			t.Errorf("%q:\n got: %s\nwant: %s...", tc.line, got, want)
		}
	}
}
