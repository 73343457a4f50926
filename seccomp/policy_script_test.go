package seccomp

import (
	"strings"
	"syscall"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TestScriptFilterDecisions runs the dhcp-script filter in a BPF VM: what
// a shell script does (fork, exec, files, sockets) is allowed, the
// deny-list answers EPERM, namespace clones and foreign ABIs do not pass.
func TestScriptFilterDecisions(t *testing.T) {
	prog, err := BuildScriptFilter(testPID)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	a := scriptArch()
	num := func(name string) uint32 {
		n, ok := a.numbers[name]
		if !ok {
			t.Fatalf("no number for %s", name)
		}
		return n
	}
	eperm, enosys := ActErrno(syscall.EPERM), ActErrno(syscall.ENOSYS)
	forkFlags := uint64(unix.CLONE_CHILD_CLEARTID | unix.CLONE_CHILD_SETTID | uint64(syscall.SIGCHLD))
	cases := []struct {
		desc string
		arch uint32
		nr   uint32
		args []uint64
		want Action
	}{
		{"execve", 0, num("execve"), nil, ActAllow},
		{"openat", 0, num("openat"), nil, ActAllow},
		{"socket", 0, num("socket"), []uint64{unix.AF_INET, unix.SOCK_STREAM}, ActAllow},
		{"setuid (fails by itself without capabilities)", 0, num("setuid"), nil, ActAllow},
		{"fork by clone", 0, num("clone"), []uint64{forkFlags}, ActAllow},
		{"vfork by clone", 0, num("clone"), []uint64{unix.CLONE_VM | unix.CLONE_VFORK | uint64(syscall.SIGCHLD)}, ActAllow},
		{"clone into a user namespace", 0, num("clone"), []uint64{forkFlags | unix.CLONE_NEWUSER}, eperm},
		{"clone into a network namespace", 0, num("clone"), []uint64{forkFlags | unix.CLONE_NEWNET}, eperm},
		{"clone3", 0, num("clone3"), nil, enosys},
		{"unshare", 0, num("unshare"), []uint64{unix.CLONE_NEWUSER}, eperm},
		{"setns", 0, num("setns"), nil, eperm},
		{"mount", 0, num("mount"), nil, eperm},
		{"ptrace", 0, num("ptrace"), nil, eperm},
		{"bpf", 0, num("bpf"), nil, eperm},
		{"kexec_load", 0, num("kexec_load"), nil, eperm},
		{"finit_module", 0, num("finit_module"), nil, eperm},
		{"io_uring_setup", 0, num("io_uring_setup"), nil, eperm},
		{"keyctl", 0, num("keyctl"), nil, eperm},
		{"another ABI", otherArch(), num("execve"), nil, ActKillProcess},
	}
	for _, c := range cases {
		arch := c.arch
		if arch == 0 {
			arch = a.audit
		}
		got, err := vm.Run(seccompData(arch, c.nr, c.args...))
		if err != nil {
			t.Fatalf("%s: %v", c.desc, err)
		}
		if Action(got) != c.want {
			t.Errorf("%s: %v, want %v", c.desc, Action(got), c.want)
		}
	}
}

func TestScriptOptionsRoundTrip(t *testing.T) {
	tests := []ScriptOptions{
		{Script: "/etc/moat/lease-hook", Spec: ScriptSpec{SwitchUser: true, UID: 65534, GID: 65534}},
		{Script: "/usr/local/bin/hook with space", LogDHCP: true, Spec: ScriptSpec{KeepRoot: true}},
		{Script: "/x", Spec: ScriptSpec{UID: 1000, GID: 1000}},
	}
	for _, o := range tests {
		got, err := ParseScriptOptions(o.Args())
		if err != nil {
			t.Fatalf("%v: %v", o, err)
		}
		if got != o {
			t.Errorf("round trip %+v -> %+v", o, got)
		}
	}
	for _, bad := range [][]string{{"--script=relative"}, {"--script=/x", "extra"}, {"--nope"}} {
		if _, err := ParseScriptOptions(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestScriptSpecValidate(t *testing.T) {
	tests := []struct {
		spec ScriptSpec
		err  string
	}{
		{ScriptSpec{SwitchUser: true, UID: 65534, GID: 65534}, ""},
		{ScriptSpec{UID: 1000, GID: 1000}, ""},
		{ScriptSpec{SwitchUser: true, UID: 0, GID: 0}, "non-root"},
		{ScriptSpec{SwitchUser: true, KeepRoot: true}, "together"},
		{ScriptSpec{UID: -1}, "out of range"},
	}
	for _, tc := range tests {
		err := tc.spec.Validate()
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: %v, want %q", tc.spec, err, tc.err)
		}
	}
}
