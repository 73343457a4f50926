// Package seccomp owns the confinement of worker processes: the classic-BPF
// seccomp filter builder, each role's syscall allow-list (kept as data: named
// promises defined once, and a pledge line per role; promises.go), and the
// hardening block a worker runs before it reads network input (chroot,
// capability bounding set, uid/gid switch, rlimits, no_new_privs, the
// filter with TSYNC, and verification from /proc/self/status). It also
// holds the probes --check-sandbox runs.
package seccomp

import (
	"crypto/rand"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Spec says how a worker confines itself. The master formats it into the
// worker's argv with Args; the worker reads it back with ParseSpec.
type Spec struct {
	Role   string // "dnsd" or "dhcpd": selects the allow-list
	Chroot string // empty directory to chroot into; "" = no chroot
	// SwitchUser: setgroups/setresgid/setresuid to UID/GID (root mode).
	// False in the user-namespace (unprivileged) mode, where the worker
	// keeps the caller's uid.
	SwitchUser bool
	UID, GID   int
	MaxFiles   uint64 // RLIMIT_NOFILE; 0 means DefaultMaxFiles
	// TrapForDebug makes calls outside the allow-list raise SIGSYS in the
	// calling thread (SECCOMP_RET_TRAP) instead of killing the process, so
	// the Go runtime prints "SIGSYS: bad system call" and the goroutine
	// that made it. For finding a missing rule; never in production.
	TrapForDebug bool
	// KeepBoundingSet leaves the capability bounding set as it is: a
	// worker of an unprivileged master where user namespaces are not
	// available has no CAP_SETPCAP to empty it (issue 7, deployment
	// modes). Every other step still applies, and no_new_privs keeps any
	// exec from gaining from the set.
	KeepBoundingSet bool
}

// Status is what /proc/self/status said after the filter was installed.
type Status struct {
	UID, GID                               uint32
	CapEff, CapPrm, CapBnd, CapAmb, CapInh uint64
	NoNewPrivs                             bool
	SeccompMode                            uint32
	Chrooted                               bool
	SyscallsAllowed                        int
	Notes                                  []string // layers that could not apply, and why
}

// Confine runs the whole hardening block for spec.Role, in order, and
// verifies the result. It returns an error (and the worker must exit) if any
// mandatory step fails or the verification does not show CapEff = CapPrm =
// CapBnd = 0, NoNewPrivs = 1 and Seccomp = 2.
func Confine(spec Spec) (Status, error) {
	var st Status
	if err := spec.Validate(); err != nil {
		return st, err
	}
	policy, err := PolicyFor(spec.Role)
	if err != nil {
		return st, err
	}
	allowed, err := policy.AllowedSyscalls()
	if err != nil {
		return st, err
	}
	st.SyscallsAllowed = len(allowed)

	// Build the filter first: it needs no privilege, and a policy error
	// should stop the worker before anything has changed.
	def := ActKillProcess
	if spec.TrapForDebug {
		def = ActTrap
		st.Notes = append(st.Notes, "seccomp: TrapForDebug: forbidden calls trap (SIGSYS to the thread) instead of killing the process")
	}
	prog, err := policy.Build(BuildOptions{PID: os.Getpid(), Default: def})
	if err != nil {
		return st, err
	}

	// Everything that needs the file system happens before the chroot.
	lastCap, err := readLastCap()
	if err != nil {
		return st, fmt.Errorf("seccomp: %w", err)
	}
	statusFile, err := os.Open("/proc/self/status")
	if err != nil {
		return st, fmt.Errorf("seccomp: open /proc/self/status: %w", err)
	}
	defer statusFile.Close()
	touchLazyLoads()
	ppid := os.Getppid()

	// 1. chroot into an empty directory.
	if spec.Chroot != "" {
		note, err := enterChroot(spec.Chroot)
		if err != nil {
			return st, err
		}
		if note != "" {
			st.Notes = append(st.Notes, note)
		}
		st.Chrooted = true
	} else {
		st.Notes = append(st.Notes, "chroot: none requested")
	}

	// 2. The bounding set, while CAP_SETPCAP is still effective.
	if spec.KeepBoundingSet {
		st.Notes = append(st.Notes, "capabilities: bounding set kept (no CAP_SETPCAP without a user namespace); no_new_privs stops any exec from gaining from it")
	} else if err := dropBoundingSet(lastCap); err != nil {
		return st, fmt.Errorf("seccomp: %w", err)
	}

	// 3. The role user. Go's Setgroups/Setresgid/Setresuid apply to all
	// threads (since Go 1.16). Going from root to a non-root uid clears the
	// permitted, effective and ambient sets.
	if spec.SwitchUser {
		if err := switchUser(spec.UID, spec.GID); err != nil {
			return st, err
		}
	} else {
		st.Notes = append(st.Notes, fmt.Sprintf("uid: not switched, running as uid %d (user-namespace mode)", os.Getuid()))
	}

	// 4. Empty capability sets on every thread; needed where the uid did
	// not change (user-namespace mode, ambient capabilities).
	if err := clearCapabilities(); err != nil {
		return st, fmt.Errorf("seccomp: %w", err)
	}

	// 5. Parent-death signal again: a uid change clears it. Then make sure
	// the master did not die before it was set.
	if err := allThreadsPrctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); err != nil {
		return st, fmt.Errorf("seccomp: set parent-death signal: %w", err)
	}
	if os.Getppid() != ppid {
		return st, fmt.Errorf("seccomp: parent changed from %d to %d: the master is gone", ppid, os.Getppid())
	}
	// Not dumpable: no core, and no ptrace or /proc/<pid>/mem access from
	// other processes of the same uid (the user-namespace mode keeps the
	// master's uid, which other services may share).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return st, fmt.Errorf("seccomp: clear dumpable: %w", err)
	}

	// 6. Resource limits.
	notes, err := setLimits(spec.MaxFiles)
	st.Notes = append(st.Notes, notes...)
	if err != nil {
		return st, err
	}

	// 7. no_new_privs on every thread (seccomp without CAP_SYS_ADMIN
	// requires it, and it stops any exec from gaining privilege).
	if err := allThreadsPrctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return st, fmt.Errorf("seccomp: set no_new_privs: %w", err)
	}

	// 8. The filter, on every thread at once.
	if err := Install(prog); err != nil {
		return st, err
	}

	// 9. Verify from the kernel's own report (pread64 is on every list).
	ps, err := readOwnStatus(statusFile, &st)
	if err != nil {
		return st, err
	}
	if !spec.SwitchUser && st.UID == 0 {
		st.Notes = append(st.Notes, "uid: still 0 (no --switch-user and no user namespace): root in the init namespace without capabilities")
	}
	return st, verify(spec, ps)
}

