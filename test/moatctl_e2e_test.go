package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/promtext"
	"github.com/moatdns/moat/internal/testutil"
)

// Issue 6 end to end: moatctl against a real master serving DNS and DHCP,
// and /metrics scraped over HTTP (curl) before and after real dig
// queries and a udhcpc lease.

var (
	moatctlOnce sync.Once
	moatctlPath string
	moatctlErr  error
)

// moatctlBin builds cmd/moatctl once, next to the moatd binary.
func moatctlBin(t *testing.T) string {
	t.Helper()
	moatctlOnce.Do(func() {
		moatctlPath = filepath.Join(filepath.Dir(moatdBin), "moatctl")
		build := exec.Command("go", "build", "-trimpath", "-o", moatctlPath, "../cmd/moatctl")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			moatctlErr = err
			moatctlPath = string(out)
		}
	})
	if moatctlErr != nil {
		t.Fatalf("build moatctl: %v\n%s", moatctlErr, moatctlPath)
	}
	return moatctlPath
}

// moatctl runs moatctl with the socket and a verb; it returns the output
// and the exit code.
func moatctl(t *testing.T, socket, verb string, cred *syscall.Credential) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, moatctlBin(t), "-s", socket, verb)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("moatctl %s: %v", verb, err)
	}
	return string(out), code
}

// mustMoatctl runs a verb that must succeed.
func mustMoatctl(t *testing.T, socket, verb string) string {
	t.Helper()
	out, code := moatctl(t, socket, verb, nil)
	if code != 0 {
		t.Fatalf("moatctl %s: exit %d\n%s", verb, code, out)
	}
	return out
}

const moatctlConf = `port=53
interface=%IF%
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
server=127.0.0.2
dhcp-range=192.0.2.50,192.0.2.99,12h
dhcp-leasefile=%DIR%/leases
no-ping
control-socket=%DIR%/ctl
metrics=127.0.0.1:9153
`

// scrapeMetrics GETs /metrics inside n with curl and parses it strictly.
func scrapeMetrics(t *testing.T, n *netns) map[string]*promtext.Family {
	t.Helper()
	out, err := n.command("curl", "-sS", "--fail", "--max-time", "20", "http://127.0.0.1:9153/metrics").CombinedOutput()
	if err != nil {
		t.Fatalf("curl /metrics: %v\n%s", err, out)
	}
	fams, err := promtext.Parse(strings.NewReader(string(out)))
	if err != nil {
		t.Fatalf("metrics do not parse: %v\n%s", err, out)
	}
	return fams
}

// metricValue is one sample's value; the test fails without it.
func metricValue(t *testing.T, fams map[string]*promtext.Family, family string, labels map[string]string) float64 {
	t.Helper()
	f := fams[family]
	if f == nil {
		t.Fatalf("no metric family %s", family)
	}
	if labels == nil {
		labels = map[string]string{}
	}
	v, ok := f.Get(labels)
	if !ok {
		t.Fatalf("no sample %s%v", family, labels)
	}
	return v
}

