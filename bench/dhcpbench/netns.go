package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// The link's addresses: 198.18.0.0/15 is set aside for benchmarks (RFC
// 2544) and never leaves the two namespaces.
const (
	serverAddr = "198.18.0.1"
	clientAddr = "198.18.0.2"
	prefixLen  = 15
	poolStart  = "198.18.1.0"
	poolEnd    = "198.19.255.254"
	netmask    = "255.254.0.0"
	serverMAC  = "02:00:c6:12:00:01"
	clientMAC  = "02:00:c6:12:00:02"
)

// link is the server namespace and the client namespace joined by a
// veth pair.
type link struct {
	srvNS, cliNS string
	srvIf, cliIf string
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func newLink() (*link, error) {
	tag := strconv.Itoa(os.Getpid())
	l := &link{srvNS: "dhcpbench-srv-" + tag, cliNS: "dhcpbench-cli-" + tag, srvIf: "dbs" + tag, cliIf: "dbc" + tag}
	if len(l.srvIf) > 15 {
		l.srvIf, l.cliIf = l.srvIf[:15], l.cliIf[:15]
	}
	// The server's end does no ARP: the ping check probes thousands of
	// addresses nobody has, and unanswered ARP entries would fill the
	// kernel's neighbour table (1024 entries, shared by every namespace),
	// after which probes cannot be sent at all and moat offers without
	// waiting. Without ARP, probes leave at once (to a MAC nobody has)
	// and go unanswered, as on a network where the addresses are free.
	// Each end knows the other's MAC from a permanent entry instead.
	steps := [][]string{
		{"netns", "add", l.srvNS},
		{"netns", "add", l.cliNS},
		{"link", "add", l.srvIf, "address", serverMAC, "netns", l.srvNS, "type", "veth",
			"peer", "name", l.cliIf, "address", clientMAC, "netns", l.cliNS},
		{"-n", l.srvNS, "link", "set", l.srvIf, "arp", "off"},
		{"-n", l.srvNS, "neigh", "replace", clientAddr, "lladdr", clientMAC, "dev", l.srvIf, "nud", "permanent"},
		{"-n", l.cliNS, "neigh", "replace", serverAddr, "lladdr", serverMAC, "dev", l.cliIf, "nud", "permanent"},
		{"-n", l.srvNS, "addr", "add", fmt.Sprintf("%s/%d", serverAddr, prefixLen), "dev", l.srvIf},
		{"-n", l.cliNS, "addr", "add", fmt.Sprintf("%s/%d", clientAddr, prefixLen), "dev", l.cliIf},
		{"-n", l.srvNS, "link", "set", "lo", "up"},
		{"-n", l.cliNS, "link", "set", "lo", "up"},
		{"-n", l.srvNS, "link", "set", l.srvIf, "up"},
		{"-n", l.cliNS, "link", "set", l.cliIf, "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			l.close()
			return nil, err
		}
	}
	return l, nil
}

// close kills whatever is left in the namespaces and removes them.
func (l *link) close() {
	for _, ns := range []string{l.srvNS, l.cliNS} {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// niceness is the scheduling priority of servers and perfdhcp (-nice):
// on a machine shared with other work a negative value keeps that work
// from stealing the pinned CPUs mid-step.
var niceness int

// inNS is argv run inside ns, pinned to cpus, at the chosen niceness.
func inNS(ns, cpus string, argv ...string) *exec.Cmd {
	pre := []string{"netns", "exec", ns, "taskset", "-c", cpus}
	if niceness != 0 {
		pre = append(pre, "nice", "-n", strconv.Itoa(niceness))
	}
	return exec.Command("ip", append(pre, argv...)...)
}
