// Command dhcpbench compares moatd's DHCPv4 server with dnsmasq and Kea
// on this machine. It makes a server namespace and a client namespace
// joined by a veth pair (198.18.0.1/15 and 198.18.0.2/15, the benchmark
// range of RFC 2544), then runs each server in turn in the server
// namespace, pinned to one CPU, and perfdhcp (Debian's kea-admin) in the
// client namespace, pinned to the other, simulating 50,000 clients.
//
// For each server it searches the highest rate of 4-way exchanges
// (DISCOVER, OFFER, REQUEST, ACK) per second that it sustains with at
// most 0.1% of exchanges dropped: the rate doubles while steps pass, then
// bisects between the last pass and the first failure, every step a
// bounded perfdhcp run against a freshly started server with an empty
// lease database, so that every step measures new clients getting their
// first lease. It prints that rate, the average latency of both halves
// of the exchange there, and the latency at a low common rate.
//
// Servers: moat (no-ping, every ACK fsynced before it leaves), moat with
// the ping check (an OFFER waits up to 3 s for its own echo), dnsmasq
// --no-ping (dhcp-lease-max raised; it rewrites its lease file on each
// change) and Kea dhcp4 with the memfile back end.
//
//	dhcpbench -moatd bin/moatd
//
// It is run by `make bench-dhcp`, never by the tests; it needs root.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	moatd, dnsmasq, kea, perfdhcp string
	servers                       []string
	clients                       int
	step                          time.Duration
	startRate, maxRate            int
	bisections, retries           int
	maxDrop                       float64 // fraction of exchanges
	serverTime                    time.Duration
	latencyRate                   int
	serverCPU, clientCPU          string
	markdown                      string
	keep                          bool
	// rates, when set, replaces the search: one step at each rate, to
	// show how a server behaves at and past its limit (overload).
	rates []int
	// during is a shell command run while each step's perfdhcp runs
	// (after the server answers), e.g. a profiler; "" for none.
	during string
}

func main() {
	var o options
	var servers string
	flag.StringVar(&o.moatd, "moatd", "bin/moatd", "moatd binary")
	flag.StringVar(&o.dnsmasq, "dnsmasq", "dnsmasq", "dnsmasq binary")
	flag.StringVar(&o.kea, "kea", "kea-dhcp4", "Kea DHCPv4 server binary")
	flag.StringVar(&o.perfdhcp, "perfdhcp", "perfdhcp", "perfdhcp binary (Debian: kea-admin)")
	flag.StringVar(&servers, "servers", "moat,moat-ping,dnsmasq,kea", "servers to measure, in order")
	flag.IntVar(&o.clients, "clients", 50000, "perfdhcp -R: simulated clients")
	flag.DurationVar(&o.step, "step", 5*time.Second, "length of each perfdhcp run of the rate search")
	flag.IntVar(&o.startRate, "start-rate", 250, "first rate tried (exchanges/s)")
	flag.IntVar(&o.maxRate, "max-rate", 64000, "highest rate tried")
	flag.IntVar(&o.bisections, "bisections", 4, "bisection steps after the first failure")
	flag.IntVar(&o.retries, "retries", 1, "times a failed step is tried again before it counts as failed")
	flag.Float64Var(&o.maxDrop, "max-drop", 0.001, "largest fraction of dropped exchanges a step may have and pass")
	flag.DurationVar(&o.serverTime, "server-time", 3*time.Minute, "time limit of one server's search (the best rate found so far counts)")
	flag.IntVar(&o.latencyRate, "latency-rate", 50, "common low rate at which every server's latency is measured")
	flag.StringVar(&o.serverCPU, "server-cpu", "0", "CPU list the server is pinned to (taskset -c)")
	flag.StringVar(&o.clientCPU, "client-cpu", "1", "CPU list perfdhcp is pinned to")
	flag.StringVar(&o.markdown, "markdown", "", "also write the result table (markdown) to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (configs, logs, lease files)")
	var rates string
	flag.StringVar(&rates, "rates", "", "comma-separated rates to run once each instead of the search (overload behaviour)")
	flag.StringVar(&o.during, "during", "", "shell command run during each step's perfdhcp run (e.g. perf record); environment: DHCPBENCH_RATE, DHCPBENCH_DIR (the step's work directory), DHCPBENCH_SERVER_NS")
	flag.IntVar(&niceness, "nice", 0, "nice value of servers and perfdhcp (negative: ahead of other work on a shared machine)")
	flag.Parse()
	o.servers = strings.Split(servers, ",")
	for _, f := range strings.Split(rates, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "dhcpbench: -rates: bad rate %q\n", f)
			os.Exit(2)
		}
		o.rates = append(o.rates, n)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "dhcpbench: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, DHCP ports)")
	}
	for _, tool := range []*string{&o.perfdhcp, &o.dnsmasq, &o.kea} {
		p, err := exec.LookPath(*tool)
		if err != nil {
			return fmt.Errorf("%s not found (make bench-dhcp installs kea-admin, kea-dhcp4-server and dnsmasq-base from apt): %w", *tool, err)
		}
		*tool = p
	}
	for _, tool := range []string{"taskset", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: %w", tool, err)
		}
	}
	abs, err := filepath.Abs(o.moatd)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("%s: %w (build it first: make bench-dhcp does)", abs, err)
	}
	o.moatd = abs
	if runtime.NumCPU() < 2 {
		fmt.Println("dhcpbench: fewer than 2 CPUs; server and perfdhcp will share one")
		o.serverCPU, o.clientCPU = "0", "0"
	}
	dir, err := os.MkdirTemp("", "dhcpbench-")
	if err != nil {
		return err
	}
	// moatd's workers chroot into a directory below here as nobody.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if o.keep {
		fmt.Printf("dhcpbench: work directory %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	link, err := newLink()
	if err != nil {
		return err
	}
	defer link.close()
	// An interrupted run removes its namespaces too (the servers and
	// perfdhcp die with this process through Pdeathsig or the kill).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		link.close()
		if !o.keep {
			os.RemoveAll(dir)
		}
		os.Exit(130)
	}()

	b := &bench{o: o, dir: dir, link: link}
	var results []result
	var fixed []rateResult
	for _, name := range o.servers {
		spec, ok := serverSpecs[name]
		if !ok {
			return fmt.Errorf("unknown server %q (known: moat, moat-ping, dnsmasq, kea)", name)
		}
		if len(o.rates) > 0 {
			r, err := b.measureRates(name, spec)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			fixed = append(fixed, r)
			continue
		}
		r, err := b.measureServer(name, spec)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, r)
	}
	var table string
	if len(o.rates) > 0 {
		table = reportRates(o, fixed)
	} else {
		table = report(o, results)
	}
	fmt.Print(table)
	if o.markdown != "" {
		if err := os.WriteFile(o.markdown, []byte(table), 0o644); err != nil {
			return err
		}
	}
	return nil
}
