package masterd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/ipc"
	"github.com/moatdns/moat/seccomp"
)

// WorkerArg, as argv[1], tells moatd it was started as a worker; argv[2]
// names the role.
const WorkerArg = "__worker"

// maxWorkerFiles is each worker's RLIMIT_NOFILE: dnsd holds one socket per
// upstream query in flight and one per TCP client.
const maxWorkerFiles = 4096

// sandboxPlan is how workers are confined on this machine, decided once at
// start from who the master is.
type sandboxPlan struct {
	root   bool // the master is root: namespaces, chroot, uid switch
	userNS bool // not root: a user namespace gives the worker its chroot
	// keepBounding: not root and no user namespace (the fallback): no
	// namespaces, no chroot, and the worker cannot empty its bounding
	// set; it still empties every other set, sets no_new_privs and
	// installs its filter.
	keepBounding bool
	// uid and gid are user= and group= (root only): the dhcp-script
	// helper's default user, and every worker's unless forRole says
	// otherwise.
	uid, gid int
	// roles is each worker role's own user (root only): dns-user and
	// dhcp-user, defaulting to user= (lookupRoleUsers).
	roles  map[string]roleUser
	chroot string // "" in the fallback
	// hardening is the mode and its layers (hardening.go), for the log
	// and moatctl status.
	hardening Hardening
}

// planSandbox decides the confinement and prepares the empty chroot
// directory. A master that is not root first gives up every capability
// it does not need, and its ambient and inheritable sets, so that no
// worker or helper inherits one across execve.
func planSandbox(cfg *config.Config) (sandboxPlan, error) {
	p := sandboxPlan{root: os.Geteuid() == 0}
	in := probeHardening(cfg)
	if !p.root {
		kept, dropped, err := trimMasterCapabilities(masterCapsNeeded(cfg.DHCP.Enabled()))
		if err != nil {
			return p, fmt.Errorf("drop the master's capabilities: %w", err)
		}
		in.caps, in.dropped = kept, dropped
	}
	p.hardening = in.hardening()
	if !p.root && !in.userNS {
		// Without root, only a user namespace lets a worker chroot and
		// empty its capability bounding set. Without one the workers run
		// with what still applies; the hardening lines say what is missing.
		p.keepBounding = true
		return p, nil
	}
	p.userNS = !p.root
	runDir := cfg.RunDir
	if runDir == "" {
		runDir = "/run/moatd"
		if !p.root {
			runDir = filepath.Join(os.TempDir(), "moatd-"+strconv.Itoa(os.Geteuid()))
		}
	}
	chroot, err := emptyDir(filepath.Join(runDir, "empty"))
	if err != nil {
		return p, err
	}
	p.chroot = chroot
	if p.root {
		if p.uid, p.gid, err = lookupWorkerUser(cfg); err != nil {
			return p, err
		}
		if p.roles, err = lookupRoleUsers(cfg); err != nil {
			return p, err
		}
	}
	return p, nil
}

// lookupWorkerUser resolves user= and group= (dnsmasq's defaults: nobody,
// and that user's primary group). Workers never run as root.
func lookupWorkerUser(cfg *config.Config) (uid, gid int, err error) {
	name := cfg.User
	if name == "" {
		name = config.DefaultUser
	}
	uid, gid, err = lookupAccount(name, cfg.Group) // hardening_users.go
	if err != nil {
		return 0, 0, fmt.Errorf("user %s: %w", name, err)
	}
	return uid, gid, nil
}

// emptyDir makes sure dir exists, is a real directory we own, and is empty:
// it becomes every worker's root directory.
func emptyDir(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("chroot directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("chroot directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
		return "", fmt.Errorf("chroot directory %s: must be a directory owned by uid %d and not group/world-writable", dir, os.Geteuid())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("chroot directory: %w", err)
	}
	if len(entries) != 0 {
		return "", fmt.Errorf("chroot directory %s: not empty", dir)
	}
	return dir, nil
}

// selfExe is the binary workers are started from: this very binary, even
// if the file on disk was replaced by an upgrade since.
const selfExe = "/proc/self/exe"

func (m *master) workerExe() string {
	if m.exe != "" {
		return m.exe
	}
	return selfExe
}

// worker is one running worker process.
type worker struct {
	role string
	cmd  *exec.Cmd
	conn *ipc.Conn
	pid  int
}

// spawn starts role as a confined worker process: descriptor 3 is its end
// of a fresh socketpair, its stderr is a pipe into the master's log, its
// environment is empty, and it dies with the master.
func (m *master) spawn(role string) (*worker, error) {
	masterEnd, workerEnd, err := ipc.Pair()
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	defer workerEnd.Close()
	spec := seccomp.Spec{Role: role, Chroot: m.sandbox.chroot, MaxFiles: maxWorkerFiles, KeepBoundingSet: m.sandbox.keepBounding}
	if m.sandbox.root {
		who := m.sandbox.forRole(role) // dns-user, dhcp-user, else user= (hardening_users.go)
		spec.SwitchUser, spec.UID, spec.GID = true, who.uid, who.gid
	}
	cmd := exec.Command(m.workerExe(), append([]string{WorkerArg, role}, spec.Args()...)...)
	cmd.Args[0] = "moatd-" + role
	cmd.Env = []string{}
	cmd.ExtraFiles = []*os.File{workerEnd}
	logw, err := m.log.workerPipe(role)
	if err != nil {
		masterEnd.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logw.w, logw.w
	cmd.SysProcAttr = m.sandbox.sysProcAttr(role)
	if err := cmd.Start(); err != nil {
		masterEnd.Close()
		logw.abandon()
		return nil, fmt.Errorf("start %s: %w", role, err)
	}
	logw.follow(cmd.Process.Pid)
	w := &worker{role: role, cmd: cmd, conn: ipc.NewConn(masterEnd), pid: cmd.Process.Pid}
	uid := os.Geteuid()
	if spec.SwitchUser {
		uid = spec.UID
	}
	m.log.auditSpawn(role, w.pid, uid, "chroot", spec.Chroot) // issue 7 (audit.go)
	return w, nil
}

// sysProcAttr gives each worker fresh mount, IPC, UTS and PID namespaces
// (and dhcpd, which creates no sockets, an empty network namespace), or a
// user namespace holding just what the worker needs to confine itself when
// the master is not root; in the fallback (not root, no user namespaces)
// none, since creating them needs CAP_SYS_ADMIN.
func (p sandboxPlan) sysProcAttr(role string) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWPID)
	if role == "dhcpd" {
		flags |= unix.CLONE_NEWNET
	}
	switch {
	case p.root:
		attr.Cloneflags = flags
	case p.userNS:
		uid, gid := os.Geteuid(), os.Getegid()
		attr.Cloneflags = flags | unix.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		attr.GidMappingsEnableSetgroups = false
		// Inside its own user namespace only: enough to chroot and to
		// empty the bounding set, which Confine then drops for good.
		attr.AmbientCaps = []uintptr{unix.CAP_SYS_CHROOT, unix.CAP_SETPCAP}
	}
	return attr
}

// exitReason describes how a worker ended, naming seccomp kills.
func exitReason(err error) string {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if err == nil {
			return "exited with status 0"
		}
		return err.Error()
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	switch {
	case ok && ws.Signaled() && ws.Signal() == syscall.SIGSYS:
		return "killed by seccomp (SIGSYS)"
	case ok && ws.Signaled():
		return "killed by signal " + ws.Signal().String()
	case ok:
		return "exited with status " + strconv.Itoa(ws.ExitStatus())
	}
	return err.Error()
}
