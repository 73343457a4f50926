package masterd

import (
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/config"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Accounts every Debian-like system has: nobody (65534) and daemon (1).
const (
	testUserA, testUIDA = "nobody", 65534
	testUserB, testUIDB = "daemon", 1
)

func mustParse(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.ParseText("test.conf", text)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestLookupRoleUsers: each worker role resolves its own user, defaulting
// to user=; a user that does not exist is an error naming the option.
func TestLookupRoleUsers(t *testing.T) {
	tests := []struct {
		text       string
		dns, dhcp  int    // uids
		dnsOpt     string // option that decided dnsd's user
		wantErr    string
		dhcpOption string
	}{
		{text: "", dns: testUIDA, dhcp: testUIDA, dnsOpt: "user", dhcpOption: "user"},
		{text: "user=" + testUserB + "\n", dns: testUIDB, dhcp: testUIDB, dnsOpt: "user", dhcpOption: "user"},
		{text: "dns-user=" + testUserB + "\n", dns: testUIDB, dhcp: testUIDA, dnsOpt: "dns-user", dhcpOption: "user"},
		{text: "dns-user=" + testUserA + "\ndhcp-user=" + testUserB + "\n", dns: testUIDA, dhcp: testUIDB, dnsOpt: "dns-user", dhcpOption: "dhcp-user"},
		{text: "dhcp-user=moat-no-such-user-xyz\n", wantErr: "dhcp-user=moat-no-such-user-xyz"},
		{text: "dns-user=moat-no-such-user-xyz\n", wantErr: "dns-user=moat-no-such-user-xyz"},
		{text: "dns-user=root\n", wantErr: "dns-user=root"},
	}
	for _, tc := range tests {
		users, err := lookupRoleUsers(mustParse(t, tc.text))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want one naming %s", tc.text, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.text, err)
			continue
		}
		if u := users["dnsd"]; u.uid != tc.dns || u.option != tc.dnsOpt {
			t.Errorf("%q: dnsd %+v, want uid %d by %s", tc.text, u, tc.dns, tc.dnsOpt)
		}
		if u := users["dhcpd"]; u.uid != tc.dhcp || u.option != tc.dhcpOption {
			t.Errorf("%q: dhcpd %+v, want uid %d by %s", tc.text, u, tc.dhcp, tc.dhcpOption)
		}
	}
}

// TestSandboxPlanForRole: each role is spawned and verified against its
// own uid; a role without one (the script helper) keeps user='s.
func TestSandboxPlanForRole(t *testing.T) {
	p := sandboxPlan{root: true, uid: 65534, gid: 65534, roles: map[string]roleUser{
		"dnsd":  {role: "dnsd", uid: 1001, gid: 1001},
		"dhcpd": {role: "dhcpd", uid: 1002, gid: 1003},
	}}
	for role, want := range map[string][2]int{"dnsd": {1001, 1001}, "dhcpd": {1002, 1003}, "script": {65534, 65534}} {
		if got := p.forRole(role); got.uid != want[0] || got.gid != want[1] {
			t.Errorf("%s: uid %d gid %d, want %v", role, got.uid, got.gid, want)
		}
	}
	status := func(uid, gid uint32) *ipcpb.SandboxStatus {
		return &ipcpb.SandboxStatus{Uid: uid, Gid: gid, NoNewPrivs: true, SeccompMode: 2}
	}
	if err := p.forRole("dnsd").check(status(1001, 1001)); err != nil {
		t.Errorf("dnsd as its user: %v", err)
	}
	if err := p.forRole("dnsd").check(status(1002, 1003)); err == nil {
		t.Error("dnsd running as dhcpd's user passed the check")
	}
	if err := p.forRole("dhcpd").check(status(1001, 1001)); err == nil {
		t.Error("dhcpd running as dnsd's user passed the check")
	}
	if p.uid != 65534 {
		t.Error("forRole changed the plan it was called on")
	}
}

// TestUIDSwitchDetail: the hardening line names each role's user in root
// mode, warns when they share a uid, and says dns-user/dhcp-user are
// ignored when the master is not root.
func TestUIDSwitchDetail(t *testing.T) {
	tests := []struct {
		name string
		text string
		in   hardeningInputs
		want []string
		not  []string
	}{
		{
			name: "root, own users",
			text: "dns-user=" + testUserA + "\ndhcp-user=" + testUserB + "\ndhcp-range=192.0.2.10,192.0.2.20\n",
			in:   hardeningInputs{root: true},
			want: []string{"dnsd as nobody (uid 65534, dns-user)", "dhcpd as daemon (uid 1, dhcp-user)"},
			not:  []string{"share uid"},
		},
		{
			name: "root, one user",
			text: "dhcp-range=192.0.2.10,192.0.2.20\n",
			in:   hardeningInputs{root: true},
			want: []string{"dnsd as nobody (uid 65534, user)", "dnsd and dhcpd share uid 65534"},
		},
		{
			name: "root, no DHCP",
			text: "dhcp-user=" + testUserB + "\n",
			in:   hardeningInputs{root: true},
			want: []string{"dnsd as nobody"},
			not:  []string{"dhcpd"},
		},
		{
			name: "root, unknown user",
			text: "dns-user=moat-no-such-user-xyz\n",
			in:   hardeningInputs{root: true},
			want: []string{"dnsd as moat-no-such-user-xyz (uid unknown, dns-user)"},
		},
		{
			name: "ambient ignores the options",
			text: "dns-user=" + testUserA + "\ndhcp-user=" + testUserB + "\ndhcp-range=192.0.2.10,192.0.2.20\n",
			in:   hardeningInputs{uid: 1000, caps: 1 << capNetBindService},
			want: []string{"workers keep uid 1000", "ignored: dns-user=nobody, dhcp-user=daemon"},
		},
		{
			name: "development without the options",
			text: "",
			in:   hardeningInputs{uid: 1000},
			want: []string{"workers keep uid 1000"},
			not:  []string{"ignored"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustParse(t, tc.text)
			in := tc.in
			in.dnsPort, in.dhcp, in.unprivPorts = cfg.Port, cfg.DHCP.Enabled(), 1024
			in.probeRoleUsers(cfg)
			l, ok := in.hardening().Layer(LayerUIDSwitch)
			if !ok || l.Applied != in.root {
				t.Fatalf("uid-switch layer %+v (present %v), want applied=%v", l, ok, in.root)
			}
			for _, w := range tc.want {
				if !strings.Contains(l.Detail, w) {
					t.Errorf("detail %q lacks %q", l.Detail, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(l.Detail, n) {
					t.Errorf("detail %q has %q", l.Detail, n)
				}
			}
			if !in.root {
				// The missing layer is what the master logs once at start.
				found := false
				for _, line := range in.hardening().Lines() {
					found = found || strings.HasPrefix(line, "hardening missing uid-switch: ") && strings.Contains(line, l.Detail)
				}
				if !found {
					t.Errorf("no hardening missing uid-switch line in %q", in.hardening().Lines())
				}
			}
		})
	}
}

// TestStatusShowsRoleUsers: moatctl status names who each worker runs as.
func TestStatusShowsRoleUsers(t *testing.T) {
	cfg := mustParse(t, "dns-user="+testUserA+"\ndhcp-user="+testUserB+"\ndhcp-range=192.0.2.10,192.0.2.20\n")
	in := hardeningInputs{root: true, dnsPort: cfg.Port, dhcp: true, unprivPorts: 1024}
	in.probeRoleUsers(cfg)
	m := &master{cfg: cfg, sandbox: sandboxPlan{root: true, hardening: in.hardening()}}
	var b strings.Builder
	m.writeStatus(&b, time.Now())
	want := "users: workers switch to their users: dnsd as nobody (uid 65534, dns-user), dhcpd as daemon (uid 1, dhcp-user)\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("status lacks %q:\n%s", want, b.String())
	}
}
