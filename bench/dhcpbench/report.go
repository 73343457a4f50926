package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// report prints the results as a markdown table.
func report(o options, results []result) string {
	var w strings.Builder
	fmt.Fprintf(&w, "\n### dhcpbench %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&w, "%d CPUs (%s); server on CPU %s, perfdhcp on CPU %s; perfdhcp -R %d over a veth pair; "+
		"%v steps, each on a freshly started server (empty lease database), a failed one tried %d more time(s); "+
		"a rate passes with at most %.1f%% of exchanges dropped or NAKed. "+
		"%s, %s, %s; nice %d.\n\n",
		runtime.NumCPU(), cpuModel(), o.serverCPU, o.clientCPU, o.clients, o.step, o.retries, 100*o.maxDrop,
		version(o.dnsmasq, "--version"), version(o.kea, "-V"), version(o.perfdhcp, "-v"), niceness)
	fmt.Fprintf(&w, "| server | highest rate (4-way exchanges/s done) | lowest failing rate asked | dropped at best | "+
		"latency at best: offer + ack = exchange (ms) | max (ms) | exchange latency at %d/s (ms) | highest rate with at most 1%% dropped |\n", o.latencyRate)
	fmt.Fprintf(&w, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		best, fail, drop, lat, maxLat := "none", "-", "-", "-", "-"
		if r.best > 0 {
			p := r.bestRun
			best = fmt.Sprintf("**%.0f** (at %d asked)", p.rate(), r.best)
			drop = fmt.Sprintf("%.3f%%", 100*p.dropped())
			lat = fmt.Sprintf("%.2f + %.2f = %.2f", p.do.avgMS, p.ra.avgMS, p.latencyMS())
			maxLat = fmt.Sprintf("%.0f", max(p.do.maxMS, p.ra.maxMS))
		}
		if r.firstFail > 0 {
			fail = fmt.Sprint(r.firstFail)
		}
		if r.capped {
			fail += " (time limit)"
		}
		low := "-"
		if r.lowErr == nil {
			low = fmt.Sprintf("%.2f (%.3f%% dropped)", r.low.latencyMS(), 100*r.low.dropped())
		}
		loose := "none"
		if r.loose.period != 0 {
			loose = fmt.Sprintf("%.0f (%.2f%% dropped, %.2f ms)", r.loose.rate(), 100*r.loose.dropped(), r.loose.latencyMS())
		}
		fmt.Fprintf(&w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.describe, best, fail, drop, lat, maxLat, low, loose)
	}
	return w.String()
}

func cpuModel() string {
	out, err := exec.Command("sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").Output()
	if err != nil {
		return "unknown CPU"
	}
	return strings.TrimSpace(string(out))
}

// version is "name x.y.z", from the first version-like word a tool
// prints for its version flag.
func version(bin, flag string) string {
	name := bin[strings.LastIndexByte(bin, '/')+1:]
	out, _ := exec.Command(bin, flag).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	for _, f := range strings.Fields(line) {
		if len(f) > 0 && f[0] >= '0' && f[0] <= '9' && strings.Contains(f, ".") {
			return name + " " + f
		}
	}
	return name + " (version unknown)"
}
