package masterd

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/workerproc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/seccomp"
)

// printPolicyFlag asks moatd to print every role's privileges (user,
// capabilities, namespaces, rlimits, seccomp promises and the exact system
// call list, descriptors received) and exit. The text is built from the
// tables the spawner and the workers run with, and docs/policy.md is its
// output (make docs), checked by TestPolicyDocUpToDate.
const printPolicyFlag = "--print-policy"

// wantPrintPolicy reports whether the command line asks for the policy.
func wantPrintPolicy(args []string) bool {
	for _, a := range args {
		if a == printPolicyFlag {
			return true
		}
	}
	return false
}

// printPolicyMain runs --print-policy; it returns the exit code.
func printPolicyMain(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, "moatd: %s takes no other options: it prints the policy the code enforces, not one of a configuration\n", printPolicyFlag)
		return 2
	}
	if err := printPolicy(stdout); err != nil {
		fmt.Fprintf(stderr, "moatd: %s: %v\n", printPolicyFlag, err)
		return 1
	}
	return 0
}

// descriptorDoc is one descriptor a role receives.
type descriptorDoc struct {
	what string // fd number or SocketSet kind
	doc  string
}

// roleDescriptors lists what each role receives: the standard descriptors
// and the IPC end at spawn (spawn.go, dhcpscript.go), then the SocketSet
// kinds the master sends it (ipc/proto Socket.Kind, checked to cover every
// kind exactly once by TestPolicyDescriptorsCoverKinds).
var roleDescriptors = map[string][]descriptorDoc{
	"dnsd": {
		{"socket kind " + socketKindName(ipcpb.Socket_KIND_DNS_UDP), "UDP port 53 (port=) per listening address, or a wildcard socket with IP_PKTINFO/IPV6_RECVPKTINFO"},
		{"socket kind " + socketKindName(ipcpb.Socket_KIND_DNS_TCP), "TCP port 53 listening socket per listening address (accept4 only; no listen, no bind of its own)"},
		{"socket kind " + socketKindName(ipcpb.Socket_KIND_BPF_UPSTREAM_PROG), "with eBPF: the upstream-reply socket filter program, attached with SO_ATTACH_BPF to each upstream socket"},
		{"socket kind " + socketKindName(ipcpb.Socket_KIND_BPF_EXPECT_MAP), "with eBPF: the map of expected transaction IDs by local port (update/delete only)"},
		{"socket kind " + socketKindName(ipcpb.Socket_KIND_BPF_EXPECT_SET_MAP), "with eBPF: the map of (port, ID) pairs outstanding on a shared socket (update/delete only)"},
		{"later socket sets", "with bind-dynamic: DNS sockets for addresses that appear while it runs"},
	},
	"dhcpd": {
		{"socket kind " + socketKindName(ipcpb.Socket_KIND_DHCP_UDP), "UDP port 67 per DHCP interface (SO_BINDTODEVICE, SO_BROADCAST, IP_PKTINFO)"},
		{"socket kind " + socketKindName(ipcpb.Socket_KIND_DHCP_PACKET), "AF_PACKET send socket per DHCP interface, for clients without an address"},
		{"socket kind " + socketKindName(ipcpb.Socket_KIND_DHCP_ROUTED), "UDP 0.0.0.0:67 bound to no interface, send only: replies to relays and to clients' own addresses"},
		{"socket kind " + socketKindName(ipcpb.Socket_KIND_ICMP), "raw ICMP socket for ping checks before an address is offered"},
		{"later socket sets", "DHCPSocketsChanged: the UDP and packet sockets of a DHCP interface that appears while it runs"},
	},
	seccomp.ScriptRole: {},
}

// checkRoleSockets is the spawner's side of roleDescriptors: it refuses
// to hand role a socket whose kind the role's descriptor list (and so
// docs/policy.md) does not name, so the printed table cannot drift from
// what workers are given.
func checkRoleSockets(role string, sockets []openSocket) error {
	for _, sock := range sockets {
		what := "socket kind " + socketKindName(sock.desc.GetKind())
		listed := false
		for _, d := range roleDescriptors[role] {
			listed = listed || d.what == what
		}
		if !listed {
			return fmt.Errorf("%s (%s) is not in %s's descriptor list (--print-policy, docs/policy.md): not sent", what, sock.desc.GetAddress()+sock.desc.GetInterface(), role)
		}
	}
	return nil
}

