package seccomp

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ScriptRole is the dhcp-script helper's role name.
//
// The helper is not a worker: it runs the administrator's dhcp-script
// (usually a shell script calling other programs), and a seccomp filter
// is inherited by every process it starts. An allow-list small enough to
// mean something for a Go worker would break ordinary scripts (a shell
// and the tools it runs need a few hundred calls, changing with every
// libc), so the helper's filter is the other way round: everything is
// allowed except a deny-list of calls no lease script needs and that
// widen the kernel's attack surface or reach beyond the script's user:
// kernel code and modules, reboot, swap, the clock, the kernel log,
// tracing other processes and their memory, eBPF and perf, userfaultfd,
// io_uring, the kernel keyring, file handles, mounts, and new namespaces
// (user namespaces above all). Denied calls fail with EPERM (ENOSYS for
// clone3, so that libc falls back to clone, whose flags the filter can
// see), the way container runtimes' default profiles answer, so a tool
// that probes for a feature degrades instead of dying. System calls made
// through another ABI (i386 or x32 on amd64) kill the process, as for
// every role: a 32-bit program cannot run from the script.
//
// The helper's own exposure is small: it reads only what the master
// sends it, and it is not chrooted (the script needs the file system).
// The identity is what confines the script: dhcp-scriptuser (by default
// the unprivileged worker user), no capabilities, no_new_privs (so
// neither sudo nor a setuid or file-capability program can raise its
// privileges). Only with dhcp-scriptuser=root does the helper, and so the
// script, keep uid 0 and root's capabilities, as dnsmasq's would.
const ScriptRole = "dhcp-script"

// ScriptSpec says how the dhcp-script helper confines itself.
type ScriptSpec struct {
	// SwitchUser: setgroups([])/setresgid/setresuid to UID/GID, as
	// dnsmasq's helper does for dhcp-scriptuser (primary group only).
	SwitchUser bool
	UID, GID   int
	// KeepRoot: dhcp-scriptuser=root: keep uid 0 and root's capabilities.
	KeepRoot bool
}

// ScriptOptions are the dhcp-script helper's command line: the master
// writes it with Args, the helper reads it back with ParseScriptOptions.
// The script's path travels only here, never over IPC.
type ScriptOptions struct {
	Script  string // dhcp-script: an absolute path
	LogDHCP bool   // log-dhcp: the script gets DNSMASQ_LOG_DHCP=1
	Spec    ScriptSpec
}

// Args formats the options as the helper's arguments.
func (o ScriptOptions) Args() []string {
	args := []string{"--script=" + o.Script, fmt.Sprintf("--uid=%d", o.Spec.UID), fmt.Sprintf("--gid=%d", o.Spec.GID)}
	if o.Spec.SwitchUser {
		args = append(args, "--switch-user")
	}
	if o.Spec.KeepRoot {
		args = append(args, "--keep-root")
	}
	if o.LogDHCP {
		args = append(args, "--log-dhcp")
	}
	return args
}

// ParseScriptOptions reads arguments written by Args.
func ParseScriptOptions(args []string) (ScriptOptions, error) {
	var o ScriptOptions
	fs := flag.NewFlagSet(ScriptRole, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.Script, "script", "", "the dhcp-script")
	fs.IntVar(&o.Spec.UID, "uid", 0, "user id")
	fs.IntVar(&o.Spec.GID, "gid", 0, "group id")
	fs.BoolVar(&o.Spec.SwitchUser, "switch-user", false, "switch to uid/gid")
	fs.BoolVar(&o.Spec.KeepRoot, "keep-root", false, "stay root (dhcp-scriptuser=root)")
	fs.BoolVar(&o.LogDHCP, "log-dhcp", false, "set DNSMASQ_LOG_DHCP")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%s arguments: %w", ScriptRole, err)
	}
	if fs.NArg() != 0 {
		return o, fmt.Errorf("%s arguments: unexpected %q", ScriptRole, fs.Arg(0))
	}
	if !filepath.IsAbs(o.Script) {
		return o, fmt.Errorf("%s arguments: script %q is not an absolute path", ScriptRole, o.Script)
	}
	return o, nil
}

// Validate checks the spec before any step runs.
func (s ScriptSpec) Validate() error {
	switch {
	case s.KeepRoot && s.SwitchUser:
		return errors.New("seccomp: script spec: keep-root and switch-user together")
	case s.SwitchUser && (s.UID <= 0 || s.GID <= 0):
		return fmt.Errorf("seccomp: script spec: --switch-user needs a non-root uid and gid (have %d/%d)", s.UID, s.GID)
	case s.UID < 0 || s.GID < 0 || s.UID >= 1<<32-1 || s.GID >= 1<<32-1:
		return fmt.Errorf("seccomp: script spec: uid %d / gid %d out of range", s.UID, s.GID)
	case s.KeepRoot && os.Geteuid() != 0:
		return errors.New("seccomp: script spec: keep-root, but not running as root")
	}
	return nil
}

