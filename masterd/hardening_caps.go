package masterd

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The capabilities an unprivileged master may need (linux/capability.h).
const (
	capNetBindService = unix.CAP_NET_BIND_SERVICE // DNS on 53, DHCP on 67
	capNetRaw         = unix.CAP_NET_RAW          // dhcpd's AF_PACKET and raw ICMP sockets
	capBPF            = unix.CAP_BPF              // the eBPF socket filters
)

// capabilityNames are the kernel's names, by number.
var capabilityNames = [...]string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL",
	"SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE",
	"NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
	"SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
	"SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// capNames lists the capabilities in mask as "CAP_NAME", lowest first.
func capNames(mask uint64) []string {
	var out []string
	for c := 0; c < 64; c++ {
		if mask&(1<<c) == 0 {
			continue
		}
		if c < len(capabilityNames) {
			out = append(out, "CAP_"+capabilityNames[c])
		} else {
			out = append(out, "CAP_"+strconv.Itoa(c))
		}
	}
	return out
}

// capabilitySets reads the calling thread's effective, permitted and
// inheritable sets (every thread of the master has the same).
func capabilitySets() (eff, prm, inh uint64, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, 0, 0, fmt.Errorf("capget: %w", err)
	}
	join := func(lo, hi uint32) uint64 { return uint64(hi)<<32 | uint64(lo) }
	return join(data[0].Effective, data[1].Effective), join(data[0].Permitted, data[1].Permitted),
		join(data[0].Inheritable, data[1].Inheritable), nil
}

// masterCapsNeeded are the capabilities a non-root master keeps:
// CAP_NET_BIND_SERVICE for the ports (bind-dynamic binds later too),
// CAP_NET_RAW only with DHCP, CAP_BPF for the eBPF filters.
func masterCapsNeeded(dhcp bool) uint64 {
	keep := uint64(1)<<capNetBindService | uint64(1)<<capBPF
	if dhcp {
		keep |= 1 << capNetRaw
	}
	return keep
}

// trimMasterCapabilities is for a master that is not root: it keeps only
// the capabilities in keep (of those it holds) and empties its ambient and
// inheritable sets on every thread, so that no process it starts (workers,
// the script helper) inherits a capability across execve. It returns what
// it kept and what it dropped.
func trimMasterCapabilities(keep uint64) (kept, dropped uint64, err error) {
	eff, prm, inh, err := capabilitySets()
	if err != nil {
		return 0, 0, err
	}
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0)
	if errno != 0 {
		return 0, 0, fmt.Errorf("clear the ambient capability set: %w", errno)
	}
	if prm == 0 && inh == 0 {
		return eff, 0, nil // development mode: nothing to keep
	}
	// Effective becomes what is kept: capabilities from file
	// capabilities may be permitted but not yet effective.
	newPrm := prm & keep
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3} // Pid 0: each calling thread
	data := [2]unix.CapUserData{
		{Effective: uint32(newPrm), Permitted: uint32(newPrm)},
		{Effective: uint32(newPrm >> 32), Permitted: uint32(newPrm >> 32)},
	}
	_, _, errno = syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if errno != 0 {
		return 0, 0, fmt.Errorf("capset: keep %s: %w", strings.Join(capNames(newPrm), ","), errno)
	}
	return newPrm, prm &^ newPrm, nil
}

// userNamespacesAvailable says whether the worker start can put a worker
// in a new user namespace, and if not why: the sysctls that forbid it
// name the reason, and a real clone decides.
func userNamespacesAvailable() (ok bool, why string) {
	for _, s := range []struct{ path, off, why string }{
		{"/proc/sys/user/max_user_namespaces", "0", "user.max_user_namespaces is 0"},
		{"/proc/sys/kernel/unprivileged_userns_clone", "0", "kernel.unprivileged_userns_clone is 0"},
	} {
		if b, err := os.ReadFile(s.path); err == nil && strings.TrimSpace(string(b)) == s.off {
			return false, s.why
		}
	}
	cmd := exec.Command(selfExe, WorkerArg, "probe-userns")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	cmd.Env = []string{}
	// The child is started only to see that clone succeeds; the role table
	// rejects the role and it exits at once.
	if err := cmd.Start(); err != nil {
		return false, "clone(CLONE_NEWUSER): " + err.Error() + " (a security module such as AppArmor may restrict unprivileged user namespaces)"
	}
	_ = cmd.Wait()
	return true, ""
}
