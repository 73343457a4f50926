package seccomp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// procStatus is the part of /proc/<pid>/status the verification reads.
type procStatus struct {
	uids, gids                             [4]uint32 // real, effective, saved, filesystem
	capEff, capPrm, capBnd, capAmb, capInh uint64
	noNewPrivs                             bool
	seccomp                                uint32
}

// statusFields are the lines parseProcStatus requires.
var statusFields = []string{"Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"}

// parseProcStatus reads the lines it needs from /proc/<pid>/status; every
// one of them must be present exactly once and well-formed.
func parseProcStatus(b []byte) (procStatus, error) {
	var st procStatus
	seen := map[string]bool{}
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		key, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		k := string(key)
		v := strings.TrimSpace(string(val))
		var err error
		switch k {
		case "Uid":
			st.uids, err = parseIDs(v)
		case "Gid":
			st.gids, err = parseIDs(v)
		case "CapInh":
			st.capInh, err = parseCaps(v)
		case "CapPrm":
			st.capPrm, err = parseCaps(v)
		case "CapEff":
			st.capEff, err = parseCaps(v)
		case "CapBnd":
			st.capBnd, err = parseCaps(v)
		case "CapAmb":
			st.capAmb, err = parseCaps(v)
		case "NoNewPrivs":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 1)
			st.noNewPrivs = n == 1
		case "Seccomp":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 2)
			if err == nil && n > seccompModeFilter {
				err = fmt.Errorf("mode %d", n)
			}
			st.seccomp = uint32(n)
		default:
			continue
		}
		if err != nil {
			return procStatus{}, fmt.Errorf("proc status: %s: %w", k, err)
		}
		if seen[k] {
			return procStatus{}, fmt.Errorf("proc status: %s: repeated", k)
		}
		seen[k] = true
	}
	for _, k := range statusFields {
		if !seen[k] {
			return procStatus{}, fmt.Errorf("proc status: %s: missing", k)
		}
	}
	return st, nil
}

func parseIDs(v string) ([4]uint32, error) {
	var ids [4]uint32
	f := strings.Fields(v)
	if len(f) != 4 {
		return ids, fmt.Errorf("want 4 ids, got %q", v)
	}
	for i, s := range f {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return ids, err
		}
		ids[i] = uint32(n)
	}
	return ids, nil
}

func parseCaps(v string) (uint64, error) {
	if len(v) == 0 || len(v) > 16 {
		return 0, fmt.Errorf("capability mask %q", v)
	}
	return strconv.ParseUint(v, 16, 64)
}

// seccompModeFilter is the Seccomp: value of a process under a filter.
const seccompModeFilter = 2

// verify checks what the kernel reports against what Confine promised.
func verify(spec Spec, st procStatus) error {
	var errs []error
	for _, c := range []struct {
		name string
		v    uint64
	}{{"CapEff", st.capEff}, {"CapPrm", st.capPrm}, {"CapBnd", st.capBnd}, {"CapAmb", st.capAmb}, {"CapInh", st.capInh}} {
		if c.v != 0 && !(c.name == "CapBnd" && spec.KeepBoundingSet) {
			errs = append(errs, fmt.Errorf("%s is %016x, want 0", c.name, c.v))
		}
	}
	if !st.noNewPrivs {
		errs = append(errs, errors.New("NoNewPrivs is 0"))
	}
	if st.seccomp != seccompModeFilter {
		errs = append(errs, fmt.Errorf("mode (Seccomp:) is %d, want %d", st.seccomp, seccompModeFilter))
	}
	if spec.SwitchUser {
		for i, id := range st.uids {
			if id == 0 || id != uint32(spec.UID) {
				errs = append(errs, fmt.Errorf("uid[%d] is %d, want %d", i, id, spec.UID))
			}
		}
		for i, id := range st.gids {
			if id != uint32(spec.GID) {
				errs = append(errs, fmt.Errorf("gid[%d] is %d, want %d", i, id, spec.GID))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("seccomp: verify /proc/self/status: %w", err)
	}
	return nil
}

// readOwnStatus reads the confined process's /proc/self/status (opened
// before the confinement) and copies what it reports into st: the
// kernel's own word on identity, capabilities, no_new_privs and seccomp.
func readOwnStatus(statusFile *os.File, st *Status) (procStatus, error) {
	buf := make([]byte, 8192)
	n, err := statusFile.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return procStatus{}, fmt.Errorf("seccomp: read /proc/self/status: %w", err)
	}
	ps, err := parseProcStatus(buf[:n])
	if err != nil {
		return procStatus{}, fmt.Errorf("seccomp: %w", err)
	}
	st.UID, st.GID = ps.uids[1], ps.gids[1]
	st.CapEff, st.CapPrm, st.CapBnd, st.CapAmb, st.CapInh = ps.capEff, ps.capPrm, ps.capBnd, ps.capAmb, ps.capInh
	st.NoNewPrivs = ps.noNewPrivs
	st.SeccompMode = ps.seccomp
	return ps, nil
}
