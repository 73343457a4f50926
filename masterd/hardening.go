package masterd

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/moatdns/moat/internal/config"
)

// Deployment modes (DESIGN.md "Start-up modes", SECURITY.md "Deployment
// modes"): who the master is decides which layers of the workers'
// hardening can apply. The decision is made once at start, logged once,
// and kept for moatctl status.

// The three modes a master can start in.
const (
	// ModeRoot: the master is root; every layer applies.
	ModeRoot = "root"
	// ModeAmbient: the master is an unprivileged user holding a few
	// capabilities (systemd AmbientCapabilities, setpriv --ambient-caps,
	// or file capabilities): CAP_NET_BIND_SERVICE, CAP_NET_RAW for DHCP,
	// CAP_BPF for the eBPF filter.
	ModeAmbient = "ambient"
	// ModeDevelopment: an unprivileged user with no capabilities at all,
	// on high ports.
	ModeDevelopment = "development"
)

// Layer names, stable for logs, tests and moatctl status.
const (
	LayerMasterCaps      = "master-capabilities" // the master holds only what it needs
	LayerPrivilegedPorts = "privileged-ports"    // DNS/DHCP ports below ip_unprivileged_port_start
	LayerDHCPSockets     = "dhcp-raw-sockets"    // AF_PACKET and raw ICMP for dhcpd
	LayerEBPF            = "ebpf-filter"         // eBPF socket filters rather than classic BPF
	LayerUserNamespace   = "user-namespace"      // workers in their own user namespace (non-root)
	LayerNamespaces      = "namespaces"          // mount, IPC, UTS, PID (+net for dhcpd)
	LayerChroot          = "chroot"              // empty root directory
	LayerBoundingSet     = "bounding-set"        // capability bounding set emptied
	LayerUIDSwitch       = "uid-switch"          // workers run as the role user, not the master's uid
	LayerNoCapabilities  = "no-capabilities"     // CapEff/CapPrm/CapAmb/CapInh of workers empty
	LayerRlimits         = "rlimits"             // no file writes, no core, bounded fds
	LayerNoNewPrivs      = "no-new-privs"        // PR_SET_NO_NEW_PRIVS
	LayerSeccomp         = "seccomp"             // per-role allow-list, kill by default
)

// HardeningLayer is one layer and whether it applies in this mode.
type HardeningLayer struct {
	Name    string // one of the Layer constants
	Applied bool
	Detail  string // how it applies, or why it cannot
}

// Hardening is what the master's start-up mode allows of DESIGN.md's
// hardening: the mode, the master's own identity and capabilities, and
// every layer in the order a worker start applies them.
type Hardening struct {
	Mode       string
	UID        int      // the master's effective uid
	MasterCaps []string // capabilities the master kept, e.g. "CAP_NET_BIND_SERVICE"; "all" for root
	Layers     []HardeningLayer
}

// Applied names the layers that apply.
func (h Hardening) Applied() []string {
	var out []string
	for _, l := range h.Layers {
		if l.Applied {
			out = append(out, l.Name)
		}
	}
	return out
}

// Missing returns the layers that cannot apply in this mode.
func (h Hardening) Missing() []HardeningLayer {
	var out []HardeningLayer
	for _, l := range h.Layers {
		if !l.Applied {
			out = append(out, l)
		}
	}
	return out
}

// Layer returns the named layer; ok is false when the mode has no such
// layer (user-namespace in root mode, dhcp-raw-sockets without DHCP).
func (h Hardening) Layer(name string) (l HardeningLayer, ok bool) {
	for _, l := range h.Layers {
		if l.Name == name {
			return l, true
		}
	}
	return HardeningLayer{}, false
}

// Summary is the one structured line logged at start:
// "mode=ambient uid=65534 master-caps=CAP_NET_BIND_SERVICE applied=a,b missing=c,d".
func (h Hardening) Summary() string {
	var missing []string
	for _, l := range h.Missing() {
		missing = append(missing, l.Name)
	}
	return fmt.Sprintf("mode=%s uid=%d master-caps=%s applied=%s missing=%s",
		h.Mode, h.UID, listOrNone(h.MasterCaps), listOrNone(h.Applied()), listOrNone(missing))
}

