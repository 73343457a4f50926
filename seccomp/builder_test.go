package seccomp

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const testPID = 4242

// seccompData encodes struct seccomp_data for x/net/bpf's VM. The VM loads
// words big-endian (network order), the kernel in native order; so every
// 32-bit word is stored big-endian at the offset where the little-endian
// kernel layout has it: nr at 0, arch at 4, the low word of args[i] at
// 16+8i and its high word at 20+8i.
func seccompData(arch, nr uint32, args ...uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[offNR:], nr)
	binary.BigEndian.PutUint32(b[offArch:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[argLow(i):], uint32(a))
		binary.BigEndian.PutUint32(b[argHigh(i):], uint32(a>>32))
	}
	return b
}

func mustBuild(t testing.TB, role string, def Action) *bpf.VM {
	t.Helper()
	p, err := PolicyFor(role)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := p.Build(BuildOptions{PID: testPID, Default: def})
	if err != nil {
		t.Fatalf("build %s: %v", role, err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("vm for %s: %v", role, err)
	}
	return vm
}

func nr(t testing.TB, name string) uint32 {
	t.Helper()
	n, ok := nativeArch.numbers[name]
	if !ok {
		t.Fatalf("no syscall %q on %s", name, nativeArch.name)
	}
	return n
}

// goCloneFlags are the flags the Go runtime creates threads with.
const goCloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_SYSVSEM | unix.CLONE_THREAD | unix.CLONE_SETTLS

func TestFilterDecisions(t *testing.T) {
	kill := ActKillProcess
	allowed := ActAllow
	sockAll := uint64(unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC)
	type call struct {
		name string
		args []uint64
		arch uint32 // 0: native
		nrOr uint32 // or'ed into the number (x32 bit)
	}
	cases := []struct {
		desc  string
		roles []string
		c     call
		want  Action
	}{
		{"futex allowed", []string{"dnsd", "dhcpd"}, call{name: "futex"}, allowed},
		{"execve killed", []string{"dnsd", "dhcpd"}, call{name: "execve"}, kill},
		{"mount killed", []string{"dnsd", "dhcpd"}, call{name: "mount"}, kill},
		{"setuid killed", []string{"dnsd", "dhcpd"}, call{name: "setuid", args: []uint64{0}}, kill},
		{"ptrace killed", []string{"dnsd", "dhcpd"}, call{name: "ptrace"}, kill},
		{"openat ENOENT", []string{"dnsd", "dhcpd"}, call{name: "openat"}, ActErrno(syscall.ENOENT)},
		{"openat2 ENOENT", []string{"dnsd", "dhcpd"}, call{name: "openat2"}, ActErrno(syscall.ENOENT)},
		{"newfstatat ENOENT", []string{"dnsd", "dhcpd"}, call{name: "newfstatat"}, ActErrno(syscall.ENOENT)},
		{"wrong arch killed", []string{"dnsd", "dhcpd"}, call{name: "futex", arch: unix.AUDIT_ARCH_I386}, kill},
		{"wrong arch open killed", []string{"dnsd", "dhcpd"}, call{name: "openat", arch: otherArch()}, kill},
		{"pipe2 ENOSYS", []string{"dnsd", "dhcpd"}, call{name: "pipe2"}, ActErrno(syscall.ENOSYS)},
		{"sendfile ENOSYS", []string{"dnsd", "dhcpd"}, call{name: "sendfile"}, ActErrno(syscall.ENOSYS)},
		{"clone3 ENOSYS", []string{"dnsd", "dhcpd"}, call{name: "clone3"}, ActErrno(syscall.ENOSYS)},
		{"clone thread", []string{"dnsd", "dhcpd"}, call{name: "clone", args: []uint64{goCloneFlags}}, allowed},
		{"clone fork", []string{"dnsd", "dhcpd"}, call{name: "clone", args: []uint64{uint64(syscall.SIGCHLD)}}, kill},
		{"clone vfork", []string{"dnsd", "dhcpd"}, call{name: "clone", args: []uint64{unix.CLONE_VM | unix.CLONE_VFORK | uint64(syscall.SIGCHLD)}}, kill},
		{"clone thread in new netns", []string{"dnsd", "dhcpd"}, call{name: "clone", args: []uint64{goCloneFlags | unix.CLONE_NEWNET}}, kill},
		{"clone thread high bits", []string{"dnsd", "dhcpd"}, call{name: "clone", args: []uint64{goCloneFlags | 1<<40}}, allowed},
		{"tgkill self", []string{"dnsd", "dhcpd"}, call{name: "tgkill", args: []uint64{testPID, 7, uint64(syscall.SIGURG)}}, allowed},
		{"tgkill other", []string{"dnsd", "dhcpd"}, call{name: "tgkill", args: []uint64{1, 1, uint64(syscall.SIGKILL)}}, kill},
		{"tgkill pid in high word", []string{"dnsd", "dhcpd"}, call{name: "tgkill", args: []uint64{1<<32 | testPID}}, kill},
		{"kill self", []string{"dnsd", "dhcpd"}, call{name: "kill", args: []uint64{testPID, uint64(syscall.SIGABRT)}}, allowed},
		{"kill group", []string{"dnsd", "dhcpd"}, call{name: "kill", args: []uint64{0, uint64(syscall.SIGKILL)}}, kill},
		{"mmap rw", []string{"dnsd", "dhcpd"}, call{name: "mmap", args: []uint64{0, 4096, unix.PROT_READ | unix.PROT_WRITE}}, allowed},
		{"mmap exec", []string{"dnsd", "dhcpd"}, call{name: "mmap", args: []uint64{0, 4096, unix.PROT_READ | unix.PROT_EXEC}}, kill},
		{"mprotect exec", []string{"dnsd", "dhcpd"}, call{name: "mprotect", args: []uint64{0, 4096, unix.PROT_EXEC}}, kill},
		{"prctl vma name", []string{"dnsd", "dhcpd"}, call{name: "prctl", args: []uint64{unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME}}, allowed},
		{"prctl no_new_privs", []string{"dnsd", "dhcpd"}, call{name: "prctl", args: []uint64{unix.PR_SET_NO_NEW_PRIVS, 1}}, kill},
		{"prctl capbset drop", []string{"dnsd", "dhcpd"}, call{name: "prctl", args: []uint64{unix.PR_CAPBSET_DROP, 0}}, kill},
		{"sched_getaffinity self", []string{"dnsd", "dhcpd"}, call{name: "sched_getaffinity", args: []uint64{0}}, allowed},
		{"sched_getaffinity other", []string{"dnsd", "dhcpd"}, call{name: "sched_getaffinity", args: []uint64{1}}, kill},
		{"fcntl getfl", []string{"dnsd", "dhcpd"}, call{name: "fcntl", args: []uint64{3, unix.F_GETFL}}, allowed},
		{"fcntl dupfd cloexec", []string{"dnsd", "dhcpd"}, call{name: "fcntl", args: []uint64{3, unix.F_DUPFD_CLOEXEC}}, allowed},
		{"fcntl setown", []string{"dnsd", "dhcpd"}, call{name: "fcntl", args: []uint64{3, unix.F_SETOWN}}, kill},
		{"recvmsg", []string{"dnsd", "dhcpd"}, call{name: "recvmsg"}, allowed},
		{"getsockopt SO_TYPE", []string{"dnsd", "dhcpd"}, call{name: "getsockopt", args: []uint64{3, unix.SOL_SOCKET, unix.SO_TYPE}}, allowed},
		{"getsockopt TCP_INFO", []string{"dnsd", "dhcpd"}, call{name: "getsockopt", args: []uint64{3, unix.IPPROTO_TCP, unix.TCP_INFO}}, kill},

		{"socket packet", []string{"dnsd", "dhcpd"}, call{name: "socket", args: []uint64{unix.AF_PACKET, unix.SOCK_RAW, 0x0300}}, kill},
		{"socket unix", []string{"dnsd", "dhcpd"}, call{name: "socket", args: []uint64{unix.AF_UNIX, unix.SOCK_STREAM, 0}}, kill},
		{"socket netlink", []string{"dhcpd"}, call{name: "socket", args: []uint64{unix.AF_NETLINK, unix.SOCK_RAW, 0}}, kill},
		{"socket rtnetlink in dnsd fails (Go's IPv6 zone names)", []string{"dnsd"}, call{name: "socket", args: []uint64{unix.AF_NETLINK, unix.SOCK_RAW | unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE}}, ActErrno(syscall.EAFNOSUPPORT)},
		{"socket other netlink in dnsd", []string{"dnsd"}, call{name: "socket", args: []uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT}}, kill},
		{"socket udp4 nonblock cloexec", []string{"dnsd"}, call{name: "socket", args: []uint64{unix.AF_INET, unix.SOCK_DGRAM | sockAll, 0}}, allowed},
		{"socket tcp6", []string{"dnsd"}, call{name: "socket", args: []uint64{unix.AF_INET6, unix.SOCK_STREAM | unix.SOCK_CLOEXEC, unix.IPPROTO_TCP}}, allowed},
		{"socket udp4 in dhcpd", []string{"dhcpd"}, call{name: "socket", args: []uint64{unix.AF_INET, unix.SOCK_DGRAM | sockAll, 0}}, kill},
		{"socket raw icmp", []string{"dnsd"}, call{name: "socket", args: []uint64{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP}}, kill},
		{"socket ping", []string{"dnsd"}, call{name: "socket", args: []uint64{unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP}}, kill},
		{"socket seqpacket", []string{"dnsd"}, call{name: "socket", args: []uint64{unix.AF_INET, unix.SOCK_SEQPACKET, 0}}, kill},
		{"socket mptcp", []string{"dnsd"}, call{name: "socket", args: []uint64{unix.AF_INET6, unix.SOCK_STREAM | sockAll, unix.IPPROTO_MPTCP}}, ActErrno(syscall.EPROTONOSUPPORT)},
		{"socket family high word", []string{"dnsd"}, call{name: "socket", args: []uint64{1<<32 | unix.AF_INET, unix.SOCK_DGRAM, 0}}, kill},
		{"socket type high word", []string{"dnsd"}, call{name: "socket", args: []uint64{unix.AF_INET, 1<<32 | unix.SOCK_DGRAM, 0}}, kill},
		{"connect", []string{"dnsd"}, call{name: "connect"}, allowed},
		{"connect in dhcpd", []string{"dhcpd"}, call{name: "connect"}, kill},
		{"accept4", []string{"dnsd"}, call{name: "accept4"}, allowed},
		{"setsockopt broadcast", []string{"dnsd", "dhcpd"}, call{name: "setsockopt", args: []uint64{3, unix.SOL_SOCKET, unix.SO_BROADCAST}}, allowed},
		{"setsockopt reuseport", []string{"dnsd", "dhcpd"}, call{name: "setsockopt", args: []uint64{3, unix.SOL_SOCKET, unix.SO_REUSEPORT}}, kill},
		{"setsockopt bindtodevice", []string{"dnsd"}, call{name: "setsockopt", args: []uint64{3, unix.SOL_SOCKET, unix.SO_BINDTODEVICE}}, allowed},
		{"setsockopt bindtodevice dhcpd", []string{"dhcpd"}, call{name: "setsockopt", args: []uint64{3, unix.SOL_SOCKET, unix.SO_BINDTODEVICE}}, kill},
		{"setsockopt nodelay", []string{"dnsd"}, call{name: "setsockopt", args: []uint64{3, unix.IPPROTO_TCP, unix.TCP_NODELAY}}, allowed},
		{"setsockopt nodelay dhcpd", []string{"dhcpd"}, call{name: "setsockopt", args: []uint64{3, unix.IPPROTO_TCP, unix.TCP_NODELAY}}, kill},
		{"setsockopt attach bpf", []string{"dnsd"}, call{name: "setsockopt", args: []uint64{3, unix.SOL_SOCKET, unix.SO_ATTACH_BPF}}, allowed},
		{"setsockopt v6only", []string{"dnsd"}, call{name: "setsockopt", args: []uint64{3, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY}}, allowed},
		{"setsockopt level/option crossed", []string{"dnsd"}, call{name: "setsockopt", args: []uint64{3, unix.IPPROTO_TCP, unix.IPV6_V6ONLY}}, kill},
		{"setsockopt icmp filter", []string{"dhcpd"}, call{name: "setsockopt", args: []uint64{3, unix.SOL_RAW, unix.ICMP_FILTER}}, allowed},
		{"bpf map update", []string{"dnsd"}, call{name: "bpf", args: []uint64{unix.BPF_MAP_UPDATE_ELEM}}, allowed},
		{"bpf prog load", []string{"dnsd", "dhcpd"}, call{name: "bpf", args: []uint64{unix.BPF_PROG_LOAD}}, kill},
		{"bpf map create", []string{"dnsd"}, call{name: "bpf", args: []uint64{unix.BPF_MAP_CREATE}}, kill},
		{"unknown number", []string{"dnsd", "dhcpd"}, call{name: "futex", nrOr: 0x3ff}, kill},
	}
	if nativeArch.x32 {
		cases = append(cases, struct {
			desc  string
			roles []string
			c     call
			want  Action
		}{"x32 number killed", []string{"dnsd", "dhcpd"}, call{name: "futex", nrOr: x32SyscallBit}, kill})
	}
	for _, role := range Roles() {
		vm := mustBuild(t, role, ActKillProcess)
		for _, tc := range cases {
			if !contains(tc.roles, role) {
				continue
			}
			t.Run(role+"/"+tc.desc, func(t *testing.T) {
				arch := tc.c.arch
				if arch == 0 {
					arch = nativeArch.audit
				}
				got, err := vm.Run(seccompData(arch, nr(t, tc.c.name)|tc.c.nrOr, tc.c.args...))
				if err != nil {
					t.Fatal(err)
				}
				if Action(got) != tc.want {
					t.Errorf("%s(%#x): got %s, want %s", tc.c.name, tc.c.args, Action(got), tc.want)
				}
			})
		}
	}
}

