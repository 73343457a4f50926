package dnsdiff

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// SlowDelay is how long the upstream waits before it answers a "slow.*"
// name, so that copies of a query sent at once meet in the server while
// the first is still being asked upstream.
const SlowDelay = 300 * time.Millisecond

// ExchangeCopies is Exchange for q.Copies copies sent at once, each from
// its own socket (and so, to the server, from its own client port). It
// returns the first copy's result; a copy whose result differs in what
// Compare looks at makes the result an error.
func ExchangeCopies(server string, q Query, timeout time.Duration) Result {
	if q.Copies <= 1 {
		return Exchange(server, q, timeout)
	}
	results := make([]Result, q.Copies)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = Exchange(server, q, timeout)
		}()
	}
	wg.Wait()
	for i, r := range results[1:] {
		if d := Compare(Query{TTL: TTLRule{Ignore: true}, IgnoreUpstream: true}, results[0], r); len(d) > 0 || !slices.Equal(r.Flags, results[0].Flags) {
			return Result{Err: fmt.Sprintf("copy %d answered otherwise than copy 1: %v", i+2, d)}
		}
	}
	return results[0]
}
