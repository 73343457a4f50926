package leasestore

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestSyncGapGroupsCommits: commits that arrive within SyncGap of the
// last fsync share the next one; with no gap (negative) the first of
// them is written alone. Either way every commit is acknowledged and in
// the table.
func TestSyncGapGroupsCommits(t *testing.T) {
	tests := []struct {
		name     string
		gap      time.Duration
		maxSyncs uint64 // journal fsyncs for the first commit and the burst
	}{
		{"gap groups the burst", time.Second, 2},
		{"no gap", -1, 11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(Options{LeaseFile: t.TempDir() + "/leases", SyncGap: tc.gap})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := s.Commit(ctx, puts(testLease(0, far))); err != nil {
				t.Fatal(err)
			}
			before := s.Stats().Syncs
			const burst = 10
			var wg sync.WaitGroup
			errs := make(chan error, burst)
			for i := 1; i <= burst; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- s.Commit(ctx, puts(testLease(i, far)))
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			syncs := s.Stats().Syncs - before + 1
			if syncs > tc.maxSyncs || s.Len() != burst+1 {
				t.Errorf("%d fsyncs (at most %d), %d leases (want %d)", syncs, tc.maxSyncs, s.Len(), burst+1)
			}
			if tc.gap > 0 && syncs != 2 {
				t.Errorf("%d fsyncs, want 2: the burst within the gap shares one", syncs)
			}
		})
	}
}
