package masterd

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/leases"
	"github.com/moatdns/moat/internal/testutil"
	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/seccomp"
)

func TestFormatAudit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		event string
		role  string
		pid   int
		kv    []any
		want  string
	}{
		{"bare values", auditSocketOpen, "master", 123, []any{"kind", "dns-udp", "addr", "0.0.0.0:53", "fd", 7},
			"audit: event=socket-open role=master pid=123 kind=dns-udp addr=0.0.0.0:53 fd=7"},
		{"blank is quoted", auditViolation, "dnsd", 9, []any{"what", "unexpected Hello after Ready"},
			`audit: event=protocol-violation role=dnsd pid=9 what="unexpected Hello after Ready"`},
		{"quote, backslash, equals, empty", auditWorkerExit, "dhcpd", 1, []any{"a", `say "hi"`, "b", `c:\x`, "c", "k=v", "d", ""},
			`audit: event=worker-exit role=dhcpd pid=1 a="say \"hi\"" b="c:\\x" c="k=v" d=""`},
		{"control and non-ASCII", auditScriptRun, "dhcp-script", 2, []any{"x", "a\nb", "y", "é"},
			`audit: event=script-run role=dhcp-script pid=2 x="a\nb" y="é"`},
		{"odd kv", auditBPFLoad, "master", 3, []any{"object"},
			"audit: event=bpf-load role=master pid=3 object=!missing"},
		{"bad key", auditLeaseWrite, "master", 4, []any{"Bad Key", 1},
			"audit: event=lease-write role=master pid=4 bad-key=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := formatAudit(tc.event, tc.role, tc.pid, tc.kv...)
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			r, err := parseAudit("Nov 21 12:00:00 moatd[1]: master[1]: " + got)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if r.event != tc.event || r.role != tc.role || r.pid != tc.pid {
				t.Errorf("parsed %+v", r)
			}
			for i := 0; i+1 < len(tc.kv); i += 2 {
				k := auditKey(fmt.Sprint(tc.kv[i]))
				if v := r.get(k); v != fmt.Sprint(tc.kv[i+1]) {
					t.Errorf("%s = %q, want %q", k, v, tc.kv[i+1])
				}
			}
		})
	}
}

func TestParseAuditRejects(t *testing.T) {
	for _, line := range []string{
		"no record here",
		"audit: ",
		"audit: event=x role=y",
		"audit: role=y event=x pid=1",
		"audit: event=x role=y pid=-1",
		"audit: event=x role=y pid=1 k",
		`audit: event=x role=y pid=1 k="unterminated`,
		"audit: event=x role=y pid=1 k=v  k2=v",
		"audit: event=x role=y pid=1 K=v",
		"audit: event=x role=y pid=1 k=",
		"audit: event=x role=y pid=1 k=v ",
		"audit: event=x role=y pid=1" + strings.Repeat(" k=v", auditMaxFieldsInRec),
	} {
		if r, err := parseAudit(line); err == nil {
			t.Errorf("parseAudit(%q) = %+v, want an error", line, r)
		}
	}
}

// FuzzParseAudit: whatever parses re-formats to the same record, and
// whatever formatAudit writes parses back.
func FuzzParseAudit(f *testing.F) {
	f.Add("audit: event=socket-open role=master pid=123 kind=dns-udp addr=0.0.0.0:53 fd=7", "x y")
	f.Add(`audit: event=worker-exit role=dnsd pid=9 reason="closed its IPC connection" status="killed by seccomp (SIGSYS)"`, `"q"`)
	f.Add("audit: event=a role=b pid=0", "")
	f.Fuzz(func(t *testing.T, line, value string) {
		if r, err := parseAudit(line); err == nil {
			kv := make([]any, 0, 2*len(r.fields))
			for _, fl := range r.fields {
				kv = append(kv, fl.key, fl.value)
			}
			again, err := parseAudit(formatAudit(r.event, r.role, r.pid, kv...))
			if err != nil {
				t.Fatalf("re-format of %q does not parse: %v", line, err)
			}
			if fmt.Sprint(again) != fmt.Sprint(r) {
				t.Fatalf("round trip changed %+v to %+v", r, again)
			}
		}
		rec := formatAudit("e", "r", 1, "v", value)
		r, err := parseAudit(rec)
		if err != nil {
			t.Fatalf("%q does not parse: %v", rec, err)
		}
		if r.get("v") != value {
			t.Fatalf("value %q came back as %q", value, r.get("v"))
		}
	})
}

