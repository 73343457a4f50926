//go:build linux

package seccomp

import "golang.org/x/sys/unix"

var nativeArch = func() archInfo {
	n := commonNumbers()
	n["access"] = unix.SYS_ACCESS
	n["arch_prctl"] = unix.SYS_ARCH_PRCTL
	n["creat"] = unix.SYS_CREAT
	n["lstat"] = unix.SYS_LSTAT
	n["open"] = unix.SYS_OPEN
	n["pipe"] = unix.SYS_PIPE
	n["readlink"] = unix.SYS_READLINK
	n["stat"] = unix.SYS_STAT
	return archInfo{
		name:    "amd64",
		audit:   unix.AUDIT_ARCH_X86_64,
		numbers: n,
		absent:  map[string]bool{},
		x32:     true,
	}
}()
