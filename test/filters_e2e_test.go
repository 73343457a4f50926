package test

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// End-to-end tests of area D: the query and reply filters, CHAOS names,
// log-queries=extra and SIGUSR1 statistics with dig against the real
// moatd, and local-service and add-mac between two network namespaces.

// filterZone is the fake upstream's data: private, loopback, bogus and
// ordinary addresses.
const filterZone = `
test.                 SOA   ns.test. hostmaster.test. 1 3600 600 86400 60
www.example.test.     A     192.0.2.1
www.example.test.     AAAA  2001:db8::1
pub.example.test.     A     8.8.8.8
pub.example.test.     AAAA  2606:4700::1
priv.example.test.    A     192.168.1.5
lo.example.test.      A     127.0.0.2
priv.ok.test.         A     192.168.1.6
bogus.example.test.   A     198.18.0.1
mx.example.test.      MX    10 mail.example.test.
plain.                A     192.0.2.99
1.1.168.192.in-addr.arpa. PTR router.example.test.
8.8.8.8.in-addr.arpa. PTR dns.example.test.
`

// startZoneUpstream runs the differential harness's fake upstream (see
// dnsdiff.Zone) on addr ("ip:port") inside n.
func startZoneUpstream(t *testing.T, n *netns, addr, zone string) {
	t.Helper()
	tool, err := difftoolBin()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "upstream.zone")
	if err := os.WriteFile(file, []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	serveZones(t, n, tool, []string{addr + "=" + file})
}

const filtersConf = `port=53
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
server=127.0.1.1
pid-file=%DIR%/moatd.pid
run-dir=%DIR%/run
log-queries=extra
domain-needed
bogus-priv
stop-dns-rebind
rebind-domain-ok=/ok.test/
bogus-nxdomain=198.18.0.0/15
filter-aaaa
filterwin2k
`