// touchLazyLoads makes the runtime and standard library load, while files
// can still be opened, what they would otherwise load on first use. After
// the filter such a load would fail with ENOENT (not kill), but fail it
// would: time.Local would silently become UTC.
func touchLazyLoads() {
	_ = time.Local.String() // reads TZ / /etc/localtime once
	var b [1]byte
	_, _ = rand.Read(b[:]) // getrandom; never a file on Linux, but prove it works now
}

// enterChroot chroots into dir and moves to its root. A directory that is
// not empty is allowed (the filter blocks opens anyway) but noted.
func enterChroot(dir string) (note string, err error) {
	d, err := os.Open(dir)
	if err != nil {
		return "", fmt.Errorf("seccomp: chroot %s: %w", dir, err)
	}
	names, _ := d.Readdirnames(1)
	d.Close()
	if len(names) > 0 {
		note = fmt.Sprintf("chroot: %s is not empty (has %q)", dir, names[0])
	}
	if err := syscall.Chroot(dir); err != nil {
		return "", fmt.Errorf("seccomp: chroot %s: %w", dir, err)
	}
	if err := syscall.Chdir("/"); err != nil {
		return "", fmt.Errorf("seccomp: chdir / after chroot: %w", err)
	}
	return note, nil
}

func switchUser(uid, gid int) error {
	if err := syscall.Setgroups([]int{}); err != nil {
		return fmt.Errorf("seccomp: setgroups([]): %w", err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("seccomp: setresgid(%d): %w", gid, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("seccomp: setresuid(%d): %w", uid, err)
	}
	return nil
}

// Rlimit is one resource limit a confined worker sets on itself.
type Rlimit struct {
	Name     string // "RLIMIT_NOFILE"
	Resource int
	Value    uint64 // soft and hard limit
	Why      string
}

// WorkerRlimits are the limits Confine sets, in order; maxFiles 0 means
// DefaultMaxFiles. RLIMIT_NPROC is deliberately not among them: it counts
// threads per uid, so the Go runtime could no longer start a thread (and
// other processes of the role user count too). New processes are stopped
// by the seccomp rule on clone (CLONE_THREAD required) instead.
func WorkerRlimits(maxFiles uint64) []Rlimit {
	if maxFiles == 0 {
		maxFiles = DefaultMaxFiles
	}
	return []Rlimit{
		// A regular file could only grow by 0 bytes. (Workers must
		// therefore log to a pipe or socket, not a file.)
		{"RLIMIT_FSIZE", unix.RLIMIT_FSIZE, 0, "no file writes (workers log to a pipe)"},
		{"RLIMIT_CORE", unix.RLIMIT_CORE, 0, "no core dumps"},
		{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE, maxFiles, "bounded descriptors (upstream queries and TCP clients in flight)"},
	}
}

// setLimits sets WorkerRlimits, which are per process. A descriptor limit
// above the hard limit is kept at the hard limit: raising it needs
// CAP_SYS_RESOURCE, which is gone.
func setLimits(maxFiles uint64) (notes []string, err error) {
	for _, l := range WorkerRlimits(maxFiles) {
		v := l.Value
		if l.Resource == unix.RLIMIT_NOFILE {
			var cur unix.Rlimit
			if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &cur); err != nil {
				return notes, fmt.Errorf("seccomp: RLIMIT_NOFILE: %w", err)
			}
			if v > cur.Max {
				notes = append(notes, fmt.Sprintf("rlimit: RLIMIT_NOFILE %d above the hard limit, kept at %d", v, cur.Max))
				v = cur.Max
			}
		}
		if err := unix.Setrlimit(l.Resource, &unix.Rlimit{Cur: v, Max: v}); err != nil {
			return notes, fmt.Errorf("seccomp: %s %d: %w", l.Name, v, err)
		}
	}
	return notes, nil
}
