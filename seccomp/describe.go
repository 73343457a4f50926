package seccomp

import "sort"

//go:generate ./gensysnames.sh

// SyscallRules is one system call of a policy as its filter checks it:
// the rules in the order they are tried, each with the promise it came
// from.
type SyscallRules struct {
	Name   string
	Number uint32
	Rules  []PromiseRule
}

// PromiseRule is a rule and the promise that holds it.
type PromiseRule struct {
	Promise string
	Rule
}

// Syscalls lists, in call-number order, every system call the policy has
// a rule for on this architecture: what the filter decides is exactly
// this list, plus the default action for everything else.
func (p Policy) Syscalls() ([]SyscallRules, error) {
	a := p.arch()
	var out []SyscallRules
	index := map[string]int{}
	for _, pr := range p.Promises {
		for _, r := range pr.Rules {
			nr, ok := a.numbers[r.Syscall]
			if !ok {
				if a.absent[r.Syscall] {
					continue
				}
				// rules() reports the error below.
				continue
			}
			i, seen := index[r.Syscall]
			if !seen {
				i = len(out)
				index[r.Syscall] = i
				out = append(out, SyscallRules{Name: r.Syscall, Number: nr})
			}
			out[i].Rules = append(out[i].Rules, PromiseRule{Promise: pr.Name, Rule: r})
		}
	}
	if _, err := p.rules(a); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// arch is the architecture table the policy is built against: the
// script helper's deny-list names calls no worker list uses.
func (p Policy) arch() archInfo {
	if p.Role == ScriptRole {
		return scriptArch()
	}
	return nativeArch
}

// ArchName is the architecture the filters are built for ("amd64").
func ArchName() string { return nativeArch.name }

// AuditArch is the AUDIT_ARCH_* value of this architecture, as the
// kernel's seccomp audit record prints it (arch=c000003e on amd64).
func AuditArch() uint32 { return nativeArch.audit }

// SyscallName names a system call number of this architecture, whether or
// not any allow-list uses it; "" for a number it does not have.
func SyscallName(nr uint32) string { return syscallNames[nr] }
