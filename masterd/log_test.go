package masterd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogReopen: SIGUSR2's reopen, as logrotate uses it: the file is
// moved away, lines keep going to the moved file until the reopen, and
// after it into a new file of the configured name.
func TestLogReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "moatd.log")
	l, err := newLogger(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	l.printf("master", "line one")
	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	l.printf("master", "line two")
	l.reopenOnSignal()
	l.printf("master", "line three")

	old, err := os.ReadFile(rotated)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no new log file after the reopen: %v", err)
	}
	for _, want := range []string{"line one", "line two"} {
		if !strings.Contains(string(old), want) {
			t.Errorf("rotated file lacks %q:\n%s", want, old)
		}
	}
	if strings.Contains(string(old), "line three") {
		t.Errorf("a line after the reopen went to the rotated file:\n%s", old)
	}
	if !strings.Contains(string(cur), "SIGUSR2: reopened the log file "+path) || !strings.Contains(string(cur), "line three") {
		t.Errorf("new file:\n%s", cur)
	}
}

// TestLogReopenFails: a log file that cannot be reopened (its directory
// is gone) leaves the old one in use, and says so there.
func TestLogReopenFails(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "logs")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, "moatd.log")
	l, err := newLogger(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(sub, moved); err != nil {
		t.Fatal(err)
	}
	l.reopenOnSignal()
	l.printf("master", "still here")
	data, err := os.ReadFile(filepath.Join(moved, "moatd.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "still writing to the old file") || !strings.Contains(string(data), "still here") {
		t.Errorf("old file:\n%s", data)
	}
}

// TestLogDestinations: dnsmasq's choice of destination, and -d's echo to
// stderr when the log goes elsewhere.
func TestLogDestinations(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.log")
	tests := []struct {
		name     string
		facility string
		noDaemon bool
		file     bool
		echo     bool
	}{
		{"stderr", "-", false, false, false},
		{"no-daemon without log-facility: stderr only", "", true, false, false},
		{"file", file, false, true, false},
		{"file with no-daemon echoes to stderr", file, true, true, true},
		{"stderr with no-daemon: no second copy", "-", true, false, false},
	}
	for _, tt := range tests {
		l, err := newLogger(tt.facility, tt.noDaemon)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if (l.file != nil) != tt.file || (l.echo != nil) != tt.echo {
			t.Errorf("%s: file %v echo %v, want %v %v", tt.name, l.file != nil, l.echo != nil, tt.file, tt.echo)
		}
		if tt.facility == "-" || tt.facility == "" {
			if l.w != os.Stderr {
				t.Errorf("%s: not stderr", tt.name)
			}
		}
		if err := l.reopen(); err != nil {
			t.Errorf("%s: reopen: %v", tt.name, err)
		}
		l.close()
	}
}
