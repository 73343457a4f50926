package seccomp

import (
	"fmt"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Action is a seccomp filter return value (SECCOMP_RET_*).
type Action uint32

// The actions the allow-lists use. The zero Action is SECCOMP_RET_KILL_THREAD,
// which no rule wants (a half-dead Go process hangs), so rules must name
// their action explicitly; the builder rejects the zero value.
const (
	ActAllow       Action = unix.SECCOMP_RET_ALLOW
	ActKillProcess Action = unix.SECCOMP_RET_KILL_PROCESS
	// ActTrap sends SIGSYS to the calling thread instead of killing the
	// process. The Go runtime then crashes with "SIGSYS: bad system call"
	// and a goroutine trace naming the caller: a debugging aid only.
	ActTrap Action = unix.SECCOMP_RET_TRAP
)

// ActErrno makes the call fail with errno e without reaching the kernel.
func ActErrno(e syscall.Errno) Action {
	return Action(unix.SECCOMP_RET_ERRNO | uint32(e)&unix.SECCOMP_RET_DATA)
}

func (a Action) String() string {
	switch {
	case a == ActAllow:
		return "allow"
	case a == ActKillProcess:
		return "kill-process"
	case a == ActTrap:
		return "trap"
	case uint32(a)&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ERRNO:
		e := syscall.Errno(uint32(a) & unix.SECCOMP_RET_DATA)
		return "errno " + errnoName(e)
	default:
		return fmt.Sprintf("action %#x", uint32(a))
	}
}

func errnoName(e syscall.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("%d", uint32(e))
}

// ArgCond holds when (args[Index] & Mask) equals one of Values. All 64 bits
// are compared (the filter checks the high and the low 32-bit word), so a
// plain equality has Mask = ^0; "bits set" is Mask = Values[0] = bits;
// "bits clear" is Mask = bits, Values = {0}.
type ArgCond struct {
	Index  int
	Mask   uint64
	Values []uint64
	// SelfPID: the value is the worker's own pid, known only when the
	// filter is built (in the worker, just before it is installed).
	SelfPID bool
	// Doc names the values for the printed allow-list ("AF_INET, AF_INET6").
	Doc string
}

// Rule is one alternative for one system call: when every condition holds,
// the filter returns Action. Several rules for the same call are tried in
// order; when none matches, the policy's default action applies.
type Rule struct {
	Syscall string
	Args    []ArgCond
	Action  Action
}

// Promise groups rules by purpose, in the manner of OpenBSD's pledge
// promises, so an allow-list reads as a list of capabilities. Each promise
// is defined once and registered in promiseTable (promises.go).
type Promise struct {
	Name  string
	Why   string
	Rules []Rule
}

// Policy is a role's complete allow-list.
type Policy struct {
	Role     string
	Promises []Promise
	// Default is what a call no rule matches gets: kill-process for the
	// workers, allow for the dhcp-script helper's deny-list. The zero
	// value means kill-process.
	Default Action
}

// DefaultAction is the action for calls no rule matches.
func (p Policy) DefaultAction() Action {
	if p.Default == 0 {
		return ActKillProcess
	}
	return p.Default
}

// Roles lists the worker roles that have an allow-list.
func Roles() []string {
	out := make([]string, 0, len(rolePledges))
	for r := range rolePledges {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// PolicyFor returns the allow-list of a worker role, resolved from its
// pledge line.
func PolicyFor(role string) (Policy, error) {
	line, ok := rolePledges[role]
	if !ok {
		return Policy{}, fmt.Errorf("seccomp: no allow-list for role %q (have %s)", role, strings.Join(Roles(), ", "))
	}
	ps, err := resolvePledge(line)
	if err != nil {
		return Policy{}, fmt.Errorf("seccomp: role %s: %w", role, err)
	}
	return Policy{Role: role, Promises: ps, Default: ActKillProcess}, nil
}

// rules returns the policy's rules that exist on this architecture, grouped
// by syscall in first-seen order. Names this architecture does not have
// (open on arm64) are left out; unknown names are an error.
func (p Policy) rules(a archInfo) (map[string][]Rule, error) {
	bySyscall := map[string][]Rule{}
	for _, pr := range p.Promises {
		for _, r := range pr.Rules {
			if _, ok := a.numbers[r.Syscall]; !ok {
				if a.absent[r.Syscall] {
					continue
				}
				return nil, fmt.Errorf("seccomp: promise %s: unknown syscall %q on %s", pr.Name, r.Syscall, a.name)
			}
			bySyscall[r.Syscall] = append(bySyscall[r.Syscall], r)
		}
	}
	return bySyscall, nil
}

// AllowedSyscalls lists, sorted, the system calls on this architecture that
// at least one rule allows (with or without argument conditions). Calls
// that only ever return an errno are not counted.
func (p Policy) AllowedSyscalls() ([]string, error) {
	by, err := p.rules(nativeArch)
	if err != nil {
		return nil, err
	}
	var names []string
	for name, rs := range by {
		for _, r := range rs {
			if r.Action == ActAllow {
				names = append(names, name)
				break
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

// String prints the allow-list by promise: one line per rule with its
// conditions and action, then the count.
func (p Policy) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "role %s (%s):\n", p.Role, nativeArch.name)
	for _, pr := range p.Promises {
		fmt.Fprintf(&b, "  promise %s: %s\n", pr.Name, pr.Why)
		for _, r := range pr.Rules {
			if _, ok := nativeArch.numbers[r.Syscall]; !ok {
				continue
			}
			fmt.Fprintf(&b, "    %-18s %s", r.Syscall, r.Action)
			for i, c := range r.Args {
				if i == 0 {
					b.WriteString(" if ")
				} else {
					b.WriteString(" and ")
				}
				b.WriteString(c.String())
			}
			b.WriteByte('\n')
		}
	}
	names, err := p.AllowedSyscalls()
	if err != nil {
		fmt.Fprintf(&b, "  error: %v\n", err)
	} else {
		fmt.Fprintf(&b, "  %d syscalls allowed; anything else: %s\n", len(names), p.DefaultAction())
	}
	return b.String()
}

func (c ArgCond) String() string {
	arg := fmt.Sprintf("arg%d", c.Index)
	if c.Mask != ^uint64(0) {
		if c.Doc != "" {
			// The doc already says what the masked bits must be.
			return fmt.Sprintf("%s: %s (mask %#x)", arg, c.Doc, c.Mask)
		}
		arg = fmt.Sprintf("(arg%d & %#x)", c.Index, c.Mask)
	}
	what := c.Doc
	if what == "" {
		if c.SelfPID {
			what = "getpid()"
		} else {
			vs := make([]string, len(c.Values))
			for i, v := range c.Values {
				vs[i] = fmt.Sprintf("%#x", v)
			}
			what = strings.Join(vs, ", ")
		}
	}
	if len(c.Values) > 1 {
		return fmt.Sprintf("%s in {%s}", arg, what)
	}
	return fmt.Sprintf("%s == %s", arg, what)
}

// Constructors keep the allow-list files short and readable.

func allow(name string, conds ...ArgCond) Rule {
	return Rule{Syscall: name, Args: conds, Action: ActAllow}
}

func fail(name string, e syscall.Errno, conds ...ArgCond) Rule {
	return Rule{Syscall: name, Args: conds, Action: ActErrno(e)}
}

// failAll makes every named call fail with errno e.
func failAll(e syscall.Errno, names ...string) []Rule {
	rs := make([]Rule, len(names))
	for i, n := range names {
		rs[i] = fail(n, e)
	}
	return rs
}

// allowAll allows every named call unconditionally.
func allowAll(names ...string) []Rule {
	rs := make([]Rule, len(names))
	for i, n := range names {
		rs[i] = allow(n)
	}
	return rs
}

func argIn(index int, doc string, values ...uint64) ArgCond {
	return ArgCond{Index: index, Mask: ^uint64(0), Values: values, Doc: doc}
}

func argMaskedIn(index int, mask uint64, doc string, values ...uint64) ArgCond {
	return ArgCond{Index: index, Mask: mask, Values: values, Doc: doc}
}

func argBitsClear(index int, doc string, bits uint64) ArgCond {
	return ArgCond{Index: index, Mask: bits, Values: []uint64{0}, Doc: doc}
}

func argSelfPID(index int) ArgCond {
	return ArgCond{Index: index, Mask: ^uint64(0), SelfPID: true, Doc: "getpid()"}
}

// sockopts expands a level -> option names table into one setsockopt or
// getsockopt rule per level: arg1 == level and arg2 in options.
func sockopts(name string, levels ...sockLevel) []Rule {
	rs := make([]Rule, 0, len(levels))
	for _, l := range levels {
		vals := make([]uint64, len(l.opts))
		names := make([]string, len(l.opts))
		for i, o := range l.opts {
			vals[i] = o.value
			names[i] = o.name
		}
		rs = append(rs, allow(name,
			argIn(1, l.name, l.level),
			argIn(2, strings.Join(names, ", "), vals...)))
	}
	return rs
}

type sockLevel struct {
	name  string
	level uint64
	opts  []named
}

type named struct {
	name  string
	value uint64
}