func TestParseKmsgSeccomp(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  string
		ok   bool
		want seccompKill
	}{
		{"amd64 record", `5,2321,19733750085,-;audit: type=1326 audit(1795261748.383:2321): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=4142 comm="exe" exe="/tmp/ptest/p" sig=31 arch=c000003e syscall=306 compat=0 ip=0x408ace code=0x80000000` + "\n SUBSYSTEM=x\n",
			true, seccompKill{pid: 4142, arch: 0xc000003e, nr: 306, signal: 31, ts: 19733750085 * time.Microsecond}},
		{"other type", `5,1,2,-;audit: type=1400 pid=12 syscall=1`, false, seccompKill{}},
		{"no pid", `5,1,2,-;audit: type=1326 syscall=1`, false, seccompKill{}},
		{"no header", `audit: type=1326 pid=1 syscall=1`, false, seccompKill{}},
		{"ppid is not pid", `5,1,2,-;audit: type=1326 ppid=7 syscall=1`, false, seccompKill{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseKmsgSeccomp([]byte(tc.rec))
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestFindSeccompKillInKernelLog writes a record of the audit format into
// the real kernel log and finds it there by pid, as the master does after
// a SIGSYS.
func TestFindSeccompKillInKernelLog(t *testing.T) {
	testutil.RequireRoot(t, "writing to and reading /dev/kmsg")
	pid := 4_000_000 + os.Getpid()%100_000 // above any pid_max: no real process
	nr := uint32(306)
	if seccomp.SyscallName(nr) == "" {
		t.Fatalf("no name for %d on %s", nr, seccomp.ArchName())
	}
	msg := fmt.Sprintf("audit: type=1326 audit(0.0:0): auid=4294967295 uid=65534 gid=65534 ses=4294967295 pid=%d comm=\"moatd-test\" sig=31 arch=%x syscall=%d compat=0 ip=0x0 code=0x80000000\n", pid, seccomp.AuditArch(), nr)
	if err := os.WriteFile(kmsgPath, []byte(msg), 0); err != nil {
		t.Fatalf("write %s: %v", kmsgPath, err)
	}
	k, found, why := findSeccompKill(kmsgPath, pid, 5*time.Second)
	if !found {
		t.Fatalf("record not found: %s", why)
	}
	if k.nr != nr || k.name() != seccomp.SyscallName(nr) {
		t.Errorf("found %+v (%q)", k, k.name())
	}
	if _, found, why := findSeccompKill(kmsgPath, pid+1, 100*time.Millisecond); found || !strings.Contains(why, "ausearch") {
		t.Errorf("pid+1: found %v, why %q", found, why)
	}
	if _, found, why := findSeccompKill("/nonexistent/kmsg", pid, time.Millisecond); found || !strings.Contains(why, "cannot read") {
		t.Errorf("no device: found %v, why %q", found, why)
	}
}

func TestCrashCount(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	var c crashCount
	at := t0
	for i := 1; i <= 3; i++ {
		n, _ := c.died(at, at.Add(time.Second))
		if n != i {
			t.Fatalf("crash %d counted as %d", i, n)
		}
		at = at.Add(2 * time.Second)
	}
	// A healthy run starts the count over.
	n, over := c.died(at, at.Add(healthyRun))
	if n != 1 || over != healthyRun {
		t.Errorf("after a healthy run: %d crashes over %v, want 1 over %v", n, over, healthyRun)
	}
	n, over = c.died(at.Add(healthyRun+time.Second), at.Add(healthyRun+2*time.Second))
	if n != 2 || over != healthyRun+2*time.Second {
		t.Errorf("next crash: %d over %v", n, over)
	}
}

// TestAuditEventsNamed: every event constant is documented for
// docs/policy.md, once.
func TestAuditEventsNamed(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range auditEventDocs {
		if seen[e.event] {
			t.Errorf("%s documented twice", e.event)
		}
		seen[e.event] = true
		if auditKey(e.event) != e.event {
			t.Errorf("event %q is not a key-like word", e.event)
		}
	}
	for _, e := range []string{auditSocketOpen, auditSocketClose, auditBPFLoad, auditWorkerSpawn, auditWorkerExit,
		auditWorkerGiveUp, auditViolation, auditSeccompKill, auditLeaseWrite, auditScriptRun} {
		if !seen[e] {
			t.Errorf("event %s not documented", e)
		}
	}
}

// TestAuditHelpers: the records the call sites write, as an audit
// pipeline reads them.
func TestAuditHelpers(t *testing.T) {
	buf := &testutil.SyncBuffer{}
	l := &logger{w: buf, pid: os.Getpid()}
	l.auditLeaseCommit(7, []leases.Record{
		leases.PutRecord(leases.Lease{Addr: netip.MustParseAddr("192.0.2.5")}),
		leases.DeleteRecord(netip.MustParseAddr("192.0.2.6")),
	})
	l.auditLeaseExpiry(nil) // nothing expired: no record
	l.auditLeaseExpiry([]leases.Lease{{Addr: netip.MustParseAddr("192.0.2.7")}})
	l.auditSockets(auditSocketOpen, []openSocket{{desc: &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DNS_UDP, Address: "[::1]:53", Pktinfo: true}}})
	l.auditSockets(auditSocketClose, []openSocket{{desc: &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DHCP_PACKET, Interface: "eth 0"}}})
	l.auditSpawn("dnsd", 42, 65534, "chroot", "/run/moatd/empty")
	l.auditViolationOf("dhcpd", 43, `bad "name"`)
	me := strconv.Itoa(os.Getpid())
	want := []string{
		"event=lease-write role=master pid=" + me + " commit=7 records=2 addrs=192.0.2.5,-192.0.2.6",
		"event=lease-write role=master pid=" + me + " expiry=yes records=1 addrs=-192.0.2.7",
		"event=socket-open role=master pid=" + me + " kind=dns-udp addr=[::1]:53 pktinfo=yes",
		"event=socket-close role=master pid=" + me + ` kind=dhcp-packet interface="eth 0"`,
		"event=worker-spawn role=dnsd pid=42 uid=65534 chroot=/run/moatd/empty",
		`event=protocol-violation role=dhcpd pid=43 what="bad \"name\""`,
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, line := range lines {
		_, rec, _ := strings.Cut(line, auditPrefix)
		if rec != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, rec, want[i])
		}
		if _, err := parseAudit(line); err != nil {
			t.Errorf("line %d does not parse: %v", i, err)
		}
	}
}

// FuzzParseKmsgSeccomp: the kernel log holds text others wrote; the
// parser must not panic, and what it accepts has a pid and a call.
func FuzzParseKmsgSeccomp(f *testing.F) {
	f.Add([]byte(`5,2321,19733750085,-;audit: type=1326 audit(1795261748.383:2321): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=4142 comm="exe" sig=31 arch=c000003e syscall=306 compat=0 ip=0x408ace code=0x80000000`))
	f.Add([]byte("6,1,2,-;audit: type=1326 pid=1 syscall=x\n K=V\n"))
	f.Add([]byte(";;;"))
	f.Fuzz(func(t *testing.T, rec []byte) {
		k, ok := parseKmsgSeccomp(rec)
		if ok && k.pid <= 0 {
			t.Fatalf("accepted %q with pid %d", rec, k.pid)
		}
	})
}