func TestFiltersE2E(t *testing.T) {
	n := newNetns(t)
	startZoneUpstream(t, n, "127.0.1.1:53", filterZone)
	m := startMoatd(t, n, filtersConf, nil)
	m.waitReady(t)
	tests := []struct {
		name string
		args []string
		want []string // substrings of dig's output
		not  []string
	}{
		{"forwarded", []string{"pub.example.test"}, []string{"status: NOERROR", "8.8.8.8"}, nil},
		{"test-net is private too", []string{"www.example.test"}, []string{"ANSWER: 0", "EDE: 15"}, []string{"192.0.2.1"}},
		{"domain-needed", []string{"plain"}, []string{"status: NXDOMAIN"}, []string{"192.0.2.99"}},
		{"bogus-priv", []string{"-x", "192.168.1.1"}, []string{"status: NXDOMAIN", "flags: qr aa"}, []string{"router"}},
		{"public reverse", []string{"-x", "8.8.8.8"}, []string{"dns.example.test."}, nil},
		{"rebind blocked", []string{"priv.example.test"}, []string{"status: NOERROR", "ANSWER: 0", "EDE: 15"}, []string{"192.168.1.5"}},
		{"rebind localhost", []string{"lo.example.test"}, []string{"ANSWER: 0", "EDE: 15"}, nil},
		{"rebind-domain-ok", []string{"priv.ok.test"}, []string{"192.168.1.6"}, nil},
		{"bogus-nxdomain", []string{"bogus.example.test"}, []string{"status: NXDOMAIN"}, []string{"198.18.0.1"}},
		{"filter-aaaa", []string{"pub.example.test", "AAAA"}, []string{"status: NOERROR", "ANSWER: 0", "EDE: 17"}, []string{"2606:4700::1"}},
		{"filter-aaaa leaves A", []string{"pub.example.test", "A"}, []string{"8.8.8.8"}, nil},
		{"filterwin2k SOA", []string{"example.test", "SOA"}, []string{"status: NOERROR", "ANSWER: 0", "flags: qr aa"}, nil},
		{"CHAOS version", []string{"CH", "TXT", "version.bind"}, []string{`"moat-`}, nil},
		{"CHAOS cachesize", []string{"CH", "TXT", "cachesize.bind"}, []string{`"150"`}, nil},
		{"CHAOS servers", []string{"CH", "TXT", "servers.bind"}, []string{`"127.0.1.1#53 `}, nil},
		{"CHAOS unknown", []string{"CH", "TXT", "hostname.bind"}, []string{"status: NOTIMP"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := n.dig(append([]string{"@127.0.0.1"}, tt.args...)...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("dig %v: no %q in\n%s", tt.args, w, out)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(out, w) {
					t.Errorf("dig %v: %q in\n%s", tt.args, w, out)
				}
			}
		})
	}
	// kube-dns's sidecar reads these numbers: they move with the traffic.
	misses := chaosNumber(t, n, "misses.bind")
	hits := chaosNumber(t, n, "hits.bind")
	n.dig("@127.0.0.1", "pub.example.test") // cached now
	if got := chaosNumber(t, n, "hits.bind"); got < hits+2 {
		t.Errorf("hits.bind %d after a cache hit and a CHAOS answer, was %d", got, hits)
	}
	n.dig("@127.0.0.1", "fresh.example.test")
	if got := chaosNumber(t, n, "misses.bind"); got != misses+1 {
		t.Errorf("misses.bind %d after one forwarded query, was %d", got, misses)
	}

	// log-queries=extra: serial, client address/port, then dnsmasq's line.
	extra := regexp.MustCompile(`(?m)dnsd\[\d+\]: (\d+) 127\.0\.0\.1/\d+ query\[A\] pub\.example\.test from 127\.0\.0\.1$`)
	waitFor(t, 5*time.Second, "log-queries=extra lines", func() bool { return extra.MatchString(m.out.String()) })
	serial := extra.FindStringSubmatch(m.out.String())[1]
	for _, line := range []string{
		serial + " 127.0.0.1/", " forwarded pub.example.test to 127.0.1.1", " reply pub.example.test is 8.8.8.8",
		"possible DNS-rebind attack detected: priv.example.test",
		" config plain is NXDOMAIN", " config 192.168.1.1 is NXDOMAIN", " config pub.example.test is NODATA-IPv6",
		" config version.bind is <TXT>",
	} {
		if !strings.Contains(m.out.String(), line) {
			t.Errorf("log has no %q", line)
		}
	}

	// SIGUSR1: the statistics in dnsmasq's words.
	if err := m.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	stats := []*regexp.Regexp{
		regexp.MustCompile(`master\[\d+\]: time \d+\n`),
		regexp.MustCompile(`master\[\d+\]: cache size 150, 0/\d+ cache insertions re-used unexpired cache entries\.\n`),
		regexp.MustCompile(`master\[\d+\]: queries forwarded [1-9]\d*, queries answered locally [1-9]\d*\n`),
		regexp.MustCompile(`master\[\d+\]: server 127\.0\.1\.1#53: queries sent [1-9]\d*, retried \d+, failed 0, nxdomain replies \d+, avg\. latency \d+ms\n`),
	}
	waitFor(t, 5*time.Second, "SIGUSR1 statistics in the log", func() bool {
		for _, re := range stats {
			if !re.MatchString(m.out.String()) {
				return false
			}
		}
		return true
	})
	if strings.Contains(m.out.String(), "protocol-violation") {
		t.Error("the statistics exchange was taken for a protocol violation")
	}
}

// chaosNumber asks a CHAOS TXT counter.
func chaosNumber(t *testing.T, n *netns, name string) int {
	t.Helper()
	out := strings.Trim(strings.TrimSpace(n.dig("@127.0.0.1", "+short", "CH", "TXT", name)), `"`)
	var v int
	if _, err := fmt.Sscanf(out, "%d", &v); err != nil {
		t.Fatalf("CH TXT %s: %q is not a number", name, out)
	}
	return v
}

