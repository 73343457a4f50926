package test

import (
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// End-to-end tests of area B: the cache options against the real moatd
// and dig, with dnsmasq as the upstream, whose log-queries lines count
// the queries that reached it.

// countingUpstream is a dnsmasq upstream at 127.0.0.2:53 that logs every
// query. Its data: short.test (TTL 2), long.test, tcp.test and
// ready.test (TTL 3600), NXDOMAIN without an SOA for nx.test and below.
type countingUpstream struct {
	out *testutil.SyncBuffer
}

func startCountingUpstream(t *testing.T, n *netns) *countingUpstream {
	t.Helper()
	dir := t.TempDir()
	cmd := n.command("dnsmasq", "--keep-in-foreground", "--log-facility=-", "--log-queries", "--port=53",
		"--listen-address=127.0.0.2", "--bind-interfaces", "--no-resolv", "--no-hosts",
		"--conf-file=/dev/null", "--pid-file="+filepath.Join(dir, "dnsmasq.pid"),
		"--host-record=short.test,192.0.2.5,2", "--host-record=long.test,192.0.2.6,3600",
		"--host-record=tcp.test,192.0.2.6,3600", "--host-record=ready.test,192.0.2.6,3600", "--address=/nx.test/")
	u := &countingUpstream{out: &testutil.SyncBuffer{}}
	cmd.Stdout, cmd.Stderr = u.out, u.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitFor(t, 5*time.Second, "dnsmasq upstream answers", func() bool {
		return strings.TrimSpace(n.dig("@127.0.0.2", "+short", "ready.test")) == "192.0.2.6"
	})
	return u
}

// queries counts the A queries for name the upstream has seen, in any
// case (moat spells upstream queries at random, 0x20).
func (u *countingUpstream) queries(name string) int {
	return strings.Count(strings.ToLower(u.out.String()), "query[a] "+strings.ToLower(name)+" from")
}

// cacheConf serves 127.0.0.1:53 and forwards everything to 127.0.0.2.
// log-queries is off: that is the configuration the fast path serves.
const cacheConf = `port=53
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
server=127.0.0.2
pid-file=%DIR%/moatd.pid
run-dir=%DIR%/run
`

// digTTL asks for name and returns the answer's address and TTL.
func digTTL(t *testing.T, n *netns, args ...string) (addr string, ttl int, ok bool) {
	t.Helper()
	out := n.dig(append([]string{"@127.0.0.1", "+noall", "+answer"}, args...)...)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && f[3] == "A" {
			v, err := strconv.Atoi(f[1])
			return f[4], v, err == nil
		}
	}
	return "", 0, false
}

func startCacheStack(t *testing.T, extra string) (*netns, *moatd, *countingUpstream) {
	t.Helper()
	n := newNetns(t)
	up := startCountingUpstream(t, n)
	m := startMoatd(t, n, cacheConf+extra, nil)
	m.waitReady(t)
	waitFor(t, 5*time.Second, "first answer", func() bool {
		a, _, ok := digTTL(t, n, "ready.test")
		return ok && a == "192.0.2.6"
	})
	return n, m, up
}

// TestCacheE2EUpstreamSeesOneQuery: repeated client queries, in any case
// and over TCP too, reach the upstream once; SIGHUP clears the cache.
func TestCacheE2EUpstreamSeesOneQuery(t *testing.T) {
	n, m, up := startCacheStack(t, "")
	for i, name := range []string{"long.test", "long.test", "LONG.test", "lOnG.TeSt", "long.test", "long.test"} {
		a, ttl, ok := digTTL(t, n, name)
		if !ok || a != "192.0.2.6" || ttl > 3600 || ttl < 3590 {
			t.Fatalf("query %d (%s): %s TTL %d (ok %v)", i, name, a, ttl, ok)
		}
	}
	if got := up.queries("long.test"); got != 1 {
		t.Errorf("upstream saw %d queries for long.test, want 1", got)
	}
	// An answer fetched over TCP is cached and serves UDP clients.
	for range 3 {
		if a, _, ok := digTTL(t, n, "+tcp", "tcp.test"); !ok || a != "192.0.2.6" {
			t.Fatalf("TCP answer %q", a)
		}
	}
	if a, _, ok := digTTL(t, n, "tcp.test"); !ok || a != "192.0.2.6" {
		t.Fatalf("UDP answer %q", a)
	}
	if got := up.queries("tcp.test"); got != 1 {
		t.Errorf("upstream saw %d queries for tcp.test, want 1 (the TCP answer cached)", got)
	}
	// SIGHUP clears the cache, as in dnsmasq.
	if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the cache cleared by SIGHUP", func() bool {
		digTTL(t, n, "long.test")
		return up.queries("long.test") == 2
	})
}

