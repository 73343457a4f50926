//go:build linux

package seccomp

import "golang.org/x/sys/unix"

var nativeArch = archInfo{
	name:    "arm64",
	audit:   unix.AUDIT_ARCH_AARCH64,
	numbers: commonNumbers(),
	// arm64 has only the *at forms, and no arch_prctl (the thread pointer
	// is a register user space sets itself).
	absent: map[string]bool{
		"access": true, "arch_prctl": true, "creat": true, "lstat": true,
		"open": true, "pipe": true, "readlink": true, "stat": true,
	},
}
