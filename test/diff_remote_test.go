package test

import "fmt"

// The remote topology of the differential harness (diffScenario.remote):
// the servers' namespace and a client namespace joined by a veth link
// (linkedPair). The client's end has a fixed MAC address, which the
// servers' neighbour table knows from the start, so that add-mac has
// something to add from the first query on.

// remoteClientMAC is the client's link address as add-mac sends it.
const remoteClientMAC = "02:00:5e:10:20:30"

// remoteUpstreamAddrs gives the server namespace the addresses of both
// sides' fake upstreams (on its loopback interface, /32 each, so that
// they add no subnet local-service would count), routes the client to
// them, and fixes the client's MAC in the servers' neighbour table.
func (r *diffRun) remoteUpstreamAddrs(zones int) {
	t := r.t
	for _, s := range r.side {
		for i := 1; i <= zones; i++ {
			run(t, "ip", "-n", r.n.name, "addr", "add", fmt.Sprintf("%s.%d/32", s.upNet, i), "dev", "lo")
		}
	}
	run(t, "ip", "-n", r.client.name, "route", "add", "10.77.0.0/16", "via", remoteServerIP)
	run(t, "ip", "-n", r.client.name, "link", "set", "mdv1", "address", remoteClientMAC)
	run(t, "ip", "-n", r.n.name, "neigh", "replace", remoteClientIP, "lladdr", remoteClientMAC, "dev", "mdv0", "nud", "permanent")
}
