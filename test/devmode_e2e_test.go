package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnprivilegedDevelopmentMode runs moatd the way `make run` does for
// a user without root: as nobody, on a high port, with the development
// configuration. The workers must still be confined (user namespace for
// the chroot, no capabilities, no_new_privs, seccomp).
func TestUnprivilegedDevelopmentMode(t *testing.T) {
	n := newNetns(t)
	startUpstreamPort(t, n, "127.0.0.2", "53")
	runDir := filepath.Join(os.TempDir(), "moat-e2e-nobody-"+n.name)
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(runDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runDir) })
	conf := filepath.Join(runDir, "dev.conf")
	data := "port=5353\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nserver=127.0.0.2\npid-file=\nrun-dir=" + runDir + "/run\n"
	if err := os.WriteFile(conf, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	asNobody := []string{"--reuid=65534", "--regid=65534", "--clear-groups", moatdBin}

	out, err := n.command("setpriv", append(asNobody, "--check-sandbox", "--conf-file="+conf)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "check-sandbox: all") {
		t.Fatalf("check-sandbox as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "chroot         ok   empty directory") {
		t.Errorf("workers of an unprivileged master have no chroot:\n%s", out)
	}

	m := runMoatd(t, n.command("setpriv", append(asNobody, "--conf-file="+conf, "--no-daemon")...), "")
	m.waitReady(t)
	if got := strings.TrimSpace(n.dig("@127.0.0.1", "-p", "5353", "+short", "forwarded.test")); got != "192.0.2.55" {
		t.Errorf("forwarded.test = %q, want 192.0.2.55", got)
	}
	dnsd := m.workers(t)["dnsd"]
	if dnsd == 0 {
		t.Fatal("no dnsd worker")
	}
	st := procStatus(t, dnsd)
	for k, want := range map[string]string{"CapEff": "0000000000000000", "CapBnd": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"} {
		if st[k] != want {
			t.Errorf("dnsd %s = %q, want %q", k, st[k], want)
		}
	}
	if f := strings.Fields(st["Uid"]); len(f) == 0 || f[0] != "65534" {
		t.Errorf("dnsd Uid = %q, want 65534", st["Uid"])
	}
}
