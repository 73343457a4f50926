package seccomp

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Child side of the re-exec tests. Nothing here runs in the test process
// itself.

func runChild(scenario string) int {
	switch scenario {
	case "confine":
		return childConfine()
	case "confine-only":
		if _, _, err := childConfineFromEnv(); err != nil {
			return 1
		}
		return 0
	case "probe":
		return childProbe(true)
	case "probe-unconfined":
		return childProbe(false)
	case "launch-userns":
		return childLaunchUserns()
	default:
		fmt.Fprintf(os.Stderr, "unknown child scenario %q\n", scenario)
		return 2
	}
}

func childFail(err error) int {
	report(childReport{Kind: "error", Err: err.Error()})
	fmt.Fprintln(os.Stderr, "child:", err)
	return 1
}

func childConfineFromEnv() (Spec, Status, error) {
	spec, err := ParseSpec(strings.Split(os.Getenv(childSpecEnv), "\n"))
	if err != nil {
		return spec, Status{}, err
	}
	start := time.Now()
	st, err := Confine(spec)
	elapsed := time.Since(start)
	r := childReport{Kind: "status", Status: st, ConfineNanos: elapsed.Nanoseconds()}
	if err != nil {
		r.Err = err.Error()
	}
	report(r)
	return spec, st, err
}

// childConfine confines itself, runs the role's workload for
// childDurationEnv, sends a descriptor back over fd 3, and waits for the
// parent's "bye" so the parent can inspect it while it still runs.
func childConfine() int {
	spec, _, err := childConfineFromEnv()
	if err != nil {
		return 1
	}
	d, _ := time.ParseDuration(os.Getenv(childDurationEnv))
	w, err := newWorkload(spec.Role, ipcFD)
	if err != nil {
		return childFail(fmt.Errorf("workload setup: %w", err))
	}
	stats, err := w.run(d)
	if err != nil {
		return childFail(fmt.Errorf("workload: %w", err))
	}
	report(childReport{Kind: "workload", Workload: stats})
	if err := w.sendBack(); err != nil {
		return childFail(fmt.Errorf("send descriptor back: %w", err))
	}
	// Wait for the parent: any message or EOF ends the child.
	buf := make([]byte, 16)
	if _, _, _, _, err := unix.Recvmsg(ipcFD, buf, nil, 0); err != nil {
		return childFail(fmt.Errorf("wait for bye: %w", err))
	}
	return 0
}

// childProbe runs one probe, confined or not (the unconfined run shows the
// probe can see an action succeed).
func childProbe(confine bool) int {
	if confine {
		if _, _, err := childConfineFromEnv(); err != nil {
			return 1
		}
	}
	name := os.Getenv(childProbeEnv)
	blocked, detail := RunProbe(name)
	report(childReport{Kind: "probe", Probe: name, Blocked: blocked, Detail: detail})
	return 0
}

// childLaunchUserns plays the unprivileged master (it runs as uid 65534
// with no capabilities): it starts the inner scenario in a new user
// namespace that maps only its own uid and gid, with ambient
// CAP_SYS_CHROOT and CAP_SETPCAP inside it, passes stdout and fd 3
// through, and exits as the worker did.
func childLaunchUserns() int {
	self, err := os.Executable()
	if err != nil {
		return childFail(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	cmd := exec.Command(self)
	cmd.Env = []string{
		childScenarioEnv + "=" + os.Getenv(childInnerEnv),
		childSpecEnv + "=" + os.Getenv(childSpecEnv),
		childProbeEnv + "=" + os.Getenv(childProbeEnv),
		childDurationEnv + "=" + os.Getenv(childDurationEnv),
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if _, err := unix.FcntlInt(ipcFD, unix.F_GETFD, 0); err == nil {
		cmd.ExtraFiles = []*os.File{os.NewFile(ipcFD, "ipc")}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}},
		// An unprivileged writer of gid_map must deny setgroups first.
		GidMappingsEnableSetgroups: false,
		AmbientCaps:                []uintptr{unix.CAP_SYS_CHROOT, unix.CAP_SETPCAP},
		Pdeathsig:                  syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return childFail(fmt.Errorf("start worker in a user namespace as uid %d: %w", uid, err))
	}
	err = cmd.Wait()
	r := childReport{Kind: "exit", Signal: int(exitSignal(err))}
	if cmd.ProcessState != nil {
		r.Code = cmd.ProcessState.ExitCode()
	}
	report(r)
	return 0
}
