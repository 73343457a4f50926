package seccomp

import (
	"fmt"
	"sort"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Offsets into struct seccomp_data { int nr; u32 arch; u64
// instruction_pointer; u64 args[6]; }. Both supported architectures are
// little-endian: the low 32-bit word of args[i] comes first.
const (
	offNR   = 0
	offArch = 4
	offArgs = 16
)

func argLow(i int) uint32  { return uint32(offArgs + 8*i) }
func argHigh(i int) uint32 { return uint32(offArgs + 8*i + 4) }

// maxInstructions is BPF_MAXINSNS: the kernel refuses longer filters.
const maxInstructions = 4096

// leafSize is how many system calls the binary search leaves to a linear
// scan: small ranges are cheaper to test one by one than to split.
const leafSize = 4

// BuildOptions are the values a filter depends on besides the policy.
type BuildOptions struct {
	// PID is the worker's own process id, for rules like tgkill(getpid(), ...).
	PID int
	// Default is what happens to a call no rule allows: ActKillProcess,
	// or ActTrap to debug a missing rule.
	Default Action
}

// Build compiles the policy into a classic BPF seccomp program for the
// architecture this binary runs on.
func (p Policy) Build(opt BuildOptions) ([]bpf.Instruction, error) {
	return p.build(nativeArch, opt)
}

type syscallRules struct {
	name  string
	nr    uint32
	rules []Rule
}

func (p Policy) build(a archInfo, opt BuildOptions) ([]bpf.Instruction, error) {
	if opt.Default == 0 {
		return nil, fmt.Errorf("seccomp: build %s: no default action", p.Role)
	}
	if opt.PID <= 0 {
		return nil, fmt.Errorf("seccomp: build %s: pid %d", p.Role, opt.PID)
	}
	by, err := p.rules(a)
	if err != nil {
		return nil, err
	}
	groups := make([]syscallRules, 0, len(by))
	for name, rs := range by {
		if err := validateRules(name, rs); err != nil {
			return nil, err
		}
		groups = append(groups, syscallRules{name: name, nr: a.numbers[name], rules: rs})
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].nr < groups[j].nr })

	var as asm
	// 1. Architecture first: a call made through another ABI (i386 int 0x80
	// on amd64, say) has different numbers, so nothing below would mean
	// anything. Always kill, whatever the default.
	archOK := as.newLabel()
	archBad := as.newLabel()
	as.load(offArch)
	as.jump(bpf.JumpEqual, a.audit, archOK, archBad)
	as.mark(archBad)
	as.ret(ActKillProcess)
	as.mark(archOK)
	as.load(offNR)
	if a.x32 {
		x32 := as.newLabel()
		native := as.newLabel()
		as.jump(bpf.JumpGreaterOrEqual, x32SyscallBit, x32, native)
		as.mark(x32)
		as.ret(ActKillProcess)
		as.mark(native)
	}
	// 2. Binary search over the sorted call numbers; the accumulator holds
	// the number throughout the search (rule bodies clobber it, but a body
	// always ends in a return).
	if err := emitSearch(&as, groups, opt); err != nil {
		return nil, err
	}
	prog, err := as.assemble()
	if err != nil {
		return nil, err
	}
	if len(prog) > maxInstructions {
		return nil, fmt.Errorf("seccomp: filter for %s has %d instructions, limit %d", p.Role, len(prog), maxInstructions)
	}
	return prog, nil
}

func validateRules(name string, rs []Rule) error {
	for i, r := range rs {
		if r.Action == 0 {
			return fmt.Errorf("seccomp: %s: rule %d has no action", name, i)
		}
		if len(r.Args) == 0 && i != len(rs)-1 {
			return fmt.Errorf("seccomp: %s: unconditional rule %d hides the rules after it", name, i)
		}
		for _, c := range r.Args {
			if c.Index < 0 || c.Index > 5 {
				return fmt.Errorf("seccomp: %s: argument index %d", name, c.Index)
			}
			if c.SelfPID {
				continue
			}
			if len(c.Values) == 0 {
				return fmt.Errorf("seccomp: %s: arg%d condition has no values", name, c.Index)
			}
			for _, v := range c.Values {
				if v&^c.Mask != 0 {
					return fmt.Errorf("seccomp: %s: arg%d value %#x has bits outside mask %#x (never matches)", name, c.Index, v, c.Mask)
				}
			}
		}
	}
	return nil
}

func emitSearch(as *asm, groups []syscallRules, opt BuildOptions) error {
	if len(groups) <= leafSize {
		for _, g := range groups {
			body := as.newLabel()
			next := as.newLabel()
			as.jump(bpf.JumpEqual, g.nr, body, next)
			as.mark(body)
			if err := emitBody(as, g, opt); err != nil {
				return err
			}
			as.mark(next)
		}
		as.ret(opt.Default)
		return nil
	}
	mid := len(groups) / 2
	left := as.newLabel()
	right := as.newLabel()
	as.jump(bpf.JumpGreaterOrEqual, groups[mid].nr, right, left)
	as.mark(left)
	if err := emitSearch(as, groups[:mid], opt); err != nil {
		return err
	}
	as.mark(right)
	return emitSearch(as, groups[mid:], opt)
}

// emitBody tries the call's rules in order; each failing condition moves
// on to the next rule, and after the last the default action applies.
func emitBody(as *asm, g syscallRules, opt BuildOptions) error {
	for _, r := range g.rules {
		nextRule := as.newLabel()
		for _, c := range r.Args {
			if c.SelfPID {
				c.Values = []uint64{uint64(opt.PID)}
			}
			emitCond(as, c, nextRule)
		}
		as.ret(r.Action)
		as.mark(nextRule)
	}
	if len(g.rules[len(g.rules)-1].Args) > 0 {
		as.ret(opt.Default)
	}
	return nil
}

// emitCond falls through when (args[c.Index] & c.Mask) is one of c.Values
// and jumps to fail otherwise. Both 32-bit halves are checked: the high
// word first (grouping values by it), then the low word.
func emitCond(as *asm, c ArgCond, fail label) {
	hiMask, loMask := uint32(c.Mask>>32), uint32(c.Mask)
	pass := as.newLabel()

	// Group values by their high word, keeping the order of first use.
	var his []uint32
	los := map[uint32][]uint32{}
	for _, v := range c.Values {
		h, l := uint32(v>>32), uint32(v)
		if _, seen := los[h]; !seen {
			his = append(his, h)
		}
		los[h] = append(los[h], l)
	}

	for _, h := range his {
		nextHi := as.newLabel()
		if hiMask != 0 {
			checkLo := as.newLabel()
			as.load(argHigh(c.Index))
			if hiMask != 0xffffffff {
				as.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: hiMask})
			}
			as.jump(bpf.JumpEqual, h, checkLo, nextHi)
			as.mark(checkLo)
		}
		if loMask == 0 {
			as.jumpTo(pass)
		} else {
			as.load(argLow(c.Index))
			if loMask != 0xffffffff {
				as.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: loMask})
			}
			for _, l := range los[h] {
				no := as.newLabel()
				as.jump(bpf.JumpEqual, l, pass, no)
				as.mark(no)
			}
		}
		as.mark(nextHi)
	}
	as.jumpTo(fail)
	as.mark(pass)
}

// rawProgram converts a program for the kernel.
func rawProgram(prog []bpf.Instruction) ([]unix.SockFilter, error) {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("seccomp: assemble filter: %w", err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}
