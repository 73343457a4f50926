package masterd

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moatdns/moat/internal/config"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func TestHardeningLayersPerMode(t *testing.T) {
	const netBind, netRaw, bpf = 1 << capNetBindService, 1 << capNetRaw, 1 << capBPF
	tests := []struct {
		name        string
		in          hardeningInputs
		mode        string
		applied     []string
		missing     []string
		absent      []string // layers the mode does not list at all
		detailMatch map[string]string
	}{
		{
			name:    "root with DNS and DHCP",
			in:      hardeningInputs{root: true, workerUser: "nobody", dnsPort: 53, dhcp: true, unprivPorts: 1024},
			mode:    ModeRoot,
			applied: []string{LayerPrivilegedPorts, LayerDHCPSockets, LayerEBPF, LayerNamespaces, LayerChroot, LayerBoundingSet, LayerUIDSwitch, LayerNoCapabilities, LayerRlimits, LayerNoNewPrivs, LayerSeccomp},
			missing: []string{LayerMasterCaps},
			absent:  []string{LayerUserNamespace},
		},
		{
			name:        "nobody with net_bind_service and net_raw",
			in:          hardeningInputs{uid: 65534, caps: netBind | netRaw, dropped: 1 << 21, userNS: true, dnsPort: 53, dhcp: true, unprivPorts: 1024},
			mode:        ModeAmbient,
			applied:     []string{LayerMasterCaps, LayerPrivilegedPorts, LayerDHCPSockets, LayerUserNamespace, LayerNamespaces, LayerChroot, LayerBoundingSet, LayerNoCapabilities, LayerNoNewPrivs, LayerSeccomp},
			missing:     []string{LayerEBPF, LayerUIDSwitch},
			detailMatch: map[string]string{LayerMasterCaps: "dropped CAP_SYS_ADMIN", LayerEBPF: "classic BPF", LayerUIDSwitch: "uid 65534"},
		},
		{
			name:    "nobody with CAP_BPF too",
			in:      hardeningInputs{uid: 65534, caps: netBind | netRaw | bpf, userNS: true, dnsPort: 53, dhcp: true, unprivPorts: 1024},
			mode:    ModeAmbient,
			applied: []string{LayerEBPF, LayerChroot},
			missing: []string{LayerUIDSwitch},
		},
		{
			name:        "nobody with net_bind_service but DHCP without net_raw",
			in:          hardeningInputs{uid: 65534, caps: netBind, userNS: true, dnsPort: 53, dhcp: true, unprivPorts: 1024},
			mode:        ModeAmbient,
			missing:     []string{LayerDHCPSockets, LayerEBPF, LayerUIDSwitch},
			detailMatch: map[string]string{LayerDHCPSockets: "CAP_NET_RAW"},
		},
		{
			name:    "development on a high port",
			in:      hardeningInputs{uid: 1000, userNS: true, dnsPort: 5353, unprivPorts: 1024},
			mode:    ModeDevelopment,
			applied: []string{LayerMasterCaps, LayerUserNamespace, LayerChroot, LayerSeccomp},
			missing: []string{LayerEBPF, LayerUIDSwitch},
			absent:  []string{LayerPrivilegedPorts, LayerDHCPSockets},
		},
		{
			name:        "development asking for port 53",
			in:          hardeningInputs{uid: 1000, userNS: true, dnsPort: 53, unprivPorts: 1024},
			mode:        ModeDevelopment,
			missing:     []string{LayerPrivilegedPorts},
			detailMatch: map[string]string{LayerPrivilegedPorts: "DNS port 53"},
		},
		{
			name:    "port 53 allowed by a lowered ip_unprivileged_port_start",
			in:      hardeningInputs{uid: 1000, userNS: true, dnsPort: 53, unprivPorts: 0},
			mode:    ModeDevelopment,
			absent:  []string{LayerPrivilegedPorts},
			applied: []string{LayerChroot},
		},
		{
			name:        "no user namespaces",
			in:          hardeningInputs{uid: 65534, caps: netBind, userNSWhy: "user.max_user_namespaces is 0", dnsPort: 53, unprivPorts: 1024},
			mode:        ModeAmbient,
			missing:     []string{LayerUserNamespace, LayerNamespaces, LayerChroot, LayerBoundingSet, LayerUIDSwitch},
			applied:     []string{LayerNoCapabilities, LayerNoNewPrivs, LayerSeccomp},
			detailMatch: map[string]string{LayerUserNamespace: "max_user_namespaces"},
		},
		{
			name:        "socket-filter=classic",
			in:          hardeningInputs{root: true, workerUser: "nobody", dnsPort: 53, unprivPorts: 1024, socketFilter: "classic"},
			mode:        ModeRoot,
			missing:     []string{LayerMasterCaps, LayerEBPF},
			detailMatch: map[string]string{LayerEBPF: "socket-filter=classic"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.in.hardening()
			if h.Mode != tc.mode {
				t.Errorf("mode %q, want %q", h.Mode, tc.mode)
			}
			for _, name := range tc.applied {
				if l, ok := h.Layer(name); !ok || !l.Applied {
					t.Errorf("layer %s: listed=%v applied=%v, want applied", name, ok, l.Applied)
				}
			}
			for _, name := range tc.missing {
				if l, ok := h.Layer(name); !ok || l.Applied {
					t.Errorf("layer %s: listed=%v applied=%v, want missing", name, ok, l.Applied)
				}
			}
			for _, name := range tc.absent {
				if _, ok := h.Layer(name); ok {
					t.Errorf("layer %s listed, want absent in this mode", name)
				}
			}
			for name, want := range tc.detailMatch {
				if l, _ := h.Layer(name); !strings.Contains(l.Detail, want) {
					t.Errorf("layer %s detail %q, want it to mention %q", name, l.Detail, want)
				}
			}
			// Every missing layer has its own log line with a reason.
			lines := h.Lines()
			want := 1 + len(h.Missing())
			if !tc.in.root {
				want++ // what the master kept and dropped
			} else {
				want++ // who the workers switch to
			}
			if len(lines) != want || !strings.HasPrefix(lines[0], "hardening mode="+tc.mode+" ") {
				t.Errorf("lines = %q", lines)
			}
			for _, l := range h.Missing() {
				if l.Detail == "" || !slices.Contains(lines, "hardening missing "+l.Name+": "+l.Detail) {
					t.Errorf("missing layer %s has no log line with a reason: %q", l.Name, lines)
				}
			}
		})
	}
}

