package masterd

import (
	"errors"
	"fmt"
	"slices"
)

// The control socket's wire protocol (docs/operations.md), kept small
// enough to check by eye: the client sends one line, a verb and "\n", at
// most maxControlRequest bytes; the master answers "ok\n" or
// "error <why>\n", then the text for the operator, then closes the
// connection. The master reads no more than maxControlRequest bytes from
// a client, ever.

// maxControlRequest bounds a request line, newline included.
const maxControlRequest = 64

// Control verbs.
const (
	verbStatus = "status" // roles, pids, uptime, restarts, hardening
	verbLeases = "leases" // the DHCP lease table
	verbCache  = "cache"  // cache and query statistics (SIGUSR1's counters)
	verbDump   = "dump"   // the cache's records
	verbReload = "reload" // SIGHUP
)

// controlVerbs lists the verbs in help order.
var controlVerbs = []string{verbStatus, verbLeases, verbCache, verbDump, verbReload}

var (
	errRequestTooLong   = fmt.Errorf("request longer than %d bytes", maxControlRequest)
	errRequestNoNewline = errors.New("request does not end in a newline")
)

// parseControlRequest reads a request line: exactly one line, ending in
// "\n", holding one known verb (lower case letters only, nothing else).
// Everything a client sends passes here before the master acts on it.
func parseControlRequest(b []byte) (string, error) {
	if len(b) > maxControlRequest {
		return "", errRequestTooLong
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return "", errRequestNoNewline
	}
	line := b[:len(b)-1]
	for _, c := range line {
		if c < 'a' || c > 'z' {
			return "", fmt.Errorf("request %q: a verb is lower case letters only", line)
		}
	}
	verb := string(line)
	if !slices.Contains(controlVerbs, verb) {
		return "", fmt.Errorf("unknown verb %q (known: status, leases, cache, dump, reload)", verb)
	}
	return verb, nil
}

// peerCred is who is at the other end of a control connection, as the
// kernel reports it (SO_PEERCRED, SO_PEERGROUPS).
type peerCred struct {
	pid      int32
	uid, gid uint32
	groups   []uint32 // supplementary groups; nil when not known
}

// controlAccess is who may use the control socket: root always; the
// master's own user (a master that is not root: its user can signal it
// anyway); members of the control group, when one is configured.
type controlAccess struct {
	masterUID uint32
	group     uint32
	hasGroup  bool
}

// allow reports whether p may use the control socket, and why not.
func (a controlAccess) allow(p peerCred) error {
	if p.uid == 0 || p.uid == a.masterUID {
		return nil
	}
	if a.hasGroup && (p.gid == a.group || slices.Contains(p.groups, a.group)) {
		return nil
	}
	if a.hasGroup {
		return fmt.Errorf("uid %d (gid %d) is neither root nor in control-group %d", p.uid, p.gid, a.group)
	}
	return fmt.Errorf("uid %d is not root (no control-group is configured)", p.uid)
}