// linkedPair makes a client namespace joined to a server namespace by a
// veth pair: server 10.77.0.1/24, client 10.77.0.2/24 plus 10.88.0.2,
// which is on no network the server has (the server routes it back over
// the link, so it can answer, which local-service must not).
func linkedPair(t *testing.T) (server, client *netns) {
	t.Helper()
	server, client = newNetns(t), newNetns(t)
	run(t, "ip", "link", "add", "mdv0", "netns", server.name, "type", "veth", "peer", "name", "mdv1", "netns", client.name)
	run(t, "ip", "-n", server.name, "addr", "add", "10.77.0.1/24", "dev", "mdv0")
	run(t, "ip", "-n", server.name, "link", "set", "mdv0", "up")
	run(t, "ip", "-n", server.name, "route", "add", "10.88.0.0/24", "dev", "mdv0")
	run(t, "ip", "-n", client.name, "addr", "add", "10.77.0.2/24", "dev", "mdv1")
	run(t, "ip", "-n", client.name, "addr", "add", "10.88.0.2/32", "dev", "mdv1")
	run(t, "ip", "-n", client.name, "link", "set", "mdv1", "up")
	return server, client
}

// localServiceConf listens on every address (local-service applies only
// then); the upstream is on another port, as a wildcard socket on port 53
// excludes it.
const localServiceConf = `port=53
no-resolv
no-hosts
server=127.0.1.1#5300
pid-file=%DIR%/moatd.pid
run-dir=%DIR%/run
`

func TestLocalServiceE2E(t *testing.T) {
	for _, tt := range []struct {
		mode          string
		local, remote bool // answered from 10.77.0.2 / from 10.88.0.2
	}{
		{"local-service", true, false},
		{"local-service=host", false, false},
		{"", true, true},
	} {
		t.Run(cmp.Or(tt.mode, "no local-service"), func(t *testing.T) {
			server, client := linkedPair(t)
			startZoneUpstream(t, server, "127.0.1.1:5300", filterZone)
			m := startMoatd(t, server, localServiceConf+tt.mode+"\n", nil)
			m.waitReady(t)
			if out := server.dig("@127.0.0.1", "+short", "pub.example.test"); strings.TrimSpace(out) != "8.8.8.8" {
				t.Errorf("loopback client not answered: %q", out)
			}
			for _, c := range []struct {
				src  string
				want bool
			}{{"10.77.0.2", tt.local}, {"10.88.0.2", tt.remote}} {
				out := client.dig("-b", c.src, "@10.77.0.1", "+short", "pub.example.test")
				if got := strings.TrimSpace(out) == "8.8.8.8"; got != c.want {
					t.Errorf("client %s: answered %v, want %v (dig: %q)", c.src, got, c.want, out)
				}
			}
			if !tt.remote {
				waitFor(t, 5*time.Second, "the refusal logged", func() bool {
					return strings.Contains(m.out.String(), "ignoring query from non-local network ")
				})
			}
		})
	}
}

// TestAddMACE2E: the master reads the server's neighbour table and dnsd
// puts the client's MAC on the queries it forwards (option 65001).
func TestAddMACE2E(t *testing.T) {
	server, client := linkedPair(t)
	run(t, "ip", "-n", client.name, "link", "set", "mdv1", "address", "02:00:5e:10:20:30")
	startZoneUpstream(t, server, "127.0.1.1:5300", filterZone)
	m := startMoatd(t, server, localServiceConf+"add-mac\nadd-mac=text\n", nil)
	m.waitReady(t)
	// The master refreshes its neighbour table every few seconds; ask new
	// names until a forwarded query carries the option.
	i := 0
	waitFor(t, 25*time.Second, "a forwarded query with the client's MAC", func() bool {
		i++
		client.dig("-b", "10.77.0.2", "@10.77.0.1", fmt.Sprintf("n%d.example.test", i))
		asked := server.dig("@127.0.1.1", "-p", "5300", "+tcp", "+short", "CH", "TXT", "stats.difftool.")
		return strings.Contains(asked, "/opt65001") && strings.Contains(asked, "/opt65073")
	})
}
