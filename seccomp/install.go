package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Install loads prog as a seccomp filter on every thread of the process
// (SECCOMP_FILTER_FLAG_TSYNC). The calling thread must have no_new_privs set
// (or CAP_SYS_ADMIN). Threads created afterwards inherit the filter.
func Install(prog []bpf.Instruction) error {
	raw, err := rawProgram(prog)
	if err != nil {
		return err
	}
	if len(raw) == 0 || len(raw) > maxInstructions {
		return fmt.Errorf("seccomp: install: %d instructions", len(raw))
	}
	fprog := unix.SockFprog{Len: uint16(len(raw)), Filter: &raw[0]}
	r1, _, errno := unix.Syscall(unix.SYS_SECCOMP,
		unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(raw)
	if errno != 0 {
		return fmt.Errorf("seccomp: install filter (TSYNC): %w", errno)
	}
	// With TSYNC, a positive return is the id of a thread that could not be
	// synchronised (it has a diverging filter); nothing was installed.
	if r1 != 0 {
		return fmt.Errorf("seccomp: install filter: thread %d could not be synchronised", r1)
	}
	return nil
}