func TestHardeningSummaryFormat(t *testing.T) {
	h := hardeningInputs{uid: 65534, caps: 1 << capNetBindService, userNS: true, dnsPort: 53, unprivPorts: 1024}.hardening()
	got := h.Summary()
	for _, want := range []string{"mode=ambient ", "uid=65534 ", "master-caps=CAP_NET_BIND_SERVICE ", "applied=master-capabilities,privileged-ports,", "missing=ebpf-filter,uid-switch"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
}

func TestCapNames(t *testing.T) {
	tests := []struct {
		mask uint64
		want string
	}{
		{0, ""},
		{1 << capNetBindService, "CAP_NET_BIND_SERVICE"},
		{1<<capNetBindService | 1<<capNetRaw | 1<<capBPF, "CAP_NET_BIND_SERVICE,CAP_NET_RAW,CAP_BPF"},
		{1 << 63, "CAP_63"},
	}
	for _, tc := range tests {
		if got := strings.Join(capNames(tc.mask), ","); got != tc.want {
			t.Errorf("capNames(%x) = %q, want %q", tc.mask, got, tc.want)
		}
	}
}

// TestHardeningLayersOfThisProcess checks the exported entry point against
// what the test process is: root in CI.
func TestHardeningLayersOfThisProcess(t *testing.T) {
	cfg := &config.Config{Port: 53}
	h := HardeningLayers(cfg)
	want := ModeDevelopment
	if os.Geteuid() == 0 {
		want = ModeRoot
	} else if eff, _, _, _ := capabilitySets(); eff != 0 {
		want = ModeAmbient
	}
	if h.Mode != want || h.UID != os.Geteuid() {
		t.Errorf("HardeningLayers: mode %q uid %d, want %q uid %d", h.Mode, h.UID, want, os.Geteuid())
	}
	if _, ok := h.Layer(LayerSeccomp); !ok {
		t.Errorf("no seccomp layer in %+v", h)
	}
}

func TestMasterCapsNeeded(t *testing.T) {
	if got := masterCapsNeeded(false); got&(1<<capNetRaw) != 0 || got&(1<<capNetBindService) == 0 || got&(1<<capBPF) == 0 {
		t.Errorf("without DHCP: %v", capNames(got))
	}
	if got := masterCapsNeeded(true); got&(1<<capNetRaw) == 0 {
		t.Errorf("with DHCP: %v, want CAP_NET_RAW", capNames(got))
	}
}

// TestSandboxCheckWithoutUserNamespaces: in the fallback the bounding set
// may be left (nothing can be gained from it), every other set may not.
func TestSandboxCheckWithoutUserNamespaces(t *testing.T) {
	fallback := sandboxPlan{keepBounding: true}
	full := sandboxPlan{userNS: true}
	status := func(bnd, eff, amb uint64) *ipcpb.SandboxStatus {
		return &ipcpb.SandboxStatus{Uid: 65534, Gid: 65534, NoNewPrivs: true, SeccompMode: 2, CapBnd: bnd, CapEff: eff, CapAmb: amb}
	}
	tests := []struct {
		name   string
		plan   sandboxPlan
		status *ipcpb.SandboxStatus
		ok     bool
	}{
		{"fallback keeps the bounding set", fallback, status(0x1ffffffffff, 0, 0), true},
		{"fallback with an effective capability", fallback, status(0x1ffffffffff, 1<<capNetBindService, 0), false},
		{"fallback with an ambient capability", fallback, status(0, 0, 1<<capNetRaw), false},
		{"user namespace mode must empty the bounding set", full, status(1, 0, 0), false},
		{"user namespace mode confined", full, status(0, 0, 0), true},
	}
	for _, tc := range tests {
		if err := tc.plan.check(tc.status); (err == nil) != tc.ok {
			t.Errorf("%s: check = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
