package seccomp

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
)

// DefaultMaxFiles is the RLIMIT_NOFILE a worker gets when Spec.MaxFiles is 0.
const DefaultMaxFiles = 1024

// Flag names of the worker argv that Args writes and ParseSpec reads.
const (
	flagRole       = "role"
	flagChroot     = "chroot"
	flagSwitchUser = "switch-user"
	flagUID        = "uid"
	flagGID        = "gid"
	flagMaxFiles   = "max-files"
	flagTrap       = "seccomp-trap"
	flagKeepBnd    = "keep-bounding-set"
)

// Args formats the spec as worker arguments.
func (s Spec) Args() []string {
	args := []string{"--" + flagRole + "=" + s.Role}
	if s.Chroot != "" {
		args = append(args, "--"+flagChroot+"="+s.Chroot)
	}
	if s.SwitchUser {
		args = append(args, "--"+flagSwitchUser)
	}
	args = append(args,
		"--"+flagUID+"="+strconv.Itoa(s.UID),
		"--"+flagGID+"="+strconv.Itoa(s.GID),
		"--"+flagMaxFiles+"="+strconv.FormatUint(s.MaxFiles, 10))
	if s.TrapForDebug {
		args = append(args, "--"+flagTrap)
	}
	if s.KeepBoundingSet {
		args = append(args, "--"+flagKeepBnd)
	}
	return args
}

// ParseSpec reads arguments written by Args.
func ParseSpec(args []string) (Spec, error) {
	var s Spec
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&s.Role, flagRole, "", "role: selects the allow-list")
	fs.StringVar(&s.Chroot, flagChroot, "", "empty directory to chroot into")
	fs.BoolVar(&s.SwitchUser, flagSwitchUser, false, "switch to uid/gid")
	fs.IntVar(&s.UID, flagUID, 0, "user id")
	fs.IntVar(&s.GID, flagGID, 0, "group id")
	fs.Uint64Var(&s.MaxFiles, flagMaxFiles, 0, "RLIMIT_NOFILE")
	fs.BoolVar(&s.TrapForDebug, flagTrap, false, "SIGSYS with a Go trace instead of kill (debugging)")
	fs.BoolVar(&s.KeepBoundingSet, flagKeepBnd, false, "leave the bounding set (no CAP_SETPCAP: unprivileged master without user namespaces)")
	if err := fs.Parse(args); err != nil {
		return Spec{}, fmt.Errorf("seccomp: worker spec: %w", err)
	}
	if fs.NArg() != 0 {
		return Spec{}, fmt.Errorf("seccomp: worker spec: unexpected argument %q", fs.Arg(0))
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// Validate checks the spec before any step runs.
func (s Spec) Validate() error {
	if _, ok := rolePledges[s.Role]; !ok {
		return fmt.Errorf("seccomp: worker spec: unknown role %q", s.Role)
	}
	if s.UID < 0 || s.UID >= math.MaxUint32 || s.GID < 0 || s.GID >= math.MaxUint32 {
		return fmt.Errorf("seccomp: worker spec: uid %d / gid %d out of range", s.UID, s.GID)
	}
	if s.SwitchUser && (s.UID == 0 || s.GID == 0) {
		return errors.New("seccomp: worker spec: --switch-user needs a non-root uid and gid")
	}
	if s.Chroot != "" && s.Chroot[0] != '/' {
		return fmt.Errorf("seccomp: worker spec: chroot %q is not an absolute path", s.Chroot)
	}
	return nil
}
