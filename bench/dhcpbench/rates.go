package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rateResult is one server's runs at the fixed rates of -rates.
type rateResult struct {
	name, describe string
	rates          []int
	runs           []perfRun
}

// measureRates runs one step at each rate of -rates: what a server does
// at and beyond its limit (does it degrade gently or collapse).
func (b *bench) measureRates(name string, spec serverSpec) (rateResult, error) {
	r := rateResult{name: name, describe: spec.describe}
	fmt.Printf("dhcpbench: %s (%s)\n", name, spec.describe)
	for i, rate := range b.o.rates {
		p, err := b.step(name, spec, i+1, rate)
		if err != nil {
			return r, err
		}
		fmt.Printf("dhcpbench: %-9s %6d/s: %8.0f/s done, %6.3f%% dropped, latency %.2f ms (offer %.2f, ack %.2f, max %.0f); "+
			"DISCOVER sent %d, OFFER %d; REQUEST sent %d, ACK %d, NAK %d\n",
			name, rate, p.rate(), 100*p.dropped(), p.latencyMS(), p.do.avgMS, p.ra.avgMS, max(p.do.maxMS, p.ra.maxMS),
			p.do.sent, p.do.received, p.ra.sent, p.ra.received-p.ra.rejected, p.ra.rejected)
		r.rates = append(r.rates, rate)
		r.runs = append(r.runs, p)
	}
	return r, nil
}

// reportRates prints the fixed-rate runs as a markdown table.
func reportRates(o options, results []rateResult) string {
	var w strings.Builder
	fmt.Fprintf(&w, "\n### dhcpbench -rates %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&w, "One %v step per rate, each on a freshly started server; server on CPU %s, perfdhcp on CPU %s, -R %d; nice %d.\n\n",
		o.step, o.serverCPU, o.clientCPU, o.clients, niceness)
	fmt.Fprintf(&w, "| server | asked (exchanges/s) | done (exchanges/s) | dropped | offer + ack = exchange latency (ms) | max (ms) |\n")
	fmt.Fprintf(&w, "|---|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		for i, p := range r.runs {
			fmt.Fprintf(&w, "| %s | %d | %.0f | %.2f%% | %.2f + %.2f = %.2f | %.0f |\n", r.describe, r.rates[i], p.rate(),
				100*p.dropped(), p.do.avgMS, p.ra.avgMS, p.latencyMS(), max(p.do.maxMS, p.ra.maxMS))
		}
	}
	return w.String()
}

// startDuring starts -during's command for one step (nil when there is
// none); stopDuring ends it after the step's perfdhcp run.
func (b *bench) startDuring(dir string, rate int) *exec.Cmd {
	if b.o.during == "" {
		return nil
	}
	cmd := exec.Command("sh", "-c", b.o.during)
	cmd.Env = append(os.Environ(), "DHCPBENCH_RATE="+strconv.Itoa(rate), "DHCPBENCH_DIR="+dir, "DHCPBENCH_SERVER_NS="+b.link.srvNS)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "dhcpbench: -during: %v\n", err)
		return nil
	}
	return cmd
}

// stopDuring waits a little for the command to end by itself (a
// profiler with its own duration), then interrupts its process group.
func stopDuring(cmd *exec.Cmd) {
	if cmd == nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(2 * time.Second):
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}
