package test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// auditRecord is one "audit: event=... role=... pid=..." log line.
type auditRecord struct {
	line   string
	fields map[string]string
}

var auditField = regexp.MustCompile(`([a-z0-9-]+)=("(?:[^"\\]|\\.)*"|[^ ]+)`)

// auditRecords reads the audit records out of moatd's log, failing the
// test on a line that does not follow the format.
func auditRecords(t *testing.T, log string) []auditRecord {
	t.Helper()
	var out []auditRecord
	for _, line := range strings.Split(log, "\n") {
		_, rec, ok := strings.Cut(line, "audit: ")
		if !ok {
			continue
		}
		r := auditRecord{line: rec, fields: map[string]string{}}
		rest := rec
		for _, m := range auditField.FindAllStringSubmatchIndex(rec, -1) {
			key, val := rec[m[2]:m[3]], rec[m[4]:m[5]]
			if strings.HasPrefix(val, `"`) {
				uq, err := strconv.Unquote(val)
				if err != nil {
					t.Errorf("audit line %q: value %s: %v", rec, val, err)
				}
				val = uq
			}
			if _, dup := r.fields[key]; dup {
				t.Errorf("audit line %q: key %s twice", rec, key)
			}
			r.fields[key] = val
			rest = strings.Replace(rest, rec[m[0]:m[1]], "", 1)
		}
		if strings.TrimSpace(rest) != "" || !strings.HasPrefix(rec, "event=") {
			t.Errorf("audit line %q does not follow the format (left over: %q)", rec, rest)
		}
		for _, k := range []string{"event", "role", "pid"} {
			if r.fields[k] == "" {
				t.Errorf("audit line %q has no %s", rec, k)
			}
		}
		out = append(out, r)
	}
	return out
}

// find returns the records of event whose fields include want.
func findAudit(recs []auditRecord, event string, want map[string]string) []auditRecord {
	var out []auditRecord
next:
	for _, r := range recs {
		if r.fields["event"] != event {
			continue
		}
		for k, v := range want {
			if r.fields[k] != v {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// TestAuditLog: starting moatd with DNS, DHCP and a dhcp-script logs
// each privileged act once in the audit format (sockets opened, eBPF
// objects loaded, workers spawned), and a lease commit and the script
// call it causes are audited. (A real seccomp kill needs a worker that
// makes a forbidden call: masterd's TestSupervisorReportsSeccompKill. A
// SIGSYS sent from outside is caught by the Go runtime, not a kill.)
func TestAuditLog(t *testing.T) {
	l := newDHCPLink(t)
	// DNS binds the interface's addresses too; a link-local IPv6 address
	// still in duplicate address detection cannot be bound.
	run(t, "ip", "netns", "exec", l.srv.name, "sysctl", "-q", "-w", "net.ipv6.conf."+l.srvIf+".disable_ipv6=1")
	dir, err := os.MkdirTemp("", "moat-e2e-audit-") // t.TempDir's parent is closed to nobody, who runs the script
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("%IF%", l.srvIf, "%LEASES%", t.TempDir()).Replace(
		"listen-address=192.0.2.1\nno-resolv\nno-hosts\n" + strings.Replace(dhcpConf, "port=0\n", "", 1) + "dhcp-script=" + script + "\n")
	m := startMoatd(t, l.srv, conf, nil)
	m.waitReady(t)
	waitFor(t, 10*time.Second, "dhcp-script helper ready", func() bool { return strings.Contains(m.out.String(), "dhcp-script[") })
	workers := m.workers(t)
	masterPid := strconv.Itoa(m.cmd.Process.Pid)

	addr := l.udhcpc(t)
	waitFor(t, 10*time.Second, "the script-run record", func() bool {
		return strings.Contains(m.out.String(), "event=script-run role=dhcp-script") &&
			strings.Contains(m.out.String(), "addr="+addr.String())
	})

	recs := auditRecords(t, m.out.String())
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.line] {
			t.Errorf("audit record logged twice: %s", r.line)
		}
		seen[r.line] = true
	}
	for _, want := range []struct {
		event  string
		fields map[string]string
		many   bool // several sockets per address (SO_REUSEPORT), each its own record
	}{
		{"socket-open", map[string]string{"role": "master", "pid": masterPid, "kind": "dns-udp", "addr": "192.0.2.1:53"}, true},
		{"socket-open", map[string]string{"role": "master", "pid": masterPid, "kind": "dns-tcp", "addr": "192.0.2.1:53"}, true},
		{"socket-open", map[string]string{"role": "master", "kind": "dhcp-udp", "interface": l.srvIf}, false},
		{"socket-open", map[string]string{"role": "master", "kind": "dhcp-packet", "interface": l.srvIf}, false},
		{"worker-spawn", map[string]string{"role": "dnsd", "pid": strconv.Itoa(workers["dnsd"])}, false},
		{"worker-spawn", map[string]string{"role": "dhcpd", "pid": strconv.Itoa(workers["dhcpd"])}, false},
		{"worker-spawn", map[string]string{"role": "dhcp-script", "pid": strconv.Itoa(workers["dhcp-script"])}, false},
		{"lease-write", map[string]string{"role": "master", "pid": masterPid, "addrs": addr.String()}, false},
		{"script-run", map[string]string{"role": "dhcp-script", "action": "add", "addr": addr.String()}, false},
	} {
		got := findAudit(recs, want.event, want.fields)
		if len(got) == 0 || len(got) > 1 && !want.many {
			t.Errorf("%d %s records with %v, want 1", len(got), want.event, want.fields)
		}
	}
	if strings.Contains(m.out.String(), "socket filters: mode auto: eBPF") {
		if got := findAudit(recs, "bpf-load", map[string]string{"object": "upstream", "type": "program"}); len(got) != 1 {
			t.Errorf("eBPF is active but %d bpf-load records for the upstream program", len(got))
		}
	}
}
