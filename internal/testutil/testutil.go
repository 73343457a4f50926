// Package testutil holds the few helpers that tests in several packages
// share: a log buffer safe to read while processes write to it, and the
// rule for tests that need root.
package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// SyncBuffer collects output that goroutines or child processes write
// while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Unavailable stops a test whose requirement (root, a tool, a directory)
// is missing: outside CI it skips and says why; in CI, which is root and
// has every requirement installed, it fails, so nothing is silently
// skipped there.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s, and CI must run this test", why)
	}
	t.Skipf("%s; runs in CI", why)
}

// RequireRoot stops a test that needs root; why says what for.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root ("+why+")")
	}
}

// RequireCommand returns the path of an external program the test needs
// (dnsmasq, the reference; dig; ...), or stops the test as Unavailable.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, name+" is not installed (make deps installs it)")
	}
	return path
}