// spawnDescriptors are what every process the master starts holds before
// any message: os/exec's stdin, the log pipe, the IPC socketpair.
func spawnDescriptors() []descriptorDoc {
	return []descriptorDoc{
		{"fd 0", "/dev/null"},
		{"fd 1, 2", "pipe into the master's log (each line logged with the role and pid)"},
		{fmt.Sprintf("fd %d", workerproc.IPCFD), "its end of an AF_UNIX SOCK_SEQPACKET socketpair with the master (messages; any descriptor listed below arrives on it by SCM_RIGHTS)"},
	}
}

// cloneFlagNames names the namespace flags of a SysProcAttr: name for
// the policy document, short for moatctl status (namespacesText).
var cloneFlagNames = []struct {
	flag        uintptr
	name, short string
}{
	{unix.CLONE_NEWUSER, "user", "user"},
	{unix.CLONE_NEWNS, "mount", "mnt"},
	{unix.CLONE_NEWIPC, "ipc", "ipc"},
	{unix.CLONE_NEWUTS, "uts", "uts"},
	{unix.CLONE_NEWPID, "pid", "pid"},
	{unix.CLONE_NEWNET, "net (empty: no interfaces)", "net"},
	{unix.CLONE_NEWCGROUP, "cgroup", "cgroup"},
}

