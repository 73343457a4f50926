package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// latencyDuration is the length of the rate-limited latency run.
const latencyDuration = 3 * time.Second

// perf is what one dnsperf run printed.
type perf struct {
	qps       float64
	completed uint64
	sent      uint64
	avgLat    float64   // seconds
	latencies []float64 // seconds, with -v only
}

// runResult is one measured run of one server.
type runResult struct {
	qps        float64
	avgLatUS   float64
	cpuUS      float64 // server CPU microseconds per completed query
	upstreamPQ float64 // upstream queries per completed query
	lostPct    float64
}

type setResult struct {
	set      string
	runs     map[string][]runResult // by server name
	p50, p99 map[string]float64     // microseconds, at latRate
	latRate  int
}

type results struct {
	sets []setResult
	rss  map[string]map[string]int // server -> process -> KiB
}

// dnsperf runs dnsperf against s. rate > 0 limits queries per second;
// verbose collects every latency; maxRuns > 0 stops after that many
// passes through the file.
func (b *bench) dnsperf(s *server, file string, dur time.Duration, rate int, verbose bool, maxRuns int) (perf, error) {
	args := []string{"-c", b.o.clientCPU, b.o.dnsperf, "-s", "127.0.0.1", "-p", strconv.Itoa(int(s.port)),
		"-d", file, "-l", strconv.FormatFloat(dur.Seconds(), 'f', -1, 64),
		"-c", strconv.Itoa(b.o.clients), "-q", strconv.Itoa(b.o.outstanding), "-t", "2"}
	if rate > 0 {
		args = append(args, "-Q", strconv.Itoa(rate))
	}
	if verbose {
		args = append(args, "-v")
	}
	if maxRuns > 0 {
		args = append(args, "-n", strconv.Itoa(maxRuns))
	}
	cmd := exec.Command("taskset", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return perf{}, fmt.Errorf("dnsperf: %w: %s", err, stderr.String())
	}
	return parseDnsperf(out)
}

// parseDnsperf reads dnsperf 2.x's summary (and -v lines).
func parseDnsperf(out []byte) (perf, error) {
	var p perf
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		field := func(prefix string) (string, bool) {
			v, ok := strings.CutPrefix(line, prefix)
			if !ok {
				return "", false
			}
			f := strings.Fields(v)
			if len(f) == 0 {
				return "", false
			}
			return f[0], true
		}
		if v, ok := field("Queries per second:"); ok {
			p.qps, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := field("Queries completed:"); ok {
			p.completed, _ = strconv.ParseUint(v, 10, 64)
		}
		if v, ok := field("Queries sent:"); ok {
			p.sent, _ = strconv.ParseUint(v, 10, 64)
		}
		if v, ok := field("Average Latency (s):"); ok {
			p.avgLat, _ = strconv.ParseFloat(v, 64)
		}
		if strings.HasPrefix(line, "> ") {
			f := strings.Fields(line)
			if lat, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				p.latencies = append(p.latencies, lat)
			}
		}
	}
	if p.completed == 0 {
		return p, fmt.Errorf("dnsperf completed no query:\n%s", out)
	}
	return p, nil
}

func (b *bench) measureAll() (results, error) {
	res := results{rss: map[string]map[string]int{}}
	for _, qs := range b.files {
		sr := setResult{set: qs.name, runs: map[string][]runResult{}, p50: map[string]float64{}, p99: map[string]float64{}}
		if qs.warm {
			for _, s := range b.servers {
				// One pass fills the cache (the zipf file only partly: a
				// bounded pass brings it to its steady state).
				if _, err := b.dnsperf(s, qs.file, 10*time.Second, 0, false, 1); err != nil {
					return res, fmt.Errorf("%s warm-up of %s: %w", qs.name, s.name, err)
				}
			}
		}
		// Runs alternate between the servers, so slow drifts of the
		// machine hit both alike.
		for r := range b.o.runs {
			for _, s := range b.servers {
				rr, err := b.measure(s, qs.file)
				if err != nil {
					return res, fmt.Errorf("%s run %d of %s: %w", qs.name, r+1, s.name, err)
				}
				sr.runs[s.name] = append(sr.runs[s.name], rr)
				fmt.Printf("dnsbench: %-5s %-8s run %d: %8.0f q/s  %6.2f us CPU/query  %4.2f upstream/query\n",
					qs.name, s.name, r+1, rr.qps, rr.cpuUS, rr.upstreamPQ)
			}
		}
		// Latency at the same load for both: half of the slower one's
		// throughput, where neither queues.
		slowest := 0.0
		for _, s := range b.servers {
			q := median(sr.runs[s.name], func(r runResult) float64 { return r.qps })
			if slowest == 0 || q < slowest {
				slowest = q
			}
		}
		sr.latRate = max(int(slowest/2), 100)
		for _, s := range b.servers {
			p, err := b.dnsperf(s, qs.file, latencyDuration, sr.latRate, true, 0)
			if err != nil {
				return res, fmt.Errorf("%s latency run of %s: %w", qs.name, s.name, err)
			}
			slices.Sort(p.latencies)
			sr.p50[s.name] = percentile(p.latencies, 0.50) * 1e6
			sr.p99[s.name] = percentile(p.latencies, 0.99) * 1e6
		}
		res.sets = append(res.sets, sr)
	}
	for _, s := range b.servers {
		res.rss[s.name] = s.rss()
	}
	return res, nil
}

// measure is one full-speed run with the server's CPU time and the
// upstream's query count around it.
func (b *bench) measure(s *server, file string) (runResult, error) {
	up0, err := b.upstreamCount()
	if err != nil {
		return runResult{}, err
	}
	cpu0 := s.cpuTime()
	p, err := b.dnsperf(s, file, b.o.duration, 0, false, 0)
	if err != nil {
		return runResult{}, err
	}
	cpu1 := s.cpuTime()
	up1, err := b.upstreamCount()
	if err != nil {
		return runResult{}, err
	}
	r := runResult{qps: p.qps, avgLatUS: p.avgLat * 1e6}
	r.cpuUS = float64((cpu1 - cpu0).Microseconds()) / float64(p.completed)
	r.upstreamPQ = float64(up1-up0-1) / float64(p.completed) // less the count query itself
	if p.sent > 0 {
		r.lostPct = 100 * float64(p.sent-p.completed) / float64(p.sent)
	}
	return r, nil
}

func median(rs []runResult, f func(runResult) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}
