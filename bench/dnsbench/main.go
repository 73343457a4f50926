// Command dnsbench compares moatd with dnsmasq on this machine: it starts
// the benchmark upstream (bench/upstream), then both servers with the same
// configuration (cache-size=10000, one upstream, loopback only), and runs
// dnsperf against each with the same query files, the servers pinned to
// one CPU and dnsperf and the upstream to another. For each query set it
// prints queries per second, average latency at full load, p50/p99
// latency at a common moderate load, server CPU time per query (from
// /proc/<pid>/stat of every server process), upstream queries per client
// query, resident memory, and moat's ratio to dnsmasq. Medians of -runs.
//
// Query sets: hot (1,000 names, all cached), cold (unique names, every
// query a miss), zipf (Zipf popularity over 100,000 names), nx (1,000
// names answered NXDOMAIN, cached).
//
//	dnsbench -moatd bin/moatd -upstream bin/bench-upstream
//
// It is run by `make bench-dns`, never by the tests.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

type options struct {
	moatd, upstream, dnsmasq, dnsperf string
	duration                          time.Duration
	runs                              int
	serverCPU, clientCPU              string
	clients, outstanding              int
	sets                              []string
	markdown                          string
	keep                              bool
}

func main() {
	var o options
	var sets string
	flag.StringVar(&o.moatd, "moatd", "bin/moatd", "moatd binary")
	flag.StringVar(&o.upstream, "upstream", "bin/bench-upstream", "benchmark upstream binary (bench/upstream)")
	flag.StringVar(&o.dnsmasq, "dnsmasq", "dnsmasq", "dnsmasq binary")
	flag.StringVar(&o.dnsperf, "dnsperf", "dnsperf", "dnsperf binary")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured dnsperf run")
	flag.IntVar(&o.runs, "runs", 3, "measured runs per server and query set (the median is reported)")
	flag.StringVar(&o.serverCPU, "server-cpu", "0", "CPU list the servers are pinned to (taskset -c)")
	flag.StringVar(&o.clientCPU, "client-cpu", "1", "CPU list dnsperf and the upstream are pinned to")
	flag.IntVar(&o.clients, "clients", 4, "dnsperf -c: client sockets")
	flag.IntVar(&o.outstanding, "outstanding", 100, "dnsperf -q: queries in flight")
	flag.StringVar(&sets, "sets", "hot,cold,zipf,nx", "query sets to run, in order")
	flag.StringVar(&o.markdown, "markdown", "", "also write the result table (markdown) to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (query files, configs, logs)")
	flag.Parse()
	o.sets = splitList(sets)
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "dnsbench: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	for _, tool := range []*string{&o.dnsperf, &o.dnsmasq} {
		p, err := exec.LookPath(*tool)
		if err != nil {
			return fmt.Errorf("%s not found (make bench-dns installs dnsperf and dnsmasq from apt): %w", *tool, err)
		}
		*tool = p
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return fmt.Errorf("taskset not found (util-linux): %w", err)
	}
	for _, bin := range []*string{&o.moatd, &o.upstream} {
		abs, err := filepath.Abs(*bin)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("%s: %w (build it first: make bench-dns does)", abs, err)
		}
		*bin = abs
	}
	if runtime.NumCPU() < 2 {
		fmt.Println("dnsbench: fewer than 2 CPUs; servers and load generator will share one")
		o.serverCPU, o.clientCPU = "0", "0"
	}
	dir, err := os.MkdirTemp("", "dnsbench-")
	if err != nil {
		return err
	}
	// The workers of a moatd started as root chroot into a directory
	// below here as nobody.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if o.keep {
		fmt.Printf("dnsbench: work directory %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	files, err := writeQueryFiles(dir, o.sets)
	if err != nil {
		return err
	}
	b := &bench{o: o, dir: dir, files: files}
	defer b.stopAll()
	if err := b.startAll(); err != nil {
		return err
	}
	res, err := b.measureAll()
	if err != nil {
		return err
	}
	table := report(o, b, res)
	fmt.Print(table)
	if o.markdown != "" {
		if err := os.WriteFile(o.markdown, []byte(table), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
