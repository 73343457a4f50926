package seccomp

import (
	"reflect"
	"strings"
	"testing"
)

// TestPledgesResolve: every role's pledge line names defined promises,
// each once, and every defined promise is held by some role (a promise
// nobody holds is a leftover or a typo in a pledge line).
func TestPledgesResolve(t *testing.T) {
	held := map[string]bool{}
	for _, role := range append(Roles(), ScriptRole) {
		line, err := Pledge(role)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := resolvePledge(line)
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		for _, p := range ps {
			held[p.Name] = true
		}
	}
	for _, n := range PromiseNames() {
		if !held[n] {
			t.Errorf("promise %s is held by no role", n)
		}
	}
	if _, err := Pledge("nosuchrole"); err == nil {
		t.Error("Pledge(nosuchrole) succeeded")
	}
}

func TestResolvePledgeRejects(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"", "empty pledge"},
		{"stdio nosuch", `no promise "nosuch"`},
		{"stdio runtime stdio", `"stdio" named twice`},
	} {
		_, err := resolvePledge(tc.line)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("resolvePledge(%q) = %v, want error containing %q", tc.line, err, tc.want)
		}
	}
}

// TestPolicySyscallsMatchRules: the described list is the rule set the
// builder compiles (same calls, same rules in the same order), with the
// promise of every rule, in number order.
func TestPolicySyscallsMatchRules(t *testing.T) {
	policies := []Policy{ScriptPolicy()}
	for _, role := range Roles() {
		p, err := PolicyFor(role)
		if err != nil {
			t.Fatal(err)
		}
		policies = append(policies, p)
	}
	for _, p := range policies {
		list, err := p.Syscalls()
		if err != nil {
			t.Fatalf("%s: %v", p.Role, err)
		}
		by, err := p.rules(p.arch())
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != len(by) {
			t.Errorf("%s: %d calls described, %d compiled", p.Role, len(list), len(by))
		}
		for i, sc := range list {
			if i > 0 && list[i-1].Number >= sc.Number {
				t.Errorf("%s: %s (%d) after %s (%d)", p.Role, sc.Name, sc.Number, list[i-1].Name, list[i-1].Number)
			}
			rs := by[sc.Name]
			if len(rs) != len(sc.Rules) {
				t.Errorf("%s: %s: %d rules described, %d compiled", p.Role, sc.Name, len(sc.Rules), len(rs))
				continue
			}
			for j, r := range sc.Rules {
				if _, ok := PromiseNamed(r.Promise); !ok {
					t.Errorf("%s: %s: rule %d from undefined promise %q", p.Role, sc.Name, j, r.Promise)
				}
				// Every field: action and each argument condition (index,
				// mask, values, self-pid), so the printed conditions are
				// the compiled ones.
				if !reflect.DeepEqual(r.Rule, rs[j]) {
					t.Errorf("%s: %s: rule %d described as %+v, compiled as %+v", p.Role, sc.Name, j, r.Rule, rs[j])
				}
			}
		}
	}
}

// TestSyscallNames: the generated number -> name table agrees with the
// numbers the allow-lists are built from.
func TestSyscallNames(t *testing.T) {
	for name, nr := range nativeArch.numbers {
		if got := SyscallName(nr); got != name {
			t.Errorf("SyscallName(%d) = %q, want %q", nr, got, name)
		}
	}
	for name, nr := range scriptNumbers {
		if got := SyscallName(nr); got != name {
			t.Errorf("SyscallName(%d) = %q, want %q", nr, got, name)
		}
	}
	if got := SyscallName(1 << 20); got != "" {
		t.Errorf("SyscallName(1<<20) = %q, want empty", got)
	}
}