func TestFilterTrapDefault(t *testing.T) {
	vm := mustBuild(t, "dnsd", ActTrap)
	for _, tc := range []struct {
		data []byte
		want Action
	}{
		{seccompData(nativeArch.audit, nr(t, "execve")), ActTrap},
		{seccompData(nativeArch.audit, nr(t, "socket"), unix.AF_PACKET, unix.SOCK_RAW), ActTrap},
		{seccompData(nativeArch.audit, nr(t, "futex")), ActAllow},
		// A foreign architecture is killed even in trap mode.
		{seccompData(unix.AUDIT_ARCH_I386, nr(t, "futex")), ActKillProcess},
	} {
		got, err := vm.Run(tc.data)
		if err != nil {
			t.Fatal(err)
		}
		if Action(got) != tc.want {
			t.Errorf("got %s, want %s", Action(got), tc.want)
		}
	}
}

// otherArch is a real architecture that is not this one.
func otherArch() uint32 {
	if nativeArch.audit == unix.AUDIT_ARCH_X86_64 {
		return unix.AUDIT_ARCH_AARCH64
	}
	return unix.AUDIT_ARCH_X86_64
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// evalRules is a reference evaluation of a policy, written the obvious way,
// to compare the compiled program against.
func evalRules(by map[string][]Rule, a archInfo, opt BuildOptions, arch, number uint32, args [6]uint64) Action {
	if arch != a.audit || (a.x32 && number >= x32SyscallBit) {
		return ActKillProcess
	}
	name := a.nameOf(number)
	for _, r := range by[name] {
		ok := true
		for _, c := range r.Args {
			vals := c.Values
			if c.SelfPID {
				vals = []uint64{uint64(opt.PID)}
			}
			if !contains64(vals, args[c.Index]&c.Mask) {
				ok = false
				break
			}
		}
		if ok {
			return r.Action
		}
	}
	return opt.Default
}

func contains64(list []uint64, v uint64) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// interestingArgs draws argument values near the ones the rules test.
func interestingArgs(rng *rand.Rand, by map[string][]Rule, name string, pid int) [6]uint64 {
	var args [6]uint64
	for i := range args {
		args[i] = rng.Uint64()
	}
	for _, r := range by[name] {
		for _, c := range r.Args {
			if rng.IntN(3) == 0 {
				continue
			}
			vals := c.Values
			if c.SelfPID {
				vals = []uint64{uint64(pid)}
			}
			v := vals[rng.IntN(len(vals))]
			switch rng.IntN(4) {
			case 0: // exact, other bits random where the mask allows
				v |= rng.Uint64() &^ c.Mask
			case 1: // one bit flipped
				v ^= 1 << rng.IntN(64)
			case 2: // the high word set
				v |= uint64(rng.Uint32()) << 32
			}
			args[c.Index] = v
		}
	}
	return args
}

// TestFilterMatchesReference runs every call number of every role's
// program against the reference evaluation with many argument vectors.
func TestFilterMatchesReference(t *testing.T) {
	for _, role := range Roles() {
		p, _ := PolicyFor(role)
		opt := BuildOptions{PID: testPID, Default: ActKillProcess}
		prog, err := p.Build(opt)
		if err != nil {
			t.Fatal(err)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatal(err)
		}
		by, _ := p.rules(nativeArch)
		rng := rand.New(rand.NewPCG(1, uint64(len(role))))
		for number := uint32(0); number < 600; number++ {
			name := nativeArch.nameOf(number)
			tries := 1
			if name != "" {
				tries = 200
			}
			for i := 0; i < tries; i++ {
				args := interestingArgs(rng, by, name, opt.PID)
				want := evalRules(by, nativeArch, opt, nativeArch.audit, number, args)
				got, err := vm.Run(seccompData(nativeArch.audit, number, args[:]...))
				if err != nil {
					t.Fatal(err)
				}
				if Action(got) != want {
					t.Fatalf("%s: %s(%d) args %#x: program says %s, rules say %s", role, name, number, args, Action(got), want)
				}
			}
		}
	}
}

// TestFilterLongJumps builds a policy large enough that the binary search
// must jump further than a conditional jump reaches (255), and checks the
// relaxed program against the reference.
func TestFilterLongJumps(t *testing.T) {
	a := archInfo{name: "test", audit: 0xc0ffee, numbers: map[string]uint32{}}
	var rules []Rule
	for i := 0; i < 120; i++ {
		name := fmt.Sprintf("call%d", i)
		a.numbers[name] = uint32(3 * i)
		vals := []uint64{uint64(i), uint64(i) << 33, 7}
		rules = append(rules,
			Rule{Syscall: name, Action: ActErrno(syscall.Errno(i%100 + 1)), Args: []ArgCond{argIn(i%6, "", vals...)}},
			Rule{Syscall: name, Action: ActAllow, Args: []ArgCond{argMaskedIn((i+1)%6, 0xff00ff00ff, "", uint64(i)&0xff)}},
		)
	}
	p := Policy{Role: "big", Promises: []Promise{{Name: "all", Rules: rules}}}
	opt := BuildOptions{PID: 99, Default: ActKillProcess}
	prog, err := p.build(a, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) < 2*256 {
		t.Fatalf("program has %d instructions, too short to need long jumps", len(prog))
	}
	long := 0
	for _, ins := range prog {
		if j, ok := ins.(bpf.Jump); ok && j.Skip > 255 {
			long++
		}
	}
	if long == 0 {
		t.Fatal("no long jump in the program")
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	by, _ := p.rules(a)
	rng := rand.New(rand.NewPCG(2, 3))
	for number := uint32(0); number < 365; number++ {
		name := a.nameOf(number)
		for i := 0; i < 20; i++ {
			args := interestingArgs(rng, by, name, opt.PID)
			want := evalRules(by, a, opt, a.audit, number, args)
			got, err := vm.Run(seccompData(a.audit, number, args[:]...))
			if err != nil {
				t.Fatal(err)
			}
			if Action(got) != want {
				t.Fatalf("%s(%d) args %#x: program says %s, rules say %s", name, number, args, Action(got), want)
			}
		}
	}
}

func TestBuildRejects(t *testing.T) {
	a := archInfo{name: "test", audit: 1, numbers: map[string]uint32{"x": 1}}
	opt := BuildOptions{PID: 1, Default: ActKillProcess}
	for _, tc := range []struct {
		desc  string
		rules []Rule
		opt   BuildOptions
	}{
		{"unknown syscall", []Rule{allow("nosuchcall")}, opt},
		{"no action", []Rule{{Syscall: "x"}}, opt},
		{"unconditional rule first", []Rule{allow("x"), allow("x", argIn(0, "", 1))}, opt},
		{"value outside mask", []Rule{allow("x", argMaskedIn(0, 0xf, "", 0x10))}, opt},
		{"no values", []Rule{allow("x", ArgCond{Index: 0, Mask: ^uint64(0)})}, opt},
		{"arg index", []Rule{allow("x", argIn(6, "", 1))}, opt},
		{"no default", []Rule{allow("x")}, BuildOptions{PID: 1}},
		{"no pid", []Rule{allow("x")}, BuildOptions{Default: ActKillProcess}},
	} {
		p := Policy{Role: "r", Promises: []Promise{{Name: "p", Rules: tc.rules}}}
		if _, err := p.build(a, tc.opt); err == nil {
			t.Errorf("%s: built without error", tc.desc)
		}
	}
}

// TestPolicySizes logs the numbers the design tracks and keeps the
// programs well under the kernel's limit.
func TestPolicySizes(t *testing.T) {
	for _, role := range Roles() {
		p, _ := PolicyFor(role)
		names, err := p.AllowedSyscalls()
		if err != nil {
			t.Fatal(err)
		}
		prog, err := p.Build(BuildOptions{PID: testPID, Default: ActKillProcess})
		if err != nil {
			t.Fatal(err)
		}
		if len(prog) > maxInstructions/4 {
			t.Errorf("%s: %d instructions", role, len(prog))
		}
		t.Logf("%s: %d syscalls allowed, %d filter instructions", role, len(names), len(prog))
	}
}

func TestPolicyString(t *testing.T) {
	p, err := PolicyFor("dnsd")
	if err != nil {
		t.Fatal(err)
	}
	s := p.String()
	for _, want := range []string{
		"promise runtime:", "promise inet:",
		"clone              allow if arg0: CLONE_THREAD set, CLONE_NEW* clear (mask 0x7e030000)",
		"openat             errno ENOENT",
		"socket             allow if arg0 in {AF_INET, AF_INET6}",
		"tgkill             allow if arg0 == getpid()",
		"syscalls allowed",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("listing lacks %q:\n%s", want, s)
		}
	}
	if _, err := PolicyFor("nosuchrole"); err == nil {
		t.Error("PolicyFor(nosuchrole) succeeded")
	}
}
