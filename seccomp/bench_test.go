package seccomp

import (
	"testing"
	"time"
)

// BenchmarkBuild measures compiling a role's allow-list into a filter
// (done once per worker start, before install).
func BenchmarkBuild(b *testing.B) {
	for _, role := range Roles() {
		b.Run(role, func(b *testing.B) {
			p, err := PolicyFor(role)
			if err != nil {
				b.Fatal(err)
			}
			var n int
			for b.Loop() {
				prog, err := p.Build(BuildOptions{PID: testPID, Default: ActKillProcess})
				if err != nil {
					b.Fatal(err)
				}
				n = len(prog)
			}
			b.ReportMetric(float64(n), "instructions")
		})
	}
}

// BenchmarkConfine starts a child per iteration that confines itself as a
// root-mode worker does. The metric confine-µs/op is the wall time of
// Confine measured inside the child; ns/op also counts process start-up.
func BenchmarkConfine(b *testing.B) {
	requireRoot(b)
	for _, role := range Roles() {
		b.Run(role, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				spec := rootSpec(b, role)
				c := startChild(b, childOpts{scenario: "confine-only", spec: &spec})
				r := c.expect(b, "status", reportTimeout)
				if r.Err != "" {
					b.Fatal(r.Err)
				}
				if err := c.wait(); err != nil {
					b.Fatalf("child: %s", describeExit(err))
				}
				total += time.Duration(r.ConfineNanos)
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "confine-µs/op")
		})
	}
}