// TestCacheE2EOptions runs each cache option through moatd and dig.
func TestCacheE2EOptions(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		run   func(t *testing.T, n *netns, up *countingUpstream)
	}{
		{"cache-size=0 caches nothing", "cache-size=0\n", func(t *testing.T, n *netns, up *countingUpstream) {
			digTTL(t, n, "long.test")
			digTTL(t, n, "long.test")
			if got := up.queries("long.test"); got != 2 {
				t.Errorf("upstream saw %d queries, want 2", got)
			}
		}},
		{"nxdomain without soa is not cached", "", func(t *testing.T, n *netns, up *countingUpstream) {
			n.dig("@127.0.0.1", "a.nx.test")
			n.dig("@127.0.0.1", "a.nx.test")
			if got := up.queries("a.nx.test"); got != 2 {
				t.Errorf("upstream saw %d queries, want 2", got)
			}
		}},
		{"neg-ttl caches it", "neg-ttl=60\n", func(t *testing.T, n *netns, up *countingUpstream) {
			for range 3 {
				if out := n.dig("@127.0.0.1", "a.nx.test"); !strings.Contains(out, "status: NXDOMAIN") {
					t.Fatalf("not NXDOMAIN:\n%s", out)
				}
			}
			if got := up.queries("a.nx.test"); got != 1 {
				t.Errorf("upstream saw %d queries, want 1", got)
			}
		}},
		{"no-negcache wins over neg-ttl", "neg-ttl=60\nno-negcache\n", func(t *testing.T, n *netns, up *countingUpstream) {
			n.dig("@127.0.0.1", "a.nx.test")
			n.dig("@127.0.0.1", "a.nx.test")
			if got := up.queries("a.nx.test"); got != 2 {
				t.Errorf("upstream saw %d queries, want 2", got)
			}
		}},
		{"max-ttl caps every answer", "max-ttl=10\n", func(t *testing.T, n *netns, up *countingUpstream) {
			for i := range 3 {
				if _, ttl, ok := digTTL(t, n, "long.test"); !ok || ttl != 10 {
					t.Errorf("answer %d: TTL %d, want 10", i, ttl)
				}
			}
			if got := up.queries("long.test"); got != 1 {
				t.Errorf("upstream saw %d queries, want 1", got)
			}
		}},
		{"min-cache-ttl keeps short answers", "min-cache-ttl=600\n", func(t *testing.T, n *netns, up *countingUpstream) {
			if _, ttl, _ := digTTL(t, n, "short.test"); ttl != 2 {
				t.Errorf("forwarded answer TTL %d, want the upstream's 2", ttl)
			}
			time.Sleep(3 * time.Second) // past the upstream's TTL
			if _, ttl, _ := digTTL(t, n, "short.test"); ttl < 590 || ttl > 600 {
				t.Errorf("cached answer TTL %d, want about 597", ttl)
			}
			if got := up.queries("short.test"); got != 1 {
				t.Errorf("upstream saw %d queries, want 1", got)
			}
		}},
		{"max-cache-ttl expires long answers early", "max-cache-ttl=1\n", func(t *testing.T, n *netns, up *countingUpstream) {
			digTTL(t, n, "long.test")
			time.Sleep(2 * time.Second)
			digTTL(t, n, "long.test")
			if got := up.queries("long.test"); got != 2 {
				t.Errorf("upstream saw %d queries, want 2", got)
			}
		}},
		{"use-stale-cache answers at once and refreshes", "use-stale-cache\n", func(t *testing.T, n *netns, up *countingUpstream) {
			digTTL(t, n, "short.test")
			time.Sleep(3 * time.Second) // expired
			if a, ttl, ok := digTTL(t, n, "short.test"); !ok || a != "192.0.2.5" || ttl != 0 {
				t.Errorf("stale answer %s TTL %d (ok %v), want TTL 0", a, ttl, ok)
			}
			waitFor(t, 5*time.Second, "the refresh upstream", func() bool { return up.queries("short.test") == 2 })
			waitFor(t, 5*time.Second, "a fresh answer", func() bool {
				_, ttl, ok := digTTL(t, n, "short.test")
				return ok && ttl > 0
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, _, up := startCacheStack(t, tt.extra)
			tt.run(t, n, up)
		})
	}
}
