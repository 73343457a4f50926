package masterd

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/seccomp"
)

// A worker killed by its seccomp filter (SECCOMP_RET_KILL_PROCESS) ends
// with SIGSYS, and the wait status says nothing more. The kernel does say
// which call it was: it writes an audit record of type 1326 (SECCOMP),
//
//	audit: type=1326 audit(...): ... pid=4142 comm="moatd-dnsd" ... sig=31 arch=c000003e syscall=306 compat=0 ip=0x408ace code=0x80000000
//
// for every kill-process action in kernel.seccomp.actions_logged (the
// default). Without an audit daemon the record goes to the kernel log,
// where the master (root; with dmesg_restrict, CAP_SYSLOG) reads it from
// /dev/kmsg. With auditd the record is in the audit log instead, and
// printk's rate limit may drop it; the report then says the call is
// unknown and where to look. The filter keeps killing the process: a trap
// (SIGSYS to a handler) would let a compromised worker carry on.

// kmsgPath is the kernel log device.
const kmsgPath = "/dev/kmsg"

// Bounds of one look-up: the record travels through the kernel's audit
// thread, so it may appear a moment after the wait returned.
const (
	kmsgWait       = 2 * time.Second
	kmsgPoll       = 50 * time.Millisecond
	kmsgMaxRecords = 200000 // records read in one look-up, whatever the buffer holds
	kmsgMaxAge     = 2 * time.Minute
	kmsgRecordSize = 8192 // a read shorter than a record fails with EINVAL
)

// auditTypeSeccomp is AUDIT_SECCOMP.
const auditTypeSeccomp = "type=1326"

// seccompKill is what the kernel's record says about one kill.
type seccompKill struct {
	pid    int
	arch   uint32
	nr     uint32
	signal int
	ts     time.Duration // kernel log time stamp (since boot)
}

// name is the call's name on this architecture, or "" when the record is
// for another ABI (a 32-bit call on amd64) or the number is unknown.
func (k seccompKill) name() string {
	if k.arch != seccomp.AuditArch() {
		return ""
	}
	return seccomp.SyscallName(k.nr)
}

// parseKmsgSeccomp reads one /dev/kmsg record ("pri,seq,usec,flags;text"
// and optional continuation lines) and reports whether it is a seccomp
// audit record.
func parseKmsgSeccomp(rec []byte) (seccompKill, bool) {
	var k seccompKill
	semi := bytes.IndexByte(rec, ';')
	if semi < 0 {
		return k, false
	}
	head, text := rec[:semi], rec[semi+1:]
	if nl := bytes.IndexByte(text, '\n'); nl >= 0 {
		text = text[:nl]
	}
	if !bytes.Contains(text, []byte(auditTypeSeccomp+" ")) {
		return k, false
	}
	hf := bytes.Split(head, []byte(","))
	if len(hf) >= 3 {
		if us, err := strconv.ParseUint(string(hf[2]), 10, 63); err == nil {
			k.ts = time.Duration(us) * time.Microsecond
		}
	}
	var havePID, haveNR bool
	for _, f := range bytes.Fields(text) {
		key, val, ok := bytes.Cut(f, []byte("="))
		if !ok {
			continue
		}
		switch string(key) {
		case "pid":
			n, err := strconv.Atoi(string(val))
			havePID = err == nil && n > 0
			k.pid = n
		case "syscall":
			n, err := strconv.ParseUint(string(val), 10, 32)
			haveNR = err == nil
			k.nr = uint32(n)
		case "arch":
			n, _ := strconv.ParseUint(string(val), 16, 32)
			k.arch = uint32(n)
		case "sig":
			k.signal, _ = strconv.Atoi(string(val))
		}
	}
	return k, havePID && haveNR
}

// findSeccompKill looks in the kernel log for the record of pid's kill,
// waiting up to wait for it to appear. why says what stopped the search.
func findSeccompKill(path string, pid int, wait time.Duration) (k seccompKill, found bool, why string) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return k, false, fmt.Sprintf("cannot read the kernel log: %v", err)
	}
	defer unix.Close(fd)
	var now unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
	oldest := time.Duration(now.Nano()) - kmsgMaxAge
	buf := make([]byte, kmsgRecordSize)
	deadline := time.Now().Add(wait)
	read := 0
	for {
		for read < kmsgMaxRecords {
			n, err := unix.Read(fd, buf)
			if errors.Is(err, syscall.EPIPE) {
				// Records were overwritten under us; go on with the next.
				// Counted, so that a printk flood cannot keep us here.
				read++
				continue
			}
			if err != nil || n <= 0 {
				break // EAGAIN: nothing more for now
			}
			read++
			if r, ok := parseKmsgSeccomp(buf[:n]); ok && r.pid == pid && r.ts >= oldest {
				k, found = r, true // keep reading: the latest record wins
			}
		}
		if found {
			return k, true, ""
		}
		if read >= kmsgMaxRecords || time.Now().After(deadline) {
			return k, false, "no seccomp audit record for the pid in the kernel log (auditd may hold it: ausearch -m SECCOMP -p " + strconv.Itoa(pid) + "; or printk's rate limit dropped it)"
		}
		time.Sleep(kmsgPoll)
	}
}

// reportSeccompKill logs a worker killed by seccomp, with the call that
// killed it when the kernel log says.
func (l *logger) reportSeccompKill(role string, pid int) {
	k, found, why := findSeccompKill(kmsgPath, pid, kmsgWait)
	if !found {
		l.auditEvent(auditSeccompKill, role, pid, "syscall", "unknown", "source", "none", "why", why)
		l.printf(auditRoleMaster, "%s[%d] killed by seccomp; system call unknown: %s", role, pid, why)
		return
	}
	name := k.name()
	shown := name
	if shown == "" {
		shown = "unknown"
	}
	l.auditEvent(auditSeccompKill, role, pid, "syscall", shown, "nr", k.nr, "arch", fmt.Sprintf("%x", k.arch), "source", "kmsg")
	l.printf(auditRoleMaster, "%s[%d] killed by seccomp: system call %s (%d, arch %x) is not in its allow-list (docs/policy.md)", role, pid, shown, k.nr, k.arch)
}
