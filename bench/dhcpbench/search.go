package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// result is one server's outcome.
type result struct {
	name, describe string
	best           int     // asked rate of the passing run that did most, 0: none
	bestRun        perfRun // that run
	firstFail      int     // lowest failing rate asked, 0: none failed
	low            perfRun // the run at the common low rate
	lowErr         error
	loose          perfRun // the run that did most with at most 1% dropped
	steps          int
	capped         bool // the search stopped at the time limit
}

// pass says whether a run was sustained: at most maxDrop of the
// exchanges dropped (or NAKed). The rate reported is the one perfdhcp
// achieved, which falls short of the asked one when perfdhcp itself
// runs out of CPU.
func (b *bench) pass(p perfRun) bool {
	return p.dropped() <= b.o.maxDrop
}

// step runs the server afresh (an empty lease database in a directory
// of its own), waits until it answers, runs perfdhcp at rate, and stops
// it. Every step thus measures the same thing, new clients getting their
// first lease (and, with the ping check on, a probe each), rather than
// renewals of the leases earlier steps left behind.
func (b *bench) step(name string, spec serverSpec, n, rate int) (perfRun, error) {
	dir := filepath.Join(b.dir, name, fmt.Sprintf("step%02d-%d", n, rate))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return perfRun{}, err
	}
	cmd, err := spec.start(b, dir)
	if err != nil {
		return perfRun{}, err
	}
	defer stop(cmd)
	if err := b.waitReady(spec.dropTime); err != nil {
		return perfRun{}, fmt.Errorf("not answering (log in %s): %w", filepath.Join(dir, "server.log"), err)
	}
	during := b.startDuring(dir, rate)
	defer stopDuring(during)
	return b.perfdhcp(rate, b.o.step, spec.dropTime)
}

// measureServer measures the server's latency at the low common rate,
// then searches its highest rate: doubling until a step fails (or
// halving until one passes), then bisecting between the last pass and
// the first failure.
func (b *bench) measureServer(name string, spec serverSpec) (result, error) {
	r := result{name: name, describe: spec.describe}
	fmt.Printf("dhcpbench: %s (%s)\n", name, spec.describe)
	r.low, r.lowErr = b.step(name, spec, 0, b.o.latencyRate)
	if r.lowErr != nil {
		return r, r.lowErr
	}
	fmt.Printf("dhcpbench: %-9s %6d/s: %8.0f/s done, %6.3f%% dropped, latency %.2f ms\n",
		name, b.o.latencyRate, r.low.rate(), 100*r.low.dropped(), r.low.latencyMS())

	deadline := time.Now().Add(b.o.serverTime)
	try := func(rate int) (bool, error) {
		var p perfRun
		ok := false
		// A failed step is tried again: on a machine shared with other
		// work, one descheduling can drop a few exchanges.
		for try := 0; try <= b.o.retries && !ok; try++ {
			r.steps++
			var err error
			if p, err = b.step(name, spec, r.steps, rate); err != nil {
				return false, err
			}
			ok = b.pass(p)
			if p.dropped() <= 0.01 && (r.loose.period == 0 || p.rate() > r.loose.rate()) {
				r.loose = p
			}
		}
		verdict := "fail"
		if ok {
			verdict = "pass"
			if r.best == 0 || p.rate() > r.bestRun.rate() {
				r.best, r.bestRun = rate, p
			}
		} else if r.firstFail == 0 || rate < r.firstFail {
			r.firstFail = rate
		}
		fmt.Printf("dhcpbench: %-9s %6d/s: %8.0f/s done, %6.3f%% dropped, latency %.2f ms (offer %.2f, ack %.2f): %s\n",
			name, rate, p.rate(), 100*p.dropped(), p.latencyMS(), p.do.avgMS, p.ra.avgMS, verdict)
		return ok, nil
	}

	lo, hi := 0, 0
	rate := b.o.startRate
	for rate >= 1 && rate <= b.o.maxRate {
		if time.Now().After(deadline) {
			r.capped = true
			return r, nil
		}
		ok, err := try(rate)
		if err != nil {
			return r, err
		}
		if ok {
			lo = rate
			if hi != 0 {
				break
			}
			rate *= 2
		} else {
			hi = rate
			if lo != 0 {
				break
			}
			rate /= 2
		}
	}
	for i := 0; i < b.o.bisections && lo != 0 && hi != 0 && float64(hi)/float64(lo) > 1.05; i++ {
		if time.Now().After(deadline) {
			r.capped = true
			break
		}
		mid := (lo + hi) / 2
		ok, err := try(mid)
		if err != nil {
			return r, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return r, nil
}
