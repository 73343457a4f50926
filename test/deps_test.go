package test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/moatdns/moat"

// TestDependencyDirection keeps DESIGN.md's arrows: cmd -> roles -> ipc,
// seccomp -> internal. Workers never import the master or each other, and
// nothing below the roles imports a role.
func TestDependencyDirection(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"dnsd", []string{"masterd", "dhcpd", "scriptd", "cmd/"}},
		{"dhcpd", []string{"masterd", "dnsd", "scriptd", "cmd/"}},
		{"scriptd", []string{"masterd", "dnsd", "dhcpd", "cmd/"}},
		{"masterd", []string{"dnsd", "dhcpd", "scriptd", "cmd/"}},
		{"ipc", []string{"masterd", "dnsd", "dhcpd", "seccomp", "internal/workerproc", "cmd/"}},
		{"seccomp", []string{"masterd", "dnsd", "dhcpd", "ipc", "internal/", "cmd/"}},
		{"internal/config", []string{"masterd", "dnsd", "dhcpd", "ipc", "seccomp", "cmd/"}},
		{"internal/hosts", []string{"masterd", "dnsd", "dhcpd", "ipc", "seccomp", "cmd/"}},
		{"internal/cache", []string{"masterd", "dnsd", "dhcpd", "ipc", "seccomp", "cmd/"}},
		{"internal/workerproc", []string{"masterd", "dnsd", "dhcpd", "cmd/"}},
		{"internal/dhcpserver", []string{"masterd", "dnsd", "dhcpd", "ipc", "seccomp", "cmd/"}},
		{"internal/leasestore", []string{"masterd", "dnsd", "dhcpd", "ipc", "seccomp", "cmd/"}},
		{"internal/leases", []string{"masterd", "dnsd", "dhcpd", "ipc", "seccomp", "cmd/"}},
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", module+"/"+r.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", r.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			rel, ok := strings.CutPrefix(dep, module+"/")
			if !ok || rel == r.pkg {
				continue
			}
			for _, f := range r.forbidden {
				if rel == strings.TrimSuffix(f, "/") || strings.HasPrefix(rel, f) && strings.HasSuffix(f, "/") {
					t.Errorf("%s imports %s", r.pkg, rel)
				}
			}
		}
	}
}