// Lines are what the master logs once at start: the summary, what an
// unprivileged master kept and dropped of its capabilities, which user
// each worker switches to (root), and one line per layer that cannot
// apply, with the reason.
func (h Hardening) Lines() []string {
	lines := []string{"hardening " + h.Summary()}
	for _, name := range []string{LayerMasterCaps, LayerUIDSwitch} {
		if l, ok := h.Layer(name); ok && l.Applied {
			lines = append(lines, "hardening "+l.Name+": "+l.Detail)
		}
	}
	for _, l := range h.Missing() {
		lines = append(lines, "hardening missing "+l.Name+": "+l.Detail)
	}
	return lines
}

// auditHardening is the audit event (audit.go) logged once at start:
// keys mode, uid, master-caps, applied, missing (comma-separated layer
// names, "none" when empty).
const auditHardening = "hardening"

// logHardening logs the mode once at start: one audit record, what an
// unprivileged master kept and dropped, and why each missing layer is
// missing.
func (p sandboxPlan) logHardening(l *logger) {
	h := p.hardening
	var missing []string
	for _, layer := range h.Missing() {
		missing = append(missing, layer.Name)
	}
	l.auditMaster(auditHardening, "mode", h.Mode, "uid", h.UID, "master-caps", listOrNone(h.MasterCaps),
		"applied", listOrNone(h.Applied()), "missing", listOrNone(missing))
	for _, line := range h.Lines()[1:] {
		l.printf("master", "sandbox: %s", line)
	}
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}

// HardeningLayers reports, for a master running as this process does (its
// uid and capabilities, this kernel's user namespaces) with cfg, which
// layers apply. It changes nothing; the master's own decision is made
// once by planSandbox and kept in its sandbox plan.
func HardeningLayers(cfg *config.Config) Hardening {
	in := probeHardening(cfg)
	return in.hardening()
}

// hardeningInputs is everything the layer list depends on, gathered from
// the process and the kernel by probeHardening (tests build it directly).
type hardeningInputs struct {
	root       bool
	uid        int
	workerUser string // root mode: user=, for the detail without roleUsers
	// roleUsers (root mode) is who each running worker role switches to;
	// ignoredRoleUsers (not root) the dns-user/dhcp-user options that
	// cannot apply (hardening_users.go).
	roleUsers        []roleUser
	ignoredRoleUsers []string
	caps             uint64 // the master's effective set after trimming
	dropped          uint64 // capabilities the master gave up at start
	userNS           bool
	userNSWhy        string // why not, when !userNS
	dnsPort          int    // 0: no DNS
	dhcp             bool
	unprivPorts      int    // net.ipv4.ip_unprivileged_port_start
	socketFilter     string // socket-filter=: "" is auto
}

func probeHardening(cfg *config.Config) hardeningInputs {
	in := hardeningInputs{
		root:         os.Geteuid() == 0,
		uid:          os.Geteuid(),
		dnsPort:      cfg.Port,
		dhcp:         cfg.DHCP.Enabled(),
		unprivPorts:  unprivilegedPortStart(),
		socketFilter: cfg.SocketFilter,
	}
	in.caps, _, _, _ = capabilitySets()
	if in.root {
		in.workerUser = cfg.User
		if in.workerUser == "" {
			in.workerUser = config.DefaultUser
		}
	} else {
		in.userNS, in.userNSWhy = userNamespacesAvailable()
	}
	in.probeRoleUsers(cfg)
	return in
}

// unprivilegedPortStart reads the lowest port an unprivileged process may
// bind in this network namespace (1024 unless lowered).
func unprivilegedPortStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 1024
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 1024
	}
	return n
}

// mode names the start-up mode.
func (in hardeningInputs) mode() string {
	switch {
	case in.root:
		return ModeRoot
	case in.caps != 0:
		return ModeAmbient
	}
	return ModeDevelopment
}

