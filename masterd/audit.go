package masterd

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/moatdns/moat/internal/leases"
	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/sockfilter"
)

// The audit log. Every privileged act of the master (a socket opened or
// closed, an eBPF program loaded, a process spawned, a lease written, a
// dhcp-script event run) and every worker's end, protocol violation and
// seccomp kill is logged exactly once, as one line in a stable format an
// audit pipeline can parse without knowing moat:
//
//	audit: event=<event> role=<role> pid=<pid> key=value ...
//
// role and pid name the process the record is about: the master itself
// for what it opens and writes, the worker for what happens to a worker.
// Keys are lower-case words with dashes; a value is written bare when it
// is a non-empty run of printable ASCII without blanks, quotes,
// backslashes or '=', and otherwise as a Go (strconv.Quote) string.
// Records go through the ordinary log (stderr, log-facility file or
// syslog), prefixed as every line is; parseAudit reads the part from
// "audit:" on. The events and their keys are listed in docs/policy.md
// (from auditEventDocs, printpolicy.go); new keys may be added, existing
// ones keep their meaning.
const auditPrefix = "audit: "

// The audit events.
const (
	auditSocketOpen   = "socket-open"        // kind addr interface pktinfo fd
	auditSocketClose  = "socket-close"       // kind addr interface
	auditBPFLoad      = "bpf-load"           // object type fd
	auditWorkerSpawn  = "worker-spawn"       // uid, chroot or keep-root
	auditWorkerExit   = "worker-exit"        // reason status
	auditWorkerGiveUp = "worker-give-up"     // crashes over healthy-run
	auditViolation    = "protocol-violation" // what
	auditSeccompKill  = "seccomp-kill"       // syscall nr arch source
	auditLeaseWrite   = "lease-write"        // commit or expiry, records, addrs
	auditScriptRun    = "script-run"         // action addr
	// The control socket: a refused peer, and a reload asked for (a
	// change of the running service).
	auditControlRefused = "control-refused" // peer-pid peer-uid reason
	auditControlReload  = "control-reload"  // peer-pid peer-uid
)

const (
	auditRoleMaster     = "master"
	auditMissingValue   = "!missing" // a key the caller gave no value
	auditMaxFieldsInRec = 32         // parseAudit's bound on one record
)

// formatAudit renders one record. kv holds keys and values in turn;
// values are printed with fmt.Sprint.
func formatAudit(event, role string, pid int, kv ...any) string {
	var b strings.Builder
	b.WriteString(auditPrefix)
	b.WriteString("event=")
	b.WriteString(auditValue(event))
	b.WriteString(" role=")
	b.WriteString(auditValue(role))
	b.WriteString(" pid=")
	b.WriteString(strconv.Itoa(pid))
	for i := 0; i < len(kv); i += 2 {
		key := auditKey(fmt.Sprint(kv[i]))
		val := auditMissingValue
		if i+1 < len(kv) {
			val = fmt.Sprint(kv[i+1])
		}
		b.WriteByte(' ')
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(auditValue(val))
	}
	return b.String()
}

// auditKey keeps a key parseable whatever the caller passed: anything but
// lower-case letters, digits and '-' becomes '-' (after lower-casing).
func auditKey(k string) string {
	if k == "" {
		return "-"
	}
	out := []byte(strings.ToLower(k))
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			out[i] = '-'
		}
	}
	return string(out)
}

// auditValue writes v bare when that is unambiguous, quoted otherwise.
func auditValue(v string) string {
	if v == "" {
		return `""`
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=' {
			return strconv.Quote(v)
		}
	}
	return v
}

// auditField is one key=value of a parsed record.
type auditField struct{ key, value string }

// auditRecord is a parsed audit line.
type auditRecord struct {
	event, role string
	pid         int
	fields      []auditField // after event, role and pid, in order
}

// get returns the value of key, "" when absent.
func (r auditRecord) get(key string) string {
	for _, f := range r.fields {
		if f.key == key {
			return f.value
		}
	}
	return ""
}

// parseAudit reads a record from a log line: everything before "audit: "
// (the log's own prefix) is skipped.
func parseAudit(line string) (auditRecord, error) {
	var r auditRecord
	i := strings.Index(line, auditPrefix)
	if i < 0 {
		return r, errors.New("audit: no \"audit: \" in line")
	}
	rest := line[i+len(auditPrefix):]
	var fields []auditField
	for rest != "" {
		if len(fields) == auditMaxFieldsInRec {
			return r, fmt.Errorf("audit: more than %d fields", auditMaxFieldsInRec)
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return r, fmt.Errorf("audit: field %d: no key=value in %q", len(fields), rest)
		}
		key := rest[:eq]
		if auditKey(key) != key {
			return r, fmt.Errorf("audit: field %d: bad key %q", len(fields), key)
		}
		rest = rest[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return r, fmt.Errorf("audit: %s: bad quoted value: %w", key, err)
			}
			val, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			end := strings.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			val = rest[:end]
			if val == "" || auditValue(val) != val {
				return r, fmt.Errorf("audit: %s: bad bare value %q", key, val)
			}
			rest = rest[end:]
		}
		fields = append(fields, auditField{key, val})
		if rest == "" {
			break
		}
		if rest[0] != ' ' || len(rest) == 1 {
			return r, fmt.Errorf("audit: after %s: want one blank, have %q", key, rest)
		}
		rest = rest[1:]
	}
	if len(fields) < 3 || fields[0].key != "event" || fields[1].key != "role" || fields[2].key != "pid" {
		return r, errors.New("audit: record does not start with event=, role=, pid=")
	}
	pid, err := strconv.Atoi(fields[2].value)
	if err != nil || pid < 0 {
		return r, fmt.Errorf("audit: pid %q", fields[2].value)
	}
	if !utf8.ValidString(fields[0].value) || !utf8.ValidString(fields[1].value) {
		return r, errors.New("audit: event or role not UTF-8")
	}
	r.event, r.role, r.pid, r.fields = fields[0].value, fields[1].value, pid, fields[3:]
	return r, nil
}

