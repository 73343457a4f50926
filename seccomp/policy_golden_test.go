package seccomp

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"github.com/moatdns/moat/internal/testutil"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var updatePolicyGolden = flag.Bool("seccomp.update-golden", false, "rewrite testdata/policies_<arch>.golden from the current allow-lists")

// policyDigest is a canonical dump of what a role's filter decides: every
// system call in number order with its rules in the order the filter
// tries them, and the SHA-256 of the compiled program. Two policies with
// the same digest compile to the same program, whatever promises they
// were written as.
func policyDigest(t *testing.T, p Policy, a archInfo, def Action) string {
	t.Helper()
	by, err := p.rules(a)
	if err != nil {
		t.Fatalf("%s: %v", p.Role, err)
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return a.numbers[names[i]] < a.numbers[names[j]] })
	var b strings.Builder
	fmt.Fprintf(&b, "role %s default %s\n", p.Role, def)
	for _, n := range names {
		fmt.Fprintf(&b, "  %d %s\n", a.numbers[n], n)
		for _, r := range by[n] {
			fmt.Fprintf(&b, "    %s", r.Action)
			for _, c := range r.Args {
				fmt.Fprintf(&b, " [arg%d mask=%#x values=%#x self=%v]", c.Index, c.Mask, c.Values, c.SelfPID)
			}
			b.WriteByte('\n')
		}
	}
	prog, err := p.build(a, BuildOptions{PID: 4242, Default: def})
	if err != nil {
		t.Fatalf("%s: %v", p.Role, err)
	}
	raw, err := rawProgram(prog)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, r := range raw {
		fmt.Fprintf(h, "%d %d %d %d\n", r.Code, r.Jt, r.Jf, r.K)
	}
	fmt.Fprintf(&b, "  program %d instructions sha256 %x\n", len(raw), h.Sum(nil))
	return b.String()
}

// allPolicyDigests covers every role, the script helper's deny-list
// included.
func allPolicyDigests(t *testing.T) string {
	var b strings.Builder
	for _, role := range Roles() {
		p, err := PolicyFor(role)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(policyDigest(t, p, nativeArch, ActKillProcess))
	}
	b.WriteString(policyDigest(t, ScriptPolicy(), scriptArch(), ActAllow))
	return b.String()
}

// TestPoliciesMatchGolden pins what every role's filter allows: the
// golden file was written from the allow-lists as they were before they
// became promise tables, so a refactoring of how the lists are written
// must compile to the very same programs. A deliberate change to an
// allow-list updates the file with -seccomp.update-golden (and
// docs/policy.md with make docs).
func TestPoliciesMatchGolden(t *testing.T) {
	got := allPolicyDigests(t)
	path := filepath.Join("testdata", "policies_"+nativeArch.name+".golden")
	if *updatePolicyGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if os.IsNotExist(err) && nativeArch.name != "amd64" {
		testutil.Unavailable(t, "no golden file for "+nativeArch.name+" (write one with -seccomp.update-golden on a trusted build)")
	}
	if err != nil {
		t.Fatalf("read golden (write it with go test -run TestPoliciesMatchGolden -seccomp.update-golden): %v", err)
	}
	if got != string(want) {
		t.Errorf("the compiled allow-lists differ from %s; if the change is deliberate, run go test ./seccomp -run TestPoliciesMatchGolden -seccomp.update-golden\n--- got:\n%s", path, got)
	}
}