// scriptNamespaceFlags are the clone flags that make new namespaces; a
// fork from a script never sets them.
const scriptNamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// scriptDenied are the calls the script filter refuses with EPERM.
var scriptDenied = []string{
	// The kernel itself: new kernels and modules, reboot, swap, the
	// clock, the kernel log, process accounting.
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"reboot", "swapon", "swapoff", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"syslog", "acct", "lookup_dcookie",
	// Other processes and their memory.
	"ptrace", "process_vm_readv", "process_vm_writev",
	// Large kernel attack surfaces no lease script needs.
	"bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
	"keyctl", "add_key", "request_key", "open_by_handle_at", "name_to_handle_at",
	// Mounts and namespaces.
	"mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
	"open_tree", "mount_setattr", "unshare", "setns",
}

// scriptNumbers are the call numbers of the names only the script filter
// uses (sysnum_linux.go holds the workers' names).
var scriptNumbers = map[string]uint32{
	"kexec_load": unix.SYS_KEXEC_LOAD, "kexec_file_load": unix.SYS_KEXEC_FILE_LOAD,
	"init_module": unix.SYS_INIT_MODULE, "finit_module": unix.SYS_FINIT_MODULE, "delete_module": unix.SYS_DELETE_MODULE,
	"reboot": unix.SYS_REBOOT, "swapon": unix.SYS_SWAPON, "swapoff": unix.SYS_SWAPOFF,
	"settimeofday": unix.SYS_SETTIMEOFDAY, "clock_settime": unix.SYS_CLOCK_SETTIME,
	"clock_adjtime": unix.SYS_CLOCK_ADJTIME, "adjtimex": unix.SYS_ADJTIMEX,
	"syslog": unix.SYS_SYSLOG, "acct": unix.SYS_ACCT, "lookup_dcookie": unix.SYS_LOOKUP_DCOOKIE,
	"process_vm_readv": unix.SYS_PROCESS_VM_READV, "process_vm_writev": unix.SYS_PROCESS_VM_WRITEV,
	"perf_event_open": unix.SYS_PERF_EVENT_OPEN, "userfaultfd": unix.SYS_USERFAULTFD,
	"io_uring_setup": unix.SYS_IO_URING_SETUP, "io_uring_enter": unix.SYS_IO_URING_ENTER,
	"io_uring_register": unix.SYS_IO_URING_REGISTER,
	"keyctl":            unix.SYS_KEYCTL, "add_key": unix.SYS_ADD_KEY, "request_key": unix.SYS_REQUEST_KEY,
	"open_by_handle_at": unix.SYS_OPEN_BY_HANDLE_AT, "name_to_handle_at": unix.SYS_NAME_TO_HANDLE_AT,
	"umount2": unix.SYS_UMOUNT2, "pivot_root": unix.SYS_PIVOT_ROOT,
	"fsopen": unix.SYS_FSOPEN, "fsconfig": unix.SYS_FSCONFIG, "fsmount": unix.SYS_FSMOUNT,
	"fspick": unix.SYS_FSPICK, "move_mount": unix.SYS_MOVE_MOUNT, "open_tree": unix.SYS_OPEN_TREE,
	"mount_setattr": unix.SYS_MOUNT_SETATTR, "unshare": unix.SYS_UNSHARE, "setns": unix.SYS_SETNS,
}

var promiseScriptDeny = Promise{
	Name: "script-deny",
	Why:  "everything a script may need, except kernel, tracing, namespace and mount calls",
	Rules: concat(
		failAll(syscall.EPERM, scriptDenied...),
		[]Rule{
			// fork, vfork and threads: any clone without namespace flags.
			allow("clone", argBitsClear(0, "CLONE_NEW* clear", scriptNamespaceFlags)),
			fail("clone", syscall.EPERM),
			// clone3's flags sit in memory the filter cannot read; libc
			// falls back to clone on ENOSYS.
			fail("clone3", syscall.ENOSYS),
		},
	),
}

// scriptPledge is the dhcp-script helper's "pledge": one deny-list
// promise, under a default action of allow.
const scriptPledge = "script-deny"

// ScriptPolicy is the dhcp-script helper's filter: a deny-list whose
// default action is allow.
func ScriptPolicy() Policy {
	ps, err := resolvePledge(scriptPledge)
	if err != nil {
		panic(err) // a typo in this file; TestPledgesResolve catches it
	}
	return Policy{Role: ScriptRole, Promises: ps, Default: ActAllow}
}

// scriptArch is the native architecture with the script filter's names.
func scriptArch() archInfo {
	a := nativeArch
	a.numbers = make(map[string]uint32, len(nativeArch.numbers)+len(scriptNumbers))
	for n, nr := range nativeArch.numbers {
		a.numbers[n] = nr
	}
	for n, nr := range scriptNumbers {
		a.numbers[n] = nr
	}
	return a
}