// auditEvent logs one record.
func (l *logger) auditEvent(event, role string, pid int, kv ...any) {
	l.line(auditRoleMaster, os.Getpid(), formatAudit(event, role, pid, kv...))
}

// auditMaster logs a privileged act of the master itself.
func (l *logger) auditMaster(event string, kv ...any) {
	l.auditEvent(event, auditRoleMaster, os.Getpid(), kv...)
}

// auditSockets logs the opening (or closing) of each socket.
func (l *logger) auditSockets(event string, socks []openSocket) {
	for _, s := range socks {
		kv := []any{"kind", socketKindName(s.desc.GetKind())}
		if a := s.desc.GetAddress(); a != "" {
			kv = append(kv, "addr", a)
		}
		if ifc := s.desc.GetInterface(); ifc != "" {
			kv = append(kv, "interface", ifc)
		}
		if event == auditSocketOpen {
			if s.desc.GetPktinfo() {
				kv = append(kv, "pktinfo", "yes")
			}
			if s.file != nil {
				kv = append(kv, "fd", s.file.Fd())
			}
		}
		l.auditMaster(event, kv...)
	}
}

// closeSockets closes sockets the master stops serving while it runs
// (an interface gone), with a socket-close record for each; sockets
// closed at exit are not recorded.
func (l *logger) closeSockets(socks []openSocket) {
	l.auditSockets(auditSocketClose, socks)
	closeSockets(socks)
}

// socketKindName is the proto enum name without its prefix, lower case:
// KIND_DNS_UDP is "dns-udp".
func socketKindName(k ipcpb.Socket_Kind) string {
	n := strings.TrimPrefix(k.String(), "KIND_")
	return strings.ToLower(strings.ReplaceAll(n, "_", "-"))
}

// auditSocketFilters logs the eBPF objects the master loaded; the
// classic filter needs no privilege and is not a privileged act.
func (l *logger) auditSocketFilters(f *socketFilters) {
	if f == nil || f.active != sockfilter.ActiveEBPF || f.objs == nil {
		return
	}
	o := f.objs
	for _, obj := range []struct {
		name, typ string
		fd        int
	}{
		{"upstream", "program", o.Upstream.FD()},
		{"listener", "program", o.Listener.FD()},
		{"expect", "map", o.Expect.FD()},
		{"expect-set", "map", o.ExpectSet.FD()},
		{"counters", "map", o.Counters.FD()},
	} {
		l.auditMaster(auditBPFLoad, "object", obj.name, "type", obj.typ, "fd", obj.fd)
	}
}

// auditSpawn logs a worker (or the script helper) started.
func (l *logger) auditSpawn(role string, pid, uid int, kv ...any) {
	l.auditEvent(auditWorkerSpawn, role, pid, append([]any{"uid", uid}, kv...)...)
}

// auditViolationOf logs a worker's protocol violation.
func (l *logger) auditViolationOf(role string, pid int, what string) {
	l.auditEvent(auditViolation, role, pid, "what", what)
}

// auditLeaseCommit logs a lease commit made durable: its id, how many
// records, and their addresses (a deletion marked with a leading '-').
func (l *logger) auditLeaseCommit(id uint64, recs []leases.Record) {
	addrs := make([]string, len(recs))
	for i, r := range recs {
		addrs[i] = r.Lease.Addr.String()
		if r.Delete {
			addrs[i] = "-" + addrs[i]
		}
	}
	l.auditMaster(auditLeaseWrite, "commit", id, "records", len(recs), "addrs", strings.Join(addrs, ","))
}

// auditLeaseExpiry logs expired leases removed from the journal, if any.
func (l *logger) auditLeaseExpiry(gone []leases.Lease) {
	if len(gone) == 0 {
		return
	}
	addrs := make([]string, len(gone))
	for i, g := range gone {
		addrs[i] = "-" + g.Addr.String()
	}
	l.auditMaster(auditLeaseWrite, "expiry", "yes", "records", len(gone), "addrs", strings.Join(addrs, ","))
}