// roleNamespaces reads the namespaces the spawner gives role under plan.
func roleNamespaces(plan sandboxPlan, role string) string {
	attr := plan.sysProcAttr(role)
	var names []string
	for _, f := range cloneFlagNames {
		if attr.Cloneflags&f.flag != 0 {
			names = append(names, f.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return "new " + strings.Join(names, ", ")
}

// printPolicy writes the policy document.
func printPolicy(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# moat privilege policy\n\n")
	fmt.Fprintf(&b, "Generated by `moatd %s` (architecture %s) from the tables the master and\n", printPolicyFlag, seccomp.ArchName())
	fmt.Fprintf(&b, "the workers run with. `make docs` writes this file, and a test fails when it\n")
	fmt.Fprintf(&b, "no longer matches the code: do not edit it by hand. Another test reads, with\n")
	fmt.Fprintf(&b, "ptrace (PTRACE_SECCOMP_GET_FILTER), the filter the kernel holds for each running\n")
	fmt.Fprintf(&b, "worker and compares it instruction for instruction with the one built from the\n")
	fmt.Fprintf(&b, "rules below (test/policy_installed_v7_test.go).\n\n")
	b.WriteString("Each worker's seccomp allow-list is written as a pledge line: a list of\n")
	b.WriteString("promises, each a named set of system calls with the argument checks seccomp\n")
	b.WriteString("can make (socket families and types, socket options, fcntl commands, prctl\n")
	b.WriteString("options, clone flags). Every filter first kills a call made through another\n")
	b.WriteString("ABI (i386 or x32 on amd64), then applies the rules below; a call no rule\n")
	b.WriteString("matches gets the role's default action. A condition reads `argN == NAME [value]`\n")
	b.WriteString("or `argN in {NAMES} [values]`, comparing all 64 bits; a bit test reads\n")
	b.WriteString("`argN: what (mask M) [values]`: (argN & M) must be one of the values. The\n")
	b.WriteString("rules of one system call are tried in the order listed.\n\n")

	roles := append(seccomp.Roles(), seccomp.ScriptRole)
	b.WriteString("| role | pledge | default action |\n|---|---|---|\n")
	b.WriteString("| master | (no filter: it opens files and sockets and loads eBPF) | - |\n")
	for _, role := range roles {
		p, line, err := rolePolicy(role)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", role, line, p.DefaultAction())
	}
	b.WriteString("\n")

	writeMasterSection(&b)
	for _, role := range roles {
		if err := writeRoleSection(&b, role); err != nil {
			return err
		}
	}
	writePromiseIndex(&b)
	writeAuditSection(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func rolePolicy(role string) (seccomp.Policy, string, error) {
	line, err := seccomp.Pledge(role)
	if err != nil {
		return seccomp.Policy{}, "", err
	}
	if role == seccomp.ScriptRole {
		return seccomp.ScriptPolicy(), line, nil
	}
	p, err := seccomp.PolicyFor(role)
	return p, line, err
}

func writeMasterSection(b *strings.Builder) {
	b.WriteString("## master\n\n")
	fmt.Fprintf(b, "- user: root (keeping root's capabilities), or an unprivileged user that keeps only %s (with DHCP: %s) and empties its ambient and inheritable sets before starting anything\n",
		strings.Join(capNames(masterCapsNeeded(false)), ", "), strings.Join(capNames(masterCapsNeeded(true)), ", "))
	b.WriteString("- holds: the configuration and hosts files, the lease journal, every listening socket, the eBPF objects\n")
	b.WriteString("- seccomp: none; each privileged act is written to the audit log (below)\n\n")
}

func writeRoleSection(b *strings.Builder, role string) error {
	p, line, err := rolePolicy(role)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "## %s\n\n", role)
	if role == seccomp.ScriptRole {
		b.WriteString("- user: dhcp-scriptuser=; without it the worker user (user=, default `" + config.DefaultUser + "`); root only when dhcp-scriptuser names root; a master that is not root runs it as its own user\n")
		b.WriteString("- capabilities: none (all five sets empty), unless dhcp-scriptuser is root\n")
		b.WriteString("- namespaces: none (the script must see the system's processes, mounts and network); no chroot\n")
		b.WriteString("- rlimits: none of its own (the script may write files)\n")
		b.WriteString("- no_new_privs: set (no setuid or file-capability program can raise the script's privileges); not dumpable; parent-death signal SIGKILL\n")
	} else {
		fmt.Fprintf(b, "- user: %s= (default: user=, itself default `%s`), group= (default: that user's primary group), never uid or gid 0; a user of its own keeps the other worker from signalling or tracing it; a master that is not root: its own uid, mapped alone into a user namespace (%s= is then ignored, and logged as such)\n",
			config.RoleUserOption(role), config.DefaultUser, config.RoleUserOption(role))
		b.WriteString("- capabilities: none: effective, permitted, inheritable, ambient and bounding sets empty (the bounding set is kept only in the fallback below), checked from the worker's report and from /proc/<pid>/status before the master uses it\n")
		fmt.Fprintf(b, "- namespaces (master is root): %s\n", roleNamespaces(sandboxPlan{root: true}, role))
		fmt.Fprintf(b, "- namespaces (master is not root): %s\n", roleNamespaces(sandboxPlan{userNS: true}, role))
		fmt.Fprintf(b, "- namespaces (fallback: not root and no user namespaces): %s; no chroot; bounding set kept (no_new_privs stops any use of it)\n", roleNamespaces(sandboxPlan{keepBounding: true}, role))
		b.WriteString("- chroot: an empty directory, <run-dir>/empty, owned by the master and not writable by others\n")
		b.WriteString("- rlimits (soft = hard):\n")
		for _, l := range seccomp.WorkerRlimits(maxWorkerFiles) {
			fmt.Fprintf(b, "  - %s = %d: %s\n", l.Name, l.Value, l.Why)
		}
		b.WriteString("- no_new_privs: set; not dumpable; parent-death signal SIGKILL; the worker verifies CapEff = CapPrm = CapBnd = 0, NoNewPrivs = 1, Seccomp = 2 before Ready\n")
	}
	b.WriteString("- descriptors received:\n")
	for _, d := range append(spawnDescriptors(), roleDescriptors[role]...) {
		fmt.Fprintf(b, "  - %s: %s\n", d.what, d.doc)
	}
	fmt.Fprintf(b, "- pledge: `%s`\n", line)
	fmt.Fprintf(b, "- default action: %s\n\n", p.DefaultAction())

	calls, err := p.Syscalls()
	if err != nil {
		return err
	}
	allowed := 0
	for _, c := range calls {
		for _, r := range c.Rules {
			if r.Action == seccomp.ActAllow {
				allowed++
				break
			}
		}
	}
	fmt.Fprintf(b, "%d system calls have rules (%d of them allowed at least in part):\n\n", len(calls), allowed)
	b.WriteString("| nr | system call | promise | action | when |\n|---|---|---|---|---|\n")
	for _, c := range calls {
		for _, r := range c.Rules {
			fmt.Fprintf(b, "| %d | %s | %s | %s | %s |\n", c.Number, c.Name, r.Promise, r.Action, ruleCondition(r.Rule))
		}
	}
	b.WriteString("\n")
	return nil
}

// ruleCondition prints a rule's argument checks ("always" for none).
func ruleCondition(r seccomp.Rule) string {
	if len(r.Args) == 0 {
		return "always"
	}
	parts := make([]string, len(r.Args))
	for i, c := range r.Args {
		text := c.String()
		// The names are for reading; the numbers are what the filter
		// compares.
		if c.Doc != "" && !c.SelfPID {
			vs := make([]string, len(c.Values))
			for j, v := range c.Values {
				vs[j] = fmt.Sprintf("%#x", v)
			}
			text += " [" + strings.Join(vs, ", ") + "]"
		}
		parts[i] = strings.ReplaceAll(text, "|", `\|`)
	}
	return strings.Join(parts, " and ")
}

func writePromiseIndex(b *strings.Builder) {
	b.WriteString("## promises\n\n| promise | held by | what for |\n|---|---|---|\n")
	held := map[string][]string{}
	for _, role := range append(seccomp.Roles(), seccomp.ScriptRole) {
		line, _ := seccomp.Pledge(role)
		for _, n := range strings.Fields(line) {
			held[n] = append(held[n], role)
		}
	}
	for _, n := range seccomp.PromiseNames() {
		p, _ := seccomp.PromiseNamed(n)
		roles := held[n]
		sort.Strings(roles)
		fmt.Fprintf(b, "| %s | %s | %s |\n", n, strings.Join(roles, ", "), p.Why)
	}
	b.WriteString("\n")
}

// auditEventDocs documents every audit event and its keys.
var auditEventDocs = []struct{ event, about, keys string }{
	{auditHardening, "master", "mode, uid, master-caps, applied, missing (once at start: which confinement layers apply)"},
	{auditSocketOpen, "master", "kind, addr, interface, pktinfo, fd"},
	{auditSocketClose, "master", "kind, addr, interface"},
	{auditBPFLoad, "master", "object, type (program or map), fd"},
	{auditWorkerSpawn, "the new process", "uid, then chroot (workers) or keep-root (dhcp-script)"},
	{auditWorkerExit, "the process that ended", "reason, status"},
	{auditSeccompKill, "the killed worker", "syscall, nr, arch, source (kmsg, or none with why)"},
	{auditWorkerGiveUp, "the role (pid 0)", "crashes, over, healthy-run, then: master-exits (a worker: the master exits non-zero) or helper-stopped (the dhcp-script helper: DNS and DHCP carry on without the script)"},
	{auditViolation, "the worker", "what"},
	{auditLeaseWrite, "master", "commit (or expiry=yes), records, addrs (a deletion as -addr): a journal write made durable"},
	{auditScriptRun, "the dhcp-script helper", "action, addr"},
	{auditControlRefused, "master", "peer-pid, peer-uid, reason: a control-socket client that is not root, the master's user or in control-group"},
	{auditControlReload, "master", "peer-pid, peer-uid: a reload asked for over the control socket"},
}

func writeAuditSection(b *strings.Builder) {
	b.WriteString("## audit log\n\n")
	b.WriteString("Every privileged act of the master and every worker exit, protocol violation\n")
	b.WriteString("and seccomp kill is logged once, after the log's usual prefix, as\n\n")
	b.WriteString("    audit: event=<event> role=<role> pid=<pid> key=value ...\n\n")
	b.WriteString("role and pid name the process the record is about. Keys are lower-case\n")
	b.WriteString("words with dashes; a value is bare when it is printable ASCII without blanks,\n")
	b.WriteString("quotes, backslashes or `=`, and otherwise a double-quoted Go string.\n\n")
	b.WriteString("| event | role/pid | keys |\n|---|---|---|\n")
	for _, e := range auditEventDocs {
		fmt.Fprintf(b, "| %s | %s | %s |\n", e.event, e.about, e.keys)
	}
}
