package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDaemonLikeDnsmasq (issue 6): started without -k or -d, moatd does
// what dnsmasq does: it goes into the background once it serves, the
// parent exits 0, and the pid file names the background process (a
// session leader, written after the fork). SIGUSR2 reopens the log file
// after logrotate moved it; SIGTERM stops it and removes the pid file.
// An option accepted without effect (enable-dbus) is warned about once
// in the log at start.
func TestDaemonLikeDnsmasq(t *testing.T) {
	n := newNetns(t) // its cleanup kills whatever is left in it
	startUpstreamPort(t, n, "127.0.0.2", "53")
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "moatd.pid")
	logFile := filepath.Join(dir, "moatd.log")
	conf := filepath.Join(dir, "moatd.conf")
	data := "port=5353\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nserver=127.0.0.2\nenable-dbus\nrun-dir=" + dir + "/run\n"
	if err := os.WriteFile(conf, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	parent := exec.CommandContext(ctx, "ip", "netns", "exec", n.name, moatdBin,
		"-C", conf, "--pid-file="+pidFile, "--log-facility="+logFile)
	out, err := parent.CombinedOutput()
	if err != nil {
		t.Fatalf("moatd (daemonising) exited with %v:\n%s", err, out)
	}
	data2, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("no pid file once the parent returned: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data2)))
	if err != nil || pid <= 1 {
		t.Fatalf("pid file %q", data2)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if pid == parent.Process.Pid {
		t.Errorf("the pid file names the process that exited")
	}
	if sid, err := sessionOf(pid); err != nil || sid != pid {
		t.Errorf("daemon %d: session %d (%v), want its own session", pid, sid, err)
	}
	if got := strings.TrimSpace(n.dig("@127.0.0.1", "-p", "5353", "+short", "forwarded.test")); got != "192.0.2.55" {
		t.Errorf("the daemon answered %q", got)
	}
	logged := func(path, what string) func() bool {
		return func() bool { b, _ := os.ReadFile(path); return strings.Contains(string(b), what) }
	}
	waitFor(t, 10*time.Second, "the start in the log file", logged(logFile, "started, version"))
	if !logged(logFile, "warning: enable-dbus: moat has no D-Bus interface")() {
		t.Error("no start-up warning for enable-dbus in the log")
	}

	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a new log file after SIGUSR2", logged(logFile, "SIGUSR2: reopened the log file"))

	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the daemon to exit on SIGTERM", func() bool { return syscall.Kill(pid, 0) != nil })
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left behind after SIGTERM: %v", err)
	}
	if b, _ := os.ReadFile(logFile); !strings.Contains(string(b), "exiting on receipt of terminated") {
		t.Errorf("log after SIGTERM:\n%s", b)
	}
}

// sessionOf reads a process's session id from /proc/PID/stat.
func sessionOf(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid pgrp session ...; comm may hold spaces.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 4 {
		return 0, os.ErrInvalid
	}
	return strconv.Atoi(f[3])
}
