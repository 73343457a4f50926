package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
)

// report prints the results as a markdown table: medians of the runs per
// server and query set, and moat's ratio to dnsmasq.
func report(o options, b *bench, res results) string {
	var w strings.Builder
	fmt.Fprintf(&w, "\n## dnsbench %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&w, "%d CPUs (%s), %s; servers on CPU %s, dnsperf and upstream on CPU %s; cache-size=%d; "+
		"dnsperf -c %d -q %d, %v per run, median of %d runs.\n\n",
		runtime.NumCPU(), cpuModel(), dnsmasqVersion(o.dnsmasq), o.serverCPU, o.clientCPU, cacheSize,
		o.clients, o.outstanding, o.duration, o.runs)
	fmt.Fprintf(&w, "| set | server | q/s | avg latency (us) | p50 / p99 latency (us) at | server CPU us/query | upstream queries per query | lost |\n")
	fmt.Fprintf(&w, "|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, sr := range res.sets {
		for _, s := range b.servers {
			rs := sr.runs[s.name]
			fmt.Fprintf(&w, "| %s | %s | %.0f | %.0f | %.0f / %.0f at %d q/s | %.2f | %.2f | %.2f%% |\n",
				sr.set, s.name,
				median(rs, func(r runResult) float64 { return r.qps }),
				median(rs, func(r runResult) float64 { return r.avgLatUS }),
				sr.p50[s.name], sr.p99[s.name], sr.latRate,
				median(rs, func(r runResult) float64 { return r.cpuUS }),
				median(rs, func(r runResult) float64 { return r.upstreamPQ }),
				median(rs, func(r runResult) float64 { return r.lostPct }))
		}
		m, d := sr.runs["moat"], sr.runs["dnsmasq"]
		if len(m) > 0 && len(d) > 0 {
			ratio := func(f func(runResult) float64) float64 {
				if x := median(d, f); x != 0 {
					return median(m, f) / x
				}
				return 0
			}
			p99 := 0.0
			if sr.p99["dnsmasq"] != 0 {
				p99 = sr.p99["moat"] / sr.p99["dnsmasq"]
			}
			fmt.Fprintf(&w, "| %s | **moat/dnsmasq** | **%.2fx** | %.2fx | p99 %.2fx | **%.2fx** | | |\n", sr.set,
				ratio(func(r runResult) float64 { return r.qps }),
				ratio(func(r runResult) float64 { return r.avgLatUS }), p99,
				ratio(func(r runResult) float64 { return r.cpuUS }))
		}
	}
	fmt.Fprintf(&w, "\nResident memory after all sets (the cache holds %d names):\n\n", cacheSize)
	fmt.Fprintf(&w, "| server | process | RSS (MiB) |\n|---|---|---:|\n")
	for _, s := range b.servers {
		procs := res.rss[s.name]
		names := make([]string, 0, len(procs))
		for n := range procs {
			names = append(names, n)
		}
		sort.Strings(names)
		total := 0
		for _, n := range names {
			fmt.Fprintf(&w, "| %s | %s | %.1f |\n", s.name, n, float64(procs[n])/1024)
			total += procs[n]
		}
		if len(names) > 1 {
			fmt.Fprintf(&w, "| %s | all | %.1f |\n", s.name, float64(total)/1024)
		}
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

func dnsmasqVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "dnsmasq (version unknown)"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	f := strings.Fields(line)
	if len(f) >= 3 {
		return "dnsmasq " + f[2]
	}
	return line
}
