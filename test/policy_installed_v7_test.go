package test

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/seccomp"
)

// TestInstalledFiltersMatchPolicy reads, with ptrace, the seccomp filter
// the kernel actually holds for each running worker and compares it
// instruction for instruction with the one the seccomp package builds
// from the role's promises: the same table --print-policy and
// docs/policy.md are printed from (masterd's TestPolicyDocUpToDate,
// seccomp's TestPolicySyscallsMatchRules). So what an auditor reads is
// what the kernel enforces, not just what the code meant to install.
func TestInstalledFiltersMatchPolicy(t *testing.T) {
	l := newDHCPLink(t)
	run(t, "ip", "netns", "exec", l.srv.name, "sysctl", "-qw", "net.ipv6.conf."+l.srvIf+".disable_ipv6=1")
	conf := strings.NewReplacer("%IF%", l.srvIf, "%LEASES%", t.TempDir()).Replace(
		"listen-address=127.0.0.1\nno-resolv\nno-hosts\naddress=/probe.test/192.0.2.7\n" + strings.Replace(dhcpConf, "port=0\n", "", 1))
	m := startMoatd(t, l.srv, conf, nil)
	m.waitReady(t)
	workers := m.workers(t)
	for _, role := range []string{"dnsd", "dhcpd"} {
		pid := workers[role]
		if pid == 0 {
			t.Errorf("no %s worker: %v", role, workers)
			continue
		}
		// A rule such as kill(getpid(), ...) holds the pid the worker
		// saw, in its own PID namespace: the last NSpid field.
		ns := strings.Fields(procStatus(t, pid)["NSpid"])
		if len(ns) == 0 {
			t.Fatalf("%s: no NSpid in /proc/%d/status", role, pid)
		}
		innerPID, err := strconv.Atoi(ns[len(ns)-1])
		if err != nil {
			t.Fatal(err)
		}
		policy, err := seccomp.PolicyFor(role)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := policy.Build(seccomp.BuildOptions{PID: innerPID, Default: seccomp.ActKillProcess})
		if err != nil {
			t.Fatal(err)
		}
		want, err := bpf.Assemble(prog)
		if err != nil {
			t.Fatal(err)
		}
		filters, err := installedFilters(pid)
		if err != nil {
			t.Fatalf("%s[%d]: read its seccomp filters: %v", role, pid, err)
		}
		if len(filters) != 1 {
			t.Fatalf("%s[%d]: %d seccomp filters installed, want exactly 1", role, pid, len(filters))
		}
		got := filters[0]
		if len(got) != len(want) {
			t.Errorf("%s[%d]: installed filter has %d instructions, the policy builds %d", role, pid, len(got), len(want))
			continue
		}
		for i := range want {
			g := got[i]
			if g.Code != want[i].Op || g.Jt != want[i].Jt || g.Jf != want[i].Jf || g.K != want[i].K {
				t.Errorf("%s[%d]: instruction %d installed %+v, policy %+v", role, pid, i, g, want[i])
				break
			}
		}
	}
	// The workers were stopped and resumed: they still answer.
	if got := strings.TrimSpace(l.srv.dig("@127.0.0.1", "+short", "probe.test")); got != "192.0.2.7" {
		t.Errorf("after the ptrace read, probe.test = %q, want 192.0.2.7", got)
	}
	if addr := l.udhcpc(t); !strings.HasPrefix(addr.String(), "192.0.2.") {
		t.Errorf("after the ptrace read, udhcpc bound %v", addr)
	}
}

// installedFilters attaches to pid (PTRACE_SEIZE, then PTRACE_INTERRUPT
// for a ptrace-stop), reads every seccomp filter of that thread with
// PTRACE_SECCOMP_GET_FILTER (index 0 is the newest), and detaches. Root
// only (CAP_SYS_ADMIN; CAP_SYS_PTRACE, the workers are not dumpable).
func installedFilters(pid int) (filters [][]unix.SockFilter, err error) {
	runtime.LockOSThread() // ptrace requests must come from the tracing thread
	defer runtime.UnlockOSThread()
	if err := unix.PtraceSeize(pid); err != nil {
		return nil, fmt.Errorf("PTRACE_SEIZE: %w", err)
	}
	defer func() {
		if derr := unix.PtraceDetach(pid); derr != nil && err == nil {
			err = fmt.Errorf("PTRACE_DETACH: %w", derr)
		}
	}()
	if err := unix.PtraceInterrupt(pid); err != nil {
		return nil, fmt.Errorf("PTRACE_INTERRUPT: %w", err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
		return nil, fmt.Errorf("wait for the ptrace-stop: %w", err)
	}
	if !ws.Stopped() {
		return nil, fmt.Errorf("not stopped: wait status %#x", uint32(ws))
	}
	for index := 0; index < 16; index++ { // bounded: a worker installs one
		n, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SECCOMP_GET_FILTER, uintptr(pid), uintptr(index), 0, 0, 0)
		if errors.Is(errno, unix.ENOENT) {
			return filters, nil
		}
		if errno != 0 {
			return nil, fmt.Errorf("PTRACE_SECCOMP_GET_FILTER %d: %w", index, errno)
		}
		prog := make([]unix.SockFilter, n)
		if n > 0 {
			if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SECCOMP_GET_FILTER, uintptr(pid), uintptr(index), uintptr(unsafe.Pointer(&prog[0])), 0, 0); errno != 0 {
				return nil, fmt.Errorf("PTRACE_SECCOMP_GET_FILTER %d: %w", index, errno)
			}
		}
		filters = append(filters, prog)
	}
	return nil, errors.New("more than 16 filters")
}
