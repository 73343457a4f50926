package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
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
		{"unknown verb", "", []string{"stop"}, 2, "", "moatctl: unknown verb \"stop\"\nusage:", ""},
		{"two verbs", "", []string{"status", "dump"}, 2, "", "one verb at a time", ""},
		{"no verb", "", nil, 2, "", "moatctl: no verb given\nusage:", ""},
		{"bad flag", "", []string{"-x", "status"}, 2, "", "flag provided but not defined: -x", ""},
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

// TestHelp: --help and -h print the usage on stdout and exit 0, as
// asking for help is no error.
func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{arg}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "usage: moatctl") || stderr.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", arg, code, stdout.String(), stderr.String())
		}
	}
}

// TestConnectHint: a user who is not root is told why the system's
// master is out of reach; root and explicit sockets get no hint.
func TestConnectHint(t *testing.T) {
	enoent := fmt.Errorf("connect to the master: %w", syscall.ENOENT)
	eacces := fmt.Errorf("connect to the master: %w", syscall.EACCES)
	for _, tc := range []struct {
		name        string
		err         error
		defaultPath bool
		euid        int
		want        string
	}{
		{"root", eacces, true, 0, ""},
		{"permission denied", eacces, false, 1000, "for root and the members of moatd's control-group"},
		{"explicit path missing", enoent, false, 1000, ""},
		{"other error", errors.New("timeout"), true, 1000, ""},
	} {
		if got := connectHint(tc.err, tc.defaultPath, tc.euid); !strings.Contains(got, tc.want) || (tc.want == "") != (got == "") {
			t.Errorf("%s: hint %q, want %q", tc.name, got, tc.want)
		}
	}
}
