package main

import (
	"bufio"
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// fakeMaster answers every connection on a Unix socket with answer, after
// reading the request line, which it sends to got.
func fakeMaster(t *testing.T, answer string) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctl")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan string, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			got <- line
			_, _ = c.Write([]byte(answer))
			c.Close()
		}
	}()
	return path, got
}

// TestRun: the verb goes out as one line; "ok" prints the body (exit 0),
// "error" prints the reason (exit 1); bad usage and no master exit 2.
func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		args         []string
		code         int
		stdout       string
		stderr       string
		sent         string
	}{
		{"ok", "ok\nROLE PID\ndnsd 7\n", []string{"status"}, 0, "ROLE PID\ndnsd 7\n", "", "status\n"},
		{"master error", "error DHCP is disabled\n", []string{"leases"}, 1, "", "moatctl: DHCP is disabled\n", "leases\n"},
		{"garbage answer", "HTTP/1.1 200 OK\n", []string{"dump"}, 2, "", "unexpected answer", "dump\n"},
		{"unknown verb", "", []string{"stop"}, 2, "", "usage:", ""},
		{"two verbs", "", []string{"status", "dump"}, 2, "", "usage:", ""},
		{"no verb", "", nil, 2, "", "usage:", ""},
	} {
		path, got := fakeMaster(t, tc.answer)
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"-s", path}, tc.args...), &stdout, &stderr)
		if code != tc.code || stdout.String() != tc.stdout || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", tc.name, code, stdout.String(), stderr.String())
		}
		if tc.sent != "" {
			if line := <-got; line != tc.sent {
				t.Errorf("%s: sent %q, want %q", tc.name, line, tc.sent)
			}
		}
	}
	var stderr bytes.Buffer
	if code := run([]string{"-s", filepath.Join(t.TempDir(), "none"), "status"}, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "connect") {
		t.Errorf("no master: exit %d, %q", code, stderr.String())
	}
}
