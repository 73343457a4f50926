package seccomp

import (
	"fmt"
	"sort"
	"strings"
)

// The allow-lists are written the way OpenBSD users think about pledge(2):
// every promise (a named set of system calls, with the argument checks
// seccomp can make and pledge cannot: socket families and types,
// setsockopt options, fcntl commands, prctl options, clone flags) is
// defined once, in the policy_*.go file of its topic, and registered in
// promiseTable; a role's allow-list is a pledge line naming its promises.
// Adding a system call to a role means adding it to the promise it
// belongs to (every role holding that promise gets it) or giving the role
// a further promise.

// promiseTable is every promise by name.
var promiseTable = indexPromises(
	promiseRuntime, promiseStdio, promiseNoFiles, promiseRecvFD, promiseSockIO,
	promiseDNSInet, promiseDNSSockopts, promiseBPFMaps,
	promiseDHCPSockopts,
	promiseScriptDeny,
)

// rolePledges is the role table: each worker role's pledge line. The
// order of the promises is the order in which the filter tries the rules
// of a system call that two promises share.
var rolePledges = map[string]string{
	"dnsd":  dnsdPledge,
	"dhcpd": dhcpdPledge,
}

func indexPromises(ps ...Promise) map[string]Promise {
	t := make(map[string]Promise, len(ps))
	for _, p := range ps {
		if _, dup := t[p.Name]; dup || p.Name == "" || strings.ContainsAny(p.Name, " \t") {
			panic("seccomp: promise name " + p.Name + " is empty, has a blank, or is defined twice")
		}
		t[p.Name] = p
	}
	return t
}

// resolvePledge turns a pledge line into its promises; an unknown or
// repeated name is an error.
func resolvePledge(line string) ([]Promise, error) {
	names := strings.Fields(line)
	if len(names) == 0 {
		return nil, fmt.Errorf("seccomp: empty pledge line")
	}
	out := make([]Promise, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		p, ok := promiseTable[n]
		if !ok {
			return nil, fmt.Errorf("seccomp: pledge %q: no promise %q (have %s)", line, n, strings.Join(PromiseNames(), " "))
		}
		if seen[n] {
			return nil, fmt.Errorf("seccomp: pledge %q: promise %q named twice", line, n)
		}
		seen[n] = true
		out = append(out, p)
	}
	return out, nil
}

// Pledge returns a role's pledge line: the names of the promises its
// allow-list is made of (the dhcp-script helper's deny-list included).
func Pledge(role string) (string, error) {
	if role == ScriptRole {
		return scriptPledge, nil
	}
	line, ok := rolePledges[role]
	if !ok {
		return "", fmt.Errorf("seccomp: no allow-list for role %q (have %s)", role, strings.Join(Roles(), ", "))
	}
	return line, nil
}

// PromiseNames lists every defined promise, sorted.
func PromiseNames() []string {
	out := make([]string, 0, len(promiseTable))
	for n := range promiseTable {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// PromiseNamed returns the promise of that name.
func PromiseNamed(name string) (Promise, bool) {
	p, ok := promiseTable[name]
	return p, ok
}