// hardening decides every layer from the inputs.
func (in hardeningInputs) hardening() Hardening {
	h := Hardening{Mode: in.mode(), UID: in.uid, MasterCaps: capNames(in.caps)}
	if in.root {
		h.MasterCaps = []string{"all"} // root's full set; listing 41 names says no more
	}
	add := func(name string, applied bool, detail string) {
		h.Layers = append(h.Layers, HardeningLayer{Name: name, Applied: applied, Detail: detail})
	}
	has := func(c int) bool { return in.root || in.caps&(1<<c) != 0 }

	// The master itself.
	if in.root {
		add(LayerMasterCaps, false, "the master is root and keeps root's capabilities (it opens sockets and loads eBPF; the workers drop everything)")
	} else {
		detail := "the master keeps " + listOrNone(capNames(in.caps)) + "; ambient and inheritable sets cleared, so nothing it starts inherits a capability"
		if in.dropped != 0 {
			detail += "; dropped " + strings.Join(capNames(in.dropped), ",")
		}
		add(LayerMasterCaps, true, detail)
	}
	var low []string
	if in.dnsPort != 0 && in.dnsPort < in.unprivPorts {
		low = append(low, "DNS port "+strconv.Itoa(in.dnsPort))
	}
	if in.dhcp && dhcpServerPort < in.unprivPorts {
		low = append(low, "DHCP port "+strconv.Itoa(dhcpServerPort))
	}
	if len(low) > 0 {
		if has(capNetBindService) {
			add(LayerPrivilegedPorts, true, strings.Join(low, ", ")+": CAP_NET_BIND_SERVICE held")
		} else {
			add(LayerPrivilegedPorts, false, strings.Join(low, ", ")+" below ip_unprivileged_port_start "+strconv.Itoa(in.unprivPorts)+" and no CAP_NET_BIND_SERVICE: binding will fail; use a high port or grant the capability")
		}
	}
	if in.dhcp {
		if has(capNetRaw) {
			add(LayerDHCPSockets, true, "AF_PACKET and raw ICMP sockets opened by the master (CAP_NET_RAW)")
		} else {
			add(LayerDHCPSockets, false, "no CAP_NET_RAW: the master cannot open dhcpd's AF_PACKET and raw ICMP sockets")
		}
	}
	if in.dnsPort != 0 {
		switch {
		case in.socketFilter == "classic" || in.socketFilter == "off":
			add(LayerEBPF, false, "socket-filter="+in.socketFilter)
		case has(capBPF):
			add(LayerEBPF, true, "eBPF socket filters can be loaded (root or CAP_BPF); the \"socket filters\" line says what loaded")
		default:
			add(LayerEBPF, false, "no CAP_BPF: the classic BPF filter is used (no transaction-ID check, no drop counters)")
		}
	}

	// The workers, in the order of the worker start.
	confined := in.root || in.userNS
	switch {
	case in.root:
	case in.userNS:
		add(LayerUserNamespace, true, "each worker starts in its own user namespace, uid "+strconv.Itoa(in.uid)+" mapped to itself, to chroot and empty its bounding set")
	default:
		add(LayerUserNamespace, false, "user namespaces unavailable: "+in.userNSWhy)
	}
	if confined {
		add(LayerNamespaces, true, "fresh mount, IPC, UTS and PID namespaces; dhcpd also an empty network namespace")
		add(LayerChroot, true, "empty directory")
		add(LayerBoundingSet, true, "emptied before the filter")
	} else {
		add(LayerNamespaces, false, "needs root or a user namespace")
		add(LayerChroot, false, "needs root or a user namespace")
		add(LayerBoundingSet, false, "needs CAP_SETPCAP (root or a user namespace); no_new_privs keeps any exec from gaining from it")
	}
	if in.root {
		add(LayerUIDSwitch, true, in.uidSwitchDetail())
	} else {
		add(LayerUIDSwitch, false, in.uidSwitchMissing())
	}
	add(LayerNoCapabilities, true, "effective, permitted, ambient and inheritable sets emptied, verified from /proc")
	add(LayerRlimits, true, "no file writes, no core files, bounded descriptors")
	add(LayerNoNewPrivs, true, "set on every thread")
	add(LayerSeccomp, true, "per-role allow-list on every thread, kill-process by default")
	return h
}

// dhcpServerPort is the DHCP server port the master binds.
const dhcpServerPort = 67
