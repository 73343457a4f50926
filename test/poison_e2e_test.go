package test

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// Cache poisoning end to end (issue 5): with a fixed query port, the
// worst case dnsmasq warns about, a blind attacker who floods forged
// replies at that port while a client's query waits must not get a false
// answer into the reply or the cache. The ID (16 bits) and the question's
// random case (0x20: one bit per letter) are what the attacker must
// guess; moat checks both, and the source address and port.

// poisonTarget is a name with 22 letters: 2^22 spellings.
const poisonTarget = "target%d.poisoning.example."

// TestPoisonE2EFixedPort sends 20,000 forged replies over four queries,
// once with the socket filters off (the forgeries reach dnsd, which must
// refuse them) and once with the eBPF filter (the kernel drops them: its
// wrong-ID counter must account for them).
func TestPoisonE2EFixedPort(t *testing.T) {
	for _, mode := range []string{"off", "ebpf"} {
		t.Run("socket-filter="+mode, func(t *testing.T) { poisonFixedPort(t, mode) })
	}
}

func poisonFixedPort(t *testing.T, mode string) {
	r := newPoisonRig(t)
	out := r.startPoisonMoatd(t, "socket-filter="+mode)
	const rounds, perRound = 4, 5000
	in0, drop0 := r.udpCounters()
	total := 0
	for i := range rounds {
		name := fmt.Sprintf(poisonTarget, i)
		first, again, sent := r.poisonRound(t, name, perRound, false)
		total += sent
		if first != poisonGenuine || again != poisonGenuine {
			t.Errorf("%s: answered %q, then %q from the cache; want %s (a forgery was taken)", name, first, again, poisonGenuine)
		}
	}
	in1, drop1 := r.udpCounters()
	t.Logf("%d forged replies sent; the namespace's UDP received %d datagrams, dropped %d for a full socket", total, in1-in0, drop1-drop0)
	if total != rounds*perRound {
		t.Errorf("sent %d forgeries, want %d", total, rounds*perRound)
	}
	// Most forgeries reached moat's socket, or its kernel filter: the
	// test tested something.
	if mode == "ebpf" {
		if dropped := r.filterWrongIDs(t, out); dropped < uint64(total)/2 {
			t.Errorf("the eBPF filter dropped %d of %d forgeries for a wrong ID", dropped, total)
		}
	} else if in1-in0 < uint64(total)/2 {
		t.Errorf("only %d of %d forgeries were received", in1-in0, total)
	}
	// And moat still answers.
	r.release("after.poisoning.example.")
	if got := r.n.dig("@127.0.0.1", "+short", "after.poisoning.example"); got == "" {
		t.Error("no answer after the flood")
	}
}

// TestPoisonE2EIDSweep: forged replies with every ID in turn, while one
// query waits. dnsmasq 2.90, which checks the ID and the name without
// regard to case, takes a forgery (the control: the rig can poison); moat
// does not, as the forgeries' case is wrong (a 1 in 2^22 chance per
// forgery with the right ID).
func TestPoisonE2EIDSweep(t *testing.T) {
	for _, tc := range []struct {
		resolver string
		sweeps   int // two: a forgery lost to a full socket must not decide the result
		poisoned bool
	}{{"moatd", 2, false}, {"dnsmasq", 2, true}} {
		t.Run(tc.resolver, func(t *testing.T) {
			r := newPoisonRig(t)
			if tc.resolver == "moatd" {
				r.startPoisonMoatd(t)
			} else {
				r.startPoisonDnsmasq(t)
			}
			_, drop0 := r.udpCounters()
			name := fmt.Sprintf(poisonTarget, 0)
			first, again, sent := r.poisonRound(t, name, tc.sweeps*65536, true)
			_, drop1 := r.udpCounters()
			poisoned := first == poisonForged || again == poisonForged
			t.Logf("%s: %d forgeries (every ID %d times), %d lost to a full socket: answered %q, then %q", tc.resolver, sent, tc.sweeps, drop1-drop0, first, again)
			if poisoned != tc.poisoned {
				t.Errorf("%s poisoned: %v, want %v", tc.resolver, poisoned, tc.poisoned)
			}
			if !poisoned && (first != poisonGenuine || again != poisonGenuine) {
				t.Errorf("answered %q, then %q; want %s", first, again, poisonGenuine)
			}
		})
	}
}

// BenchmarkPoisonFixedPort floods moat, then dnsmasq 2.90, with forged
// replies (POISON_PACKETS, default 1,000,000, in rounds of
// POISON_ROUND, default 20,000, one client query each) and reports how
// many were sent before the first forgery was taken, or that none was.
// Not part of make test: go test -run '^$' -bench PoisonFixedPort ./test
func BenchmarkPoisonFixedPort(b *testing.B) {
	budget := envInt("POISON_PACKETS", 1_000_000)
	perRound := envInt("POISON_ROUND", 20_000)
	for _, resolver := range []string{"moatd", "dnsmasq"} {
		b.Run(resolver, func(b *testing.B) {
			for range b.N {
				r := newPoisonRig(b)
				if resolver == "moatd" {
					r.startPoisonMoatd(b)
				} else {
					r.startPoisonDnsmasq(b)
				}
				in0, drop0 := r.udpCounters()
				total, rounds, poisoned := 0, 0, false
				for total < budget && !poisoned {
					name := fmt.Sprintf(poisonTarget, rounds)
					first, again, sent := r.poisonRound(b, name, min(perRound, budget-total), false)
					total += sent
					rounds++
					poisoned = first != poisonGenuine || again != poisonGenuine
				}
				in1, drop1 := r.udpCounters()
				b.ReportMetric(float64(total), "forged-sent")
				b.ReportMetric(float64(in1-in0-(drop1-drop0)), "datagrams-delivered")
				b.ReportMetric(float64(rounds), "queries")
				if poisoned {
					b.ReportMetric(1, "poisoned")
					b.Logf("%s: poisoned after %d forged replies over %d queries", resolver, total, rounds)
				} else {
					b.ReportMetric(0, "poisoned")
					b.Logf("%s: not poisoned by %d forged replies over %d queries", resolver, total, rounds)
				}
			}
		})
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// filterWrongIDs asks moatd (SIGUSR1) for its socket filter counters and
// returns the upstream filter's wrong-ID drops.
func (r *poisonRig) filterWrongIDs(t *testing.T, out *testutil.SyncBuffer) uint64 {
	t.Helper()
	b, err := os.ReadFile(r.pidFile)
	if err != nil {
		t.Fatalf("moatd pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("moatd pid file: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatalf("SIGUSR1: %v", err)
	}
	re := regexp.MustCompile(`socket filter counters: .*upstream_wrong_id=(\d+)`)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no socket filter counters after SIGUSR1:\n%s", out.String())
	return 0
}
