package seccomp

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Capability sets, the bounding set, no_new_privs and the parent-death
// signal are per-thread attributes, and a Go process already has several
// threads, so every one of those changes goes through
// syscall.AllThreadsSyscall (which only exists with CGO_ENABLED=0: under
// cgo it returns ENOTSUP and Confine fails).

func allThreadsPrctl(option, arg2, arg3 uintptr) error {
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, option, arg2, arg3)
	if errno != 0 {
		if errno == syscall.ENOTSUP {
			return fmt.Errorf("prctl(%d) on all threads: %w (built with cgo? build with CGO_ENABLED=0)", option, errno)
		}
		return fmt.Errorf("prctl(%d, %d) on all threads: %w", option, arg2, errno)
	}
	return nil
}

// readLastCap reads the highest capability number the kernel knows. It
// must run before the chroot hides /proc.
func readLastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("read cap_last_cap: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 0, fmt.Errorf("read cap_last_cap: bad value %q", b)
	}
	return n, nil
}

// dropBoundingSet removes every capability 0..lastCap from the bounding
// set of every thread. Capabilities already out of the set are skipped, so
// a process that has nothing left to drop needs no CAP_SETPCAP.
func dropBoundingSet(lastCap int) error {
	for c := 0; c <= lastCap; c++ {
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err != nil {
			if errors.Is(err, syscall.EINVAL) {
				break // the kernel knows fewer capabilities than cap_last_cap said
			}
			return fmt.Errorf("read bounding set cap %d: %w", c, err)
		}
		if in == 0 {
			continue
		}
		if err := allThreadsPrctl(unix.PR_CAPBSET_DROP, uintptr(c), 0); err != nil {
			return fmt.Errorf("drop cap %d from the bounding set: %w", c, err)
		}
	}
	return nil
}

// clearCapabilities empties the ambient, inheritable, permitted and
// effective sets of every thread. After a uid switch from root the kernel
// has already cleared permitted/effective/ambient; in the user-namespace
// mode (no uid switch) this is what removes the ambient CAP_SYS_CHROOT and
// CAP_SETPCAP the worker was started with.
func clearCapabilities() error {
	if err := allThreadsPrctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3} // Pid 0: the calling thread
	var data [2]unix.CapUserData                                        // all zero
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET,
		uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if errno != 0 {
		return fmt.Errorf("capset(0) on all threads: %w", errno)
	}
	return nil
}
