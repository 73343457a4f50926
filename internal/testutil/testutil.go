// Package testutil holds the few helpers that tests in several packages
// share: a log buffer safe to read while processes write to it, and the
// rule for tests that need root.
package testutil

import (
	"bytes"
	"os"
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

// RequireRoot skips a test that needs root, outside CI only: CI runs as
// root, and there a missing privilege is a failure, never a skip. why says
// what the test needs root for.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("needs root (%s), and CI must run it", why)
	}
	t.Skipf("needs root (%s); runs in CI", why)
}
