package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// exchangeStats is perfdhcp's statistics block for one half of the
// exchange (DISCOVER-OFFER or REQUEST-ACK).
type exchangeStats struct {
	sent, received, drops, rejected uint64
	avgMS, maxMS                    float64
	seen                            bool
}

// perfRun is what one perfdhcp run printed.
type perfRun struct {
	do, ra exchangeStats
	period time.Duration
}

// completed is the number of 4-way exchanges that ended with an ACK.
func (p perfRun) completed() uint64 {
	if p.ra.rejected > p.ra.received {
		return 0
	}
	return p.ra.received - p.ra.rejected
}

// rate is completed exchanges per second of the sending period.
func (p perfRun) rate() float64 { return float64(p.completed()) / p.period.Seconds() }

// dropped is the fraction of started exchanges that did not complete.
func (p perfRun) dropped() float64 {
	if p.do.sent == 0 {
		return 1
	}
	return 1 - float64(p.completed())/float64(p.do.sent)
}

// latencyMS is the average of a whole exchange: both halves.
func (p perfRun) latencyMS() float64 { return p.do.avgMS + p.ra.avgMS }

// perfdhcp runs perfdhcp in the client namespace at rate exchanges per
// second for period (whole seconds). dropTime is -d; perfdhcp waits a
// little longer after the period for late answers (-W), so a late answer
// is not a drop.
func (b *bench) perfdhcp(rate int, period, dropTime time.Duration) (perfRun, error) {
	args := []string{b.o.perfdhcp, "-4", "-l", b.link.cliIf,
		"-d", strconv.FormatFloat(dropTime.Seconds(), 'f', -1, 64),
		"-r", strconv.Itoa(rate), "-R", strconv.Itoa(b.o.clients),
		"-p", strconv.Itoa(int(period.Seconds())),
		"-W", strconv.FormatInt((dropTime + 500*time.Millisecond).Microseconds(), 10),
		serverAddr}
	limit := period + 2*dropTime + 20*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := inNS(b.link.cliNS, b.o.clientCPU, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return perfRun{}, fmt.Errorf("start perfdhcp: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return perfRun{}, fmt.Errorf("perfdhcp still running after %v:\n%s", limit, out.String())
	}
	p := parsePerfdhcp(out.Bytes())
	if !p.do.seen || !p.ra.seen {
		// perfdhcp exits non-zero when there were drops; only output
		// without statistics is a failure of the run itself.
		return p, fmt.Errorf("perfdhcp printed no statistics (%v):\n%s", err, out.String())
	}
	p.period = period
	return p, nil
}

// parsePerfdhcp reads perfdhcp 2.x's final report.
func parsePerfdhcp(out []byte) perfRun {
	var p perfRun
	var cur *exchangeStats
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "***Statistics for: DISCOVER-OFFER"):
			cur = &p.do
			cur.seen = true
			continue
		case strings.HasPrefix(line, "***Statistics for: REQUEST-ACK"):
			cur = &p.ra
			cur.seen = true
			continue
		case strings.HasPrefix(line, "***"):
			cur = nil
			continue
		}
		if cur == nil {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseUint(f[0], 10, 64)
		x, _ := strconv.ParseFloat(f[0], 64)
		switch key {
		case "sent packets":
			cur.sent = n
		case "received packets":
			cur.received = n
		case "drops":
			cur.drops = n
		case "rejected leases":
			cur.rejected = n
		case "avg delay":
			cur.avgMS = x
		case "max delay":
			cur.maxMS = x
		}
	}
	return p
}

// waitReady runs one-second probes at 10 exchanges/s until one
// completes. (perfdhcp's single-exchange mode never ends when the
// answer does not come.)
func (b *bench) waitReady(dropTime time.Duration) error {
	var last error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		p, err := b.perfdhcp(10, time.Second, dropTime)
		if err == nil && p.ra.received > 0 {
			return nil
		}
		last = err
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("no exchange completed in 30 s: %v", last)
}
