package dnsdiff

import (
	"fmt"
	"time"
)

// Side is one server under comparison: where it listens and the fake
// upstream servers only it forwards to (so that what each was asked can
// be told apart).
type Side struct {
	Name      string   `json:"name"`
	Server    string   `json:"server"`    // host:port
	Upstreams []string `json:"upstreams"` // host:port of each fake upstream
}

// Batch is a list of queries to send, in order, to every side: each query
// to the first side, then to the second, before the next query.
type Batch struct {
	Sides   []Side        `json:"sides"`
	Queries []string      `json:"queries"`
	Timeout time.Duration `json:"timeout"` // per query and side
}

// Outcome is one query's results, one per side, in the sides' order.
type Outcome struct {
	Query   string   `json:"query"`
	Results []Result `json:"results"`
}

// Run sends the batch. What the upstreams were asked before the batch
// (start-up probes) is discarded first; after each query each side's
// upstreams say what that query made them ask.
func (b Batch) Run() ([]Outcome, error) {
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	for _, s := range b.Sides {
		if _, err := s.asked(timeout); err != nil {
			return nil, err
		}
	}
	var out []Outcome
	for _, spec := range b.Queries {
		q, err := ParseQuery(spec)
		if err != nil {
			return nil, err
		}
		o := Outcome{Query: spec}
		for _, s := range b.Sides {
			r := ExchangeCopies(s.Server, q, timeout)
			if r.Upstream, err = s.asked(timeout); err != nil {
				return nil, err
			}
			for i, line := range r.Upstream {
				r.Upstream[i] = s.sourceView(q, line)
			}
			o.Results = append(o.Results, r)
		}
		out = append(out, o)
	}
	return out, nil
}

func (s Side) asked(timeout time.Duration) ([]string, error) {
	var all []string
	for i, u := range s.Upstreams {
		a, err := Asked(u, timeout)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		// Named by position, which both sides share, not by address.
		for _, line := range a {
			all = append(all, fmt.Sprintf("up%d: %s", i+1, line))
		}
	}
	return all, nil
}

// Probe waits until every server answers a query (with any rcode), or
// the limit passes.
func Probe(servers []string, limit time.Duration) error {
	q, err := ParseQuery("probe.difftool. A")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(limit)
	for _, s := range servers {
		for {
			r := Exchange(s, q, 200*time.Millisecond)
			if r.Err == "" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s does not answer after %v: %s", s, limit, r.Err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}
