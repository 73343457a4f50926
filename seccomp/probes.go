package seccomp

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A probe tries one forbidden action with a raw system call (never a
// library wrapper that might take another path, such as syscall.Setuid,
// which goes through AllThreadsSyscall). It returns the error the call
// gave; nil means the action succeeded, and the probe has undone it.
type probe struct {
	name string
	// expect is what the confined worker must see: 0 means killed by
	// SIGSYS (the call is not on the allow-list), else this errno.
	expect syscall.Errno
	try    func() error
}

var probeTable = []probe{
	{"open", syscall.ENOENT, probeOpen},
	{"execve", 0, probeExecve},
	{"ptrace", 0, probePtrace},
	{"socket-packet", 0, socketProbe(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))},
	{"socket-unix", 0, socketProbe(unix.AF_UNIX, unix.SOCK_STREAM, 0)},
	{"socket-raw", 0, socketProbe(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)},
	{"socket-inet", 0, socketProbe(unix.AF_INET, unix.SOCK_DGRAM, 0)},
	{"setuid0", 0, probeSetuid0},
	{"mount", 0, probeMount},
	{"bpf-prog-load", 0, probeBPFProgLoad},
	{"fork", 0, probeFork},
	{"clone3", syscall.ENOSYS, probeClone3},
}

// roleProbes: dnsd may make UDP/TCP sockets, so "socket-inet" is a probe
// only for dhcpd, which may make no socket at all.
var roleProbes = map[string][]string{
	"dnsd":  {"open", "execve", "ptrace", "socket-packet", "socket-unix", "socket-raw", "setuid0", "mount", "bpf-prog-load", "fork", "clone3"},
	"dhcpd": {"open", "execve", "ptrace", "socket-packet", "socket-unix", "socket-raw", "socket-inet", "setuid0", "mount", "bpf-prog-load", "fork", "clone3"},
}

// Probes lists the forbidden actions --check-sandbox tries, by name, for a
// role.
func Probes(role string) []string {
	return append([]string(nil), roleProbes[role]...)
}

// ProbeExpectation says how a confined worker must experience a probe:
// killed by SIGSYS (killed=true), or the call failing with errno.
func ProbeExpectation(name string) (killed bool, errno syscall.Errno, ok bool) {
	for _, p := range probeTable {
		if p.name == name {
			return p.expect == 0, p.expect, true
		}
	}
	return false, 0, false
}

// RunProbe tries one forbidden action in an already-confined process. It
// returns blocked=true with the error when the action failed as it must.
// Probes whose syscall is not on the allow-list kill the process (SIGSYS)
// and never return; the caller learns that from the wait status. An
// "execve" that is not blocked replaces the process with /bin/true, which
// exits 0 without a report.
func RunProbe(name string) (blocked bool, detail string) {
	for _, p := range probeTable {
		if p.name != name {
			continue
		}
		err := p.try()
		if err == nil {
			return false, name + ": succeeded"
		}
		return true, fmt.Sprintf("%s: %v (%s)", name, err, errnoName(errnoOf(err)))
	}
	return false, "unknown probe " + name
}

func errnoOf(err error) syscall.Errno {
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return 0
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func cstr(s string) *byte {
	b, _ := syscall.BytePtrFromString(s)
	return b
}

func probeOpen() error {
	atFDCWD := unix.AT_FDCWD
	fd, _, errno := syscall.RawSyscall6(unix.SYS_OPENAT, uintptr(atFDCWD),
		uintptr(unsafe.Pointer(cstr("/etc/passwd"))), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if errno != 0 {
		return errno
	}
	syscall.Close(int(fd))
	return nil
}

func probeExecve() error {
	path := cstr("/bin/true")
	argv := []*byte{path, nil}
	envv := []*byte{nil}
	_, _, errno := syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(path)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])))
	return errno // returns only on failure
}

func probePtrace() error {
	_, _, errno := syscall.RawSyscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func socketProbe(family, typ, proto int) func() error {
	return func() error {
		fd, _, errno := syscall.RawSyscall(unix.SYS_SOCKET, uintptr(family), uintptr(typ|unix.SOCK_CLOEXEC), uintptr(proto))
		if errno != 0 {
			return errno
		}
		syscall.Close(int(fd))
		return nil
	}
}

func probeSetuid0() error {
	// Raw setuid on this thread only: the point is whether the kernel call
	// is reachable, not Go's all-threads wrapper.
	_, _, errno := syscall.RawSyscall(unix.SYS_SETUID, 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func probeMount() error {
	_, _, errno := syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(cstr("tmpfs"))),
		uintptr(unsafe.Pointer(cstr("/"))), uintptr(unsafe.Pointer(cstr("tmpfs"))), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// bpfProgLoadAttr is the BPF_PROG_LOAD part of union bpf_attr.
type bpfProgLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
}

// The probe's program and license live in package variables: their
// addresses travel inside bpf_attr as integers, and package variables
// never move.
var (
	// r0 = 0; exit: a socket filter that drops everything.
	bpfProbeInsns = [2]uint64{
		0x00000000000000b7, // BPF_ALU64|BPF_MOV|BPF_K dst=r0 imm=0
		0x0000000000000095, // BPF_JMP|BPF_EXIT
	}
	bpfProbeLicense = [4]byte{'G', 'P', 'L', 0}
)

func probeBPFProgLoad() error {
	attr := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_SOCKET_FILTER,
		insnCnt:  uint32(len(bpfProbeInsns)),
		insns:    uint64(uintptr(unsafe.Pointer(&bpfProbeInsns[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&bpfProbeLicense[0]))),
	}
	fd, _, errno := syscall.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 {
		return errno
	}
	syscall.Close(int(fd))
	return nil
}

func probeFork() error {
	pid, errno := rawFork(unix.SYS_CLONE, uintptr(syscall.SIGCHLD), 0)
	if errno != 0 {
		return errno
	}
	reap(int(pid))
	return nil
}

// cloneArgs is struct clone_args (version 0, 64 bytes).
type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls uint64
}

// clone3Args is a package variable for the same reason as bpfProbeInsns.
var clone3Args = cloneArgs{exitSignal: uint64(syscall.SIGCHLD)}

func probeClone3() error {
	pid, errno := rawFork(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&clone3Args)), unsafe.Sizeof(clone3Args))
	if errno != 0 {
		return errno
	}
	reap(int(pid))
	return nil
}

// rawFork makes a process with clone or clone3 and has the child exit at
// once, before it runs any Go code: like syscall.forkAndExecInChild, it
// must not grow the stack or touch the runtime in the child.
//
//go:nosplit
//go:norace
func rawFork(trap, a1, a2 uintptr) (uintptr, syscall.Errno) {
	pid, _, errno := syscall.RawSyscall(trap, a1, a2, 0)
	if errno == 0 && pid == 0 {
		for {
			syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
		}
	}
	return pid, errno
}

func reap(pid int) {
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil)
}
