package masterd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatdns/moat/internal/config"
)

// The verdicts are dnsmasq 2.90's --test verdicts on the same lines
// (checked by hand): it refuses a scope interface that does not exist and
// several resolv-files with no-poll, and accepts what it leaves to its
// start.
func TestTestModeChecks(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string // "" = accepted; else the error contains ":LINE: " + this
	}{
		{"plain config", []string{"server=192.0.2.1", "no-poll"}, ""},
		{"scope interface exists", []string{"server=fe80::1%lo"}, ""},
		{"scope interface missing", []string{"no-resolv", "server=fe80::1%nosuch0"}, ":2: server: scope %nosuch0: bad interface name"},
		{"scope on a domain server", []string{"server=/lan/fe80::1%nosuch0#5353"}, ":1: server: scope %nosuch0"},
		{"scope on rev-server", []string{"rev-server=10.0.0.0/8,fe80::1%nosuch0"}, ":1: rev-server: scope %nosuch0"},
		{"scope by index (moat's extension)", []string{"server=fe80::1%1"}, ""},
		{"scope by an index nobody has", []string{"server=fe80::1%99999"}, ":1: server: scope %99999: bad interface name"},
		{"no-poll with two resolv-files", []string{"no-poll", "resolv-file=/etc/resolv.conf", "resolv-file=/tmp/other"}, "only one resolv.conf file allowed in no-poll mode"},
		{"no-poll with two resolv-files and no-resolv", []string{"no-poll", "no-resolv", "resolv-file=/a", "resolv-file=/b"}, ""},
		{"ports left to the start", []string{"min-port=2000", "max-port=1000"}, ""},
		{"bind-interfaces with bind-dynamic left to the start", []string{"bind-interfaces", "bind-dynamic"}, ""},
		{"missing interface left to the start", []string{"interface=nosuch0", "bind-interfaces"}, ""},
		{"user root (moat's own refusal)", []string{"user=root"}, "user: root is uid 0: moat runs no worker as root"},
		{"dns-user root", []string{"user=nobody", "dns-user=root"}, "dns-user: root is uid 0"},
		{"group root", []string{"group=root"}, "group: root is gid 0"},
		{"unknown user left to the start", []string{"user=nosuchuser-moat"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "test.conf")
			if err := os.WriteFile(path, []byte(strings.Join(tt.lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse([]string{"-C", path}, "")
			if err != nil {
				t.Fatal(err)
			}
			err = testModeChecks(cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("testModeChecks: %v, want accepted", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("testModeChecks: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestRunTestModeOutput: --test prints one warning per subsystem moat
// accepts but does not act on, before the verdict, and still exits 0; a
// failed check gives the error and exit 1 after the warnings.
func TestRunTestModeOutput(t *testing.T) {
	tests := []struct {
		name     string
		lines    []string
		code     int
		warnings []string // the prefixes of the warning lines, in order
		last     string
	}{
		{"no warnings", []string{"server=192.0.2.1"}, 0, nil, "moatd: syntax check OK."},
		{"NetworkManager's dns plugin", []string{"enable-dbus=org.freedesktop.NetworkManager.dnsmasq", "proxy-dnssec"}, 0,
			[]string{"moatd: warning: enable-dbus=org.freedesktop.NetworkManager.dnsmasq: moat has no D-Bus interface", "moatd: warning: proxy-dnssec: "},
			"moatd: syntax check OK."},
		{"OpenWrt", []string{"enable-ubus=dnsmasq", "ipset=/a.com/vpn4", "nftset=/a.com/4#inet#fw4#vpn4"}, 0,
			[]string{"moatd: warning: enable-ubus=dnsmasq: moat has no ubus interface", "moatd: warning: ipset (1), nftset (1): firewall sets are not filled"},
			"moatd: syntax check OK."},
		{"Pi-hole v6", []string{"dnssec", "trust-anchor=.,20326,8,2,E06D44B8"}, 0,
			[]string{"moatd: warning: dnssec, trust-anchor (1): DNSSEC VALIDATION IS NOT PERFORMED"}, "moatd: syntax check OK."},
		{"warning and a failed check", []string{"dnssec", "server=fe80::1%nosuch0"}, 1,
			[]string{"moatd: warning: dnssec: DNSSEC VALIDATION IS NOT PERFORMED"}, ":2: server: scope %nosuch0: bad interface name (no such interface)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "test.conf")
			if err := os.WriteFile(path, []byte(strings.Join(tt.lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse([]string{"-C", path, "--test"}, "")
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			if code := runTestMode(cfg, &out); code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != len(tt.warnings)+1 {
				t.Fatalf("output:\n%s", out.String())
			}
			for i, w := range tt.warnings {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d = %q, want it to start %q", i+1, lines[i], w)
				}
			}
			if got := lines[len(lines)-1]; !strings.HasSuffix(got, tt.last) {
				t.Errorf("last line %q, want it to end %q", got, tt.last)
			}
		})
	}
}
