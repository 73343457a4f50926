package leasestore

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/leases"
)

// BenchmarkCommit measures acknowledged single-lease commits (each one
// fsynced before it returns) on the disk under the test's temporary
// directory: one committer at a time, then 64 concurrent committers that
// share fsyncs (group commit). It reports commits/s, fsyncs/s and the
// latency of a commit (median, 99th percentile, worst: a compaction's
// pause shows in the worst). Leases are renewed over 60,000 addresses, so
// the journal is compacted with a table of that size.
func BenchmarkCommit(b *testing.B) {
	for _, bc := range []struct {
		name       string
		committers int
	}{
		{"sequential", 1},
		{"concurrent-64", 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(Options{LeaseFile: b.TempDir() + "/leases"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var next atomic.Int64
			ctx := context.Background()
			var mu sync.Mutex
			var latencies []time.Duration
			commitOne := func(own *[]time.Duration) {
				i := int(next.Add(1))
				t0 := time.Now()
				if err := s.Commit(ctx, puts(testLease(i%60000, far+int64(i)))); err != nil {
					b.Error(err)
				}
				*own = append(*own, time.Since(t0))
			}
			syncs := s.Stats().Syncs
			start := time.Now()
			b.ResetTimer()
			if bc.committers == 1 {
				for range b.N {
					commitOne(&latencies)
				}
			} else {
				// RunParallel starts parallelism*GOMAXPROCS goroutines.
				b.SetParallelism((bc.committers + runtimeProcs() - 1) / runtimeProcs())
				b.RunParallel(func(pb *testing.PB) {
					var own []time.Duration
					for pb.Next() {
						commitOne(&own)
					}
					mu.Lock()
					latencies = append(latencies, own...)
					mu.Unlock()
				})
			}
			b.StopTimer()
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)/secs, "commits/s")
			b.ReportMetric(float64(s.Stats().Syncs-syncs)/secs, "fsyncs/s")
			slices.Sort(latencies)
			for _, q := range []struct {
				name string
				at   float64
			}{{"p50-us", 0.5}, {"p99-us", 0.99}, {"max-us", 1}} {
				i := min(len(latencies)-1, int(q.at*float64(len(latencies))))
				b.ReportMetric(float64(latencies[i].Microseconds()), q.name)
			}
		})
	}
}

// BenchmarkCompact measures one compaction of a 50,000-lease table (the
// pause it puts on commits): snapshot written, fsynced, renamed, and the
// directory fsynced.
func BenchmarkCompact(b *testing.B) {
	s, err := Open(Options{LeaseFile: b.TempDir() + "/leases", LeaseFileRO: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; i < 50000; i += 500 {
		batch := make([]leases.Record, 0, 500)
		for j := i; j < i+500; j++ {
			batch = append(batch, leases.PutRecord(testLease(j, far)))
		}
		if err := s.Commit(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if err := s.Compact(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(s.Stats().JournalBytes), "journal-bytes")
}