// TestMoatctlAndMetrics: status, leases, cache, dump and reload over the
// control socket, and /metrics, against real DNS and DHCP traffic.
func TestMoatctlAndMetrics(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and veth pairs")
	testutil.RequireCommand(t, "busybox")
	testutil.RequireCommand(t, "curl")
	moatctlBin(t)
	l := newDHCPLink(t)
	// DNS on the interface: no IPv6 link-local address still in DAD.
	run(t, "ip", "netns", "exec", l.srv.name, "sysctl", "-q", "-w", "net.ipv6.conf."+l.srvIf+".disable_ipv6=1")
	startCountingUpstream(t, l.srv)
	conf := strings.ReplaceAll(moatctlConf, "%IF%", l.srvIf)
	m := startMoatd(t, l.srv, conf, nil)
	m.waitReady(t)
	socket := filepath.Join(m.dir, "ctl")
	waitFor(t, 10*time.Second, "dhcpd ready", func() bool { return strings.Contains(m.out.String(), "dhcpd[") })

	before := scrapeMetrics(t, l.srv)
	for _, role := range []string{"dnsd", "dhcpd"} {
		if v := metricValue(t, before, "moat_worker_up", map[string]string{"role": role}); v != 1 {
			t.Errorf("moat_worker_up{role=%s} = %v, want 1", role, v)
		}
	}

	// DNS: a miss, a hit, an NXDOMAIN from upstream.
	for i := range 2 {
		if got := strings.TrimSpace(l.srv.dig("@127.0.0.1", "+short", "long.test")); got != "192.0.2.6" {
			t.Fatalf("dig long.test #%d: %q", i+1, got)
		}
	}
	if out := l.srv.dig("@127.0.0.1", "nx.test"); !strings.Contains(out, "NXDOMAIN") {
		t.Fatalf("dig nx.test: want NXDOMAIN\n%s", out)
	}
	// DHCP: a lease with a host name.
	addr := l.udhcpcNamed(t, "ctlhost")

	out := mustMoatctl(t, socket, "status")
	for _, want := range []string{"moatd 0.1.0", "dnsd", "dhcpd", "ready", "filter(", "mnt,ipc,uts,pid", "hardening: mode root"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	pids := m.workers(t)
	if !strings.Contains(out, strconv.Itoa(pids["dnsd"])) || !strings.Contains(out, strconv.Itoa(pids["dhcpd"])) {
		t.Errorf("status does not name the workers' pids %v:\n%s", pids, out)
	}

	var leasesOut string
	waitFor(t, 10*time.Second, "the lease in moatctl leases", func() bool {
		leasesOut = mustMoatctl(t, socket, "leases")
		return strings.Contains(leasesOut, addr.String())
	})
	if !strings.Contains(leasesOut, "ctlhost") || !strings.Contains(leasesOut, "EXPIRES") || !strings.Contains(leasesOut, "1 leases") {
		t.Errorf("leases:\n%s", leasesOut)
	}

	// SIGUSR1's counters: two queries went upstream (a retry on a slow
	// machine may add to what was sent, never take away).
	out = mustMoatctl(t, socket, "cache")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^cache size 150, 0/1 cache insertions`),
		regexp.MustCompile(`(?m)^queries forwarded ([2-9]|\d\d+), queries answered locally [1-9]`),
		regexp.MustCompile(`(?m)^server 127\.0\.0\.2#53: queries sent ([2-9]|\d\d+), retried \d+, failed \d+, nxdomain replies 1,`),
	} {
		if !want.MatchString(out) {
			t.Errorf("cache does not match %v:\n%s", want, out)
		}
	}

	out = mustMoatctl(t, socket, "dump")
	var longLine string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 5 && f[0] == "long.test" && f[1] == "A" {
			longLine = line
			if ttl, err := strconv.Atoi(f[2]); err != nil || ttl <= 0 || ttl > 3600 || f[3] != "192.0.2.6" || f[4] != "4F" {
				t.Errorf("dump line %q: want TTL 1-3600, 192.0.2.6, flags 4F", line)
			}
		}
	}
	if longLine == "" || !strings.Contains(out, "NAME") {
		t.Errorf("dump lacks long.test:\n%s", out)
	}

	after := scrapeMetrics(t, l.srv)
	grew := func(family string, labels map[string]string, by float64) {
		t.Helper()
		b, a := metricValue(t, before, family, labels), metricValue(t, after, family, labels)
		if a-b < by {
			t.Errorf("%s%v went from %v to %v, want +%v", family, labels, b, a, by)
		}
	}
	grew("moat_dns_queries_total", nil, 3)
	grew("moat_dns_query_results_total", map[string]string{"result": "cache"}, 1)
	grew("moat_dns_query_results_total", map[string]string{"result": "forwarded"}, 2)
	grew("moat_dns_cache_hits_total", nil, 1)
	grew("moat_dns_cache_insertions_total", nil, 1) // the NXDOMAIN has no SOA: not cached
	grew("moat_dns_upstream_nxdomain_total", map[string]string{"server": "127.0.0.2:53"}, 1)
	// Every reply by its RCODE (the dig replies: two NOERROR, one of them
	// from the cached-answer fast path, and the NXDOMAIN).
	grew("moat_dns_responses_total", map[string]string{"rcode": "NOERROR"}, 2)
	grew("moat_dns_responses_total", map[string]string{"rcode": "NXDOMAIN"}, 1)
	if v := metricValue(t, after, "moat_dns_responses_total", map[string]string{"rcode": "SERVFAIL"}); v != 0 {
		t.Errorf("moat_dns_responses_total{rcode=SERVFAIL} = %v, want 0", v)
	}
	// Exactly one socket filter mode is active.
	var active float64
	for _, mode := range []string{"ebpf", "classic", "none"} {
		active += metricValue(t, after, "moat_socket_filter_active", map[string]string{"mode": mode})
	}
	if active != 1 {
		t.Errorf("moat_socket_filter_active: %v modes at 1, want exactly one", active)
	}
	// dhcpd's drops by reason are listed, at 0 for well-behaved clients.
	for _, reason := range []string{"short", "bad_cookie", "oversize", "not_ipv4", "panic", "ping_panic"} {
		if v := metricValue(t, after, "moat_dhcp_dropped_total", map[string]string{"reason": reason}); v != 0 {
			t.Errorf("moat_dhcp_dropped_total{reason=%s} = %v, want 0", reason, v)
		}
	}
	grew("moat_dhcp_messages_received_total", map[string]string{"type": "discover"}, 1)
	grew("moat_dhcp_messages_received_total", map[string]string{"type": "request"}, 1)
	grew("moat_dhcp_messages_sent_total", map[string]string{"type": "offer"}, 1)
	grew("moat_dhcp_messages_sent_total", map[string]string{"type": "ack"}, 1)
	if v := metricValue(t, after, "moat_dhcp_leases", map[string]string{"range": "192.0.2.50-192.0.2.99"}); v != 1 {
		t.Errorf("moat_dhcp_leases = %v, want 1", v)
	}
	if v := metricValue(t, after, "moat_worker_restarts_total", map[string]string{"role": "dnsd"}); v != 0 {
		t.Errorf("dnsd restarts = %v, want 0", v)
	}

	// reload is SIGHUP: the cache is cleared.
	out = mustMoatctl(t, socket, "reload")
	if !strings.Contains(out, "reload requested") {
		t.Errorf("reload: %q", out)
	}
	waitFor(t, 10*time.Second, "the cache cleared by reload", func() bool {
		return !strings.Contains(mustMoatctl(t, socket, "dump"), "long.test")
	})

	// The socket is root's: nobody cannot even connect.
	if fi, err := os.Stat(socket); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode: %v %v, want 0600", err, fi.Mode())
	}
	if out, code := moatctl(t, socket, "status", &syscall.Credential{Uid: 65534, Gid: 65534}); code == 0 || !strings.Contains(out, "permission denied") {
		t.Errorf("moatctl as nobody: exit %d\n%s", code, out)
	}
	// An unknown verb never reaches the master.
	if _, code := moatctl(t, socket, "shutdown", nil); code != 2 {
		t.Errorf("unknown verb: exit %d, want 2", code)
	}
}
