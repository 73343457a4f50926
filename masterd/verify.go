package masterd

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// verify checks a worker's confinement twice: what the worker reported from
// inside, and what the kernel shows the master in /proc/<pid>/status. The
// worker is untrusted, so its own report alone proves nothing.
func (p sandboxPlan) verify(pid int, reported *ipcpb.SandboxStatus) error {
	if reported == nil {
		return fmt.Errorf("no sandbox status")
	}
	if err := p.check(reported); err != nil {
		return fmt.Errorf("worker reports %w", err)
	}
	seen, err := readProcStatus(pid)
	if err != nil {
		return err
	}
	if err := p.check(seen); err != nil {
		return fmt.Errorf("/proc/%d/status shows %w", pid, err)
	}
	return nil
}

func (p sandboxPlan) check(s *ipcpb.SandboxStatus) error {
	switch {
	case s.GetCapEff() != 0 || s.GetCapPrm() != 0 || (s.GetCapBnd() != 0 && !p.keepBounding) || s.GetCapAmb() != 0:
		return fmt.Errorf("capabilities left: eff=%x prm=%x bnd=%x amb=%x", s.GetCapEff(), s.GetCapPrm(), s.GetCapBnd(), s.GetCapAmb())
	case !s.GetNoNewPrivs():
		return fmt.Errorf("no_new_privs not set")
	case s.GetSeccompMode() != 2:
		return fmt.Errorf("seccomp mode %d, want 2 (filter)", s.GetSeccompMode())
	case p.root && (int(s.GetUid()) != p.uid || int(s.GetGid()) != p.gid):
		return fmt.Errorf("uid %d gid %d, want %d %d", s.GetUid(), s.GetGid(), p.uid, p.gid)
	case s.GetUid() == 0:
		return fmt.Errorf("uid 0")
	}
	return nil
}

// readProcStatus reads the fields verify needs from /proc/<pid>/status.
func readProcStatus(pid int) (*ipcpb.SandboxStatus, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil, fmt.Errorf("read status of %d: %w", pid, err)
	}
	return parseProcStatus(data)
}

// parseProcStatus extracts uid, gid, capabilities, NoNewPrivs and Seccomp.
func parseProcStatus(data []byte) (*ipcpb.SandboxStatus, error) {
	s := &ipcpb.SandboxStatus{}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		var err error
		hex := func(dst *uint64) { *dst, err = strconv.ParseUint(fields[0], 16, 64); found++ }
		dec := func() uint32 {
			var v uint64
			v, err = strconv.ParseUint(fields[0], 10, 32)
			found++
			return uint32(v)
		}
		switch key {
		case "Uid":
			// Real, effective, saved, filesystem: all must be unprivileged,
			// so report the highest-privilege one (0 if any is 0).
			s.Uid = minField(fields)
			found++
		case "Gid":
			s.Gid = minField(fields)
			found++
		case "CapInh":
			hex(&s.CapInh)
		case "CapPrm":
			hex(&s.CapPrm)
		case "CapEff":
			hex(&s.CapEff)
		case "CapBnd":
			hex(&s.CapBnd)
		case "CapAmb":
			hex(&s.CapAmb)
		case "NoNewPrivs":
			s.NoNewPrivs = dec() == 1
		case "Seccomp":
			s.SeccompMode = dec()
		}
		if err != nil {
			return nil, fmt.Errorf("status field %s: %w", key, err)
		}
	}
	if found < 9 {
		return nil, fmt.Errorf("status: %d of 9 fields found", found)
	}
	return s, nil
}

func minField(fields []string) uint32 {
	lowest := uint64(1<<32 - 1)
	for _, f := range fields {
		v, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return 0
		}
		lowest = min(lowest, v)
	}
	return uint32(lowest)
}

// describeSandbox is the one-line summary logged when a worker is ready.
func describeSandbox(s *ipcpb.SandboxStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "uid=%d gid=%d caps=none no_new_privs=%v seccomp=%d (%d syscalls) chroot=%v",
		s.GetUid(), s.GetGid(), s.GetNoNewPrivs(), s.GetSeccompMode(), s.GetSyscallsAllowed(), s.GetChrooted())
	for _, n := range s.GetNotes() {
		b.WriteString("; " + n)
	}
	return b.String()
}
