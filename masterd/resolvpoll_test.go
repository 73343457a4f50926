package masterd

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestResolvPoll drives the poller by hand: a change is seen at the next
// look, the file that changed last wins, an empty file is read again at
// every look, a vanished file keeps its servers.
func TestResolvPoll(t *testing.T) {
	dir := t.TempDir()
	r1, r2 := filepath.Join(dir, "r1"), filepath.Join(dir, "r2")
	base := time.Now().Add(-time.Hour)
	writeFile(t, r1, "nameserver 192.0.2.1\n")
	touch(t, r1, base)
	writeFile(t, r2, "nameserver 192.0.2.2\n")
	touch(t, r2, base.Add(time.Minute))
	cfg := upstreamConfig(t, "--resolv-file="+r1, "--resolv-file="+r2)
	log, buf := upstreamLogger()
	var d dnsData
	if err := d.load(cfg, listenPlan{}, log); err != nil {
		t.Fatal(err)
	}
	table := func() string { return strings.Join(addresses(d.upstream.table), " ") }
	if got := table(); got != "192.0.2.2:53" {
		t.Fatalf("at start: %s, want the newer r2's server", got)
	}
	steps := []struct {
		name    string
		do      func()
		changed bool
		want    string
	}{
		{"nothing changed", func() {}, false, "192.0.2.2:53"},
		{"r1 rewritten: it changed last", func() {
			writeFile(t, r1, "nameserver 192.0.2.11\nnameserver 192.0.2.12\n")
			touch(t, r1, base.Add(2*time.Minute))
		}, true, "192.0.2.11:53 192.0.2.12:53"},
		{"r2 touched with the same servers, now newest", func() { touch(t, r2, base.Add(3*time.Minute)) }, true, "192.0.2.2:53"},
		{"r2 emptied", func() {
			writeFile(t, r2, "# no servers\n")
			touch(t, r2, base.Add(4*time.Minute))
		}, true, ""},
		{"still empty: read again, no change", func() {}, false, ""},
		{"r2 filled", func() {
			writeFile(t, r2, "nameserver 192.0.2.3\n")
			touch(t, r2, base.Add(5*time.Minute))
		}, true, "192.0.2.3:53"},
	}
	for _, st := range steps {
		st.do()
		if changed := d.pollResolvOnce(cfg, listenPlan{}, log); changed != st.changed {
			t.Errorf("%s: changed %v, want %v", st.name, changed, st.changed)
		}
		if got := table(); got != st.want {
			t.Errorf("%s: table %q, want %q", st.name, got, st.want)
		}
	}
	if n := strings.Count(buf.String(), "no servers found in "+r2+", will retry"); n < 2 {
		t.Errorf("the empty file was read %d times, want it read again", n)
	}
}

func TestResolvPollVanishedFileKeepsServers(t *testing.T) {
	dir := t.TempDir()
	r := filepath.Join(dir, "resolv.conf")
	writeFile(t, r, "nameserver 192.0.2.1\n")
	cfg := upstreamConfig(t, "--resolv-file="+r)
	log, buf := upstreamLogger()
	var d dnsData
	if err := d.load(cfg, listenPlan{}, log); err != nil {
		t.Fatal(err)
	}
	removeFile(t, r)
	if d.pollResolvOnce(cfg, listenPlan{}, log) {
		t.Error("a vanished file changed the servers; dnsmasq keeps them")
	}
	if got := addresses(d.upstream.table); len(got) != 1 {
		t.Errorf("table %v", got)
	}
	if !strings.Contains(buf.String(), "failed to access "+r) {
		t.Errorf("log %s", buf.String())
	}
	writeFile(t, r, "nameserver 192.0.2.5\n")
	if !d.pollResolvOnce(cfg, listenPlan{}, log) || addresses(d.upstream.table)[0] != "192.0.2.5:53" {
		t.Errorf("the file came back: %v", addresses(d.upstream.table))
	}
}

// TestNoPollReadsAtLoadOnly: with no-poll the poller does nothing and a
// load (SIGHUP) reads the file again.
func TestNoPollReadsAtLoadOnly(t *testing.T) {
	dir := t.TempDir()
	r := filepath.Join(dir, "resolv.conf")
	writeFile(t, r, "nameserver 192.0.2.1\n")
	cfg := upstreamConfig(t, "--resolv-file="+r, "--no-poll")
	log, _ := upstreamLogger()
	var d dnsData
	if err := d.load(cfg, listenPlan{}, log); err != nil {
		t.Fatal(err)
	}
	writeFile(t, r, "nameserver 192.0.2.2\n")
	m := &master{cfg: cfg, log: log}
	done := make(chan struct{})
	go func() { m.pollResolv(t.Context()); close(done) }()
	select {
	case <-done: // returns at once: nothing to poll
	case <-time.After(5 * time.Second):
		t.Fatal("pollResolv runs with no-poll")
	}
	if got := addresses(d.upstream.table); got[0] != "192.0.2.1:53" {
		t.Errorf("before SIGHUP: %v", got)
	}
	if err := d.load(cfg, listenPlan{}, log); err != nil {
		t.Fatal(err)
	}
	if got := addresses(d.upstream.table); got[0] != "192.0.2.2:53" {
		t.Errorf("after SIGHUP: %v", got)
	}
}