// BuildScriptFilter compiles the script filter for this process.
func BuildScriptFilter(pid int) ([]bpf.Instruction, error) {
	return ScriptPolicy().build(scriptArch(), BuildOptions{PID: pid, Default: ActAllow})
}

// ConfineScript confines the dhcp-script helper: the bounding set and
// every capability gone (unless KeepRoot), the script user, the
// parent-death signal, not dumpable, no_new_privs, and the deny-list
// filter on every thread; then it verifies all of it from
// /proc/self/status. No chroot and no rlimits: the script needs the file
// system and may write files.
func ConfineScript(spec ScriptSpec) (Status, error) {
	var st Status
	if err := spec.Validate(); err != nil {
		return st, err
	}
	prog, err := BuildScriptFilter(os.Getpid())
	if err != nil {
		return st, err
	}
	st.Notes = append(st.Notes,
		"chroot: none (the script needs the file system)",
		fmt.Sprintf("seccomp: deny-list of %d calls, inherited by the script; everything else allowed", len(scriptDenied)+2))
	statusFile, err := os.Open("/proc/self/status")
	if err != nil {
		return st, fmt.Errorf("seccomp: open /proc/self/status: %w", err)
	}
	defer statusFile.Close()
	ppid := os.Getppid()

	dropped := false
	if !spec.KeepRoot {
		if os.Geteuid() == 0 {
			lastCap, err := readLastCap()
			if err != nil {
				return st, fmt.Errorf("seccomp: %w", err)
			}
			if err := dropBoundingSet(lastCap); err != nil {
				return st, fmt.Errorf("seccomp: %w", err)
			}
			dropped = true
		} else {
			st.Notes = append(st.Notes, "capabilities: bounding set kept (not root); no_new_privs stops any exec from gaining from it")
		}
		if spec.SwitchUser {
			if err := switchUser(spec.UID, spec.GID); err != nil {
				return st, err
			}
		}
		if err := clearCapabilities(); err != nil {
			return st, fmt.Errorf("seccomp: %w", err)
		}
	} else {
		st.Notes = append(st.Notes, "uid: root with root's capabilities (dhcp-scriptuser=root)")
	}

	if err := allThreadsPrctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); err != nil {
		return st, fmt.Errorf("seccomp: set parent-death signal: %w", err)
	}
	if os.Getppid() != ppid {
		return st, fmt.Errorf("seccomp: parent changed from %d to %d: the master is gone", ppid, os.Getppid())
	}
	// The helper itself is not dumpable; a script it starts is again
	// (execve resets the flag), which is what a script of that user is.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return st, fmt.Errorf("seccomp: clear dumpable: %w", err)
	}
	if err := allThreadsPrctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return st, fmt.Errorf("seccomp: set no_new_privs: %w", err)
	}
	if err := Install(prog); err != nil {
		return st, err
	}

	ps, err := readOwnStatus(statusFile, &st)
	if err != nil {
		return st, err
	}
	return st, verifyScript(spec, ps, dropped)
}

// verifyScript checks what the kernel reports against the spec.
func verifyScript(spec ScriptSpec, st procStatus, boundingDropped bool) error {
	var errs []error
	if !st.noNewPrivs {
		errs = append(errs, errors.New("NoNewPrivs is 0"))
	}
	if st.seccomp != seccompModeFilter {
		errs = append(errs, fmt.Errorf("mode (Seccomp:) is %d, want %d", st.seccomp, seccompModeFilter))
	}
	if !spec.KeepRoot {
		for _, c := range []struct {
			name string
			v    uint64
		}{{"CapEff", st.capEff}, {"CapPrm", st.capPrm}, {"CapAmb", st.capAmb}, {"CapInh", st.capInh}} {
			if c.v != 0 {
				errs = append(errs, fmt.Errorf("%s is %016x, want 0", c.name, c.v))
			}
		}
		if boundingDropped && st.capBnd != 0 {
			errs = append(errs, fmt.Errorf("CapBnd is %016x, want 0", st.capBnd))
		}
		for i, id := range st.uids {
			if id == 0 {
				errs = append(errs, fmt.Errorf("uid[%d] is 0 without keep-root", i))
			}
		}
	}
	if spec.SwitchUser {
		for i, id := range st.uids {
			if id != uint32(spec.UID) {
				errs = append(errs, fmt.Errorf("uid[%d] is %d, want %d", i, id, spec.UID))
			}
		}
		for i, id := range st.gids {
			if id != uint32(spec.GID) {
				errs = append(errs, fmt.Errorf("gid[%d] is %d, want %d", i, id, spec.GID))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("seccomp: verify /proc/self/status: %w", err)
	}
	return nil
}
