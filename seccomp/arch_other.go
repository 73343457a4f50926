//go:build linux && !amd64 && !arm64

package seccomp

import "runtime"

// nativeArch on an architecture without a system call table here: building
// a filter fails with "unknown syscall", so Confine refuses to run rather
// than run unconfined.
var nativeArch = archInfo{name: runtime.GOARCH}

// syscallNames is empty: kills are reported by number only.
var syscallNames = map[uint32]string{}
