package seccomp

// archInfo is what the filter needs to know about the architecture it runs
// on: the audit value seccomp_data.arch must hold, the system call numbers
// of every name the allow-lists use, and which of those names this
// architecture simply does not have (arm64 has no open(2), only openat).
type archInfo struct {
	name    string
	audit   uint32
	numbers map[string]uint32
	absent  map[string]bool
	// x32: on amd64 the x32 ABI shares AUDIT_ARCH_X86_64 and marks its
	// call numbers with bit 30; such numbers must be refused outright.
	x32 bool
}

// x32SyscallBit is __X32_SYSCALL_BIT.
const x32SyscallBit = 0x40000000

func (a archInfo) nameOf(nr uint32) string {
	for n, v := range a.numbers {
		if v == nr {
			return n
		}
	}
	return ""
}
