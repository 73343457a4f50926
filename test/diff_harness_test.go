package test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
	"github.com/moatdns/moat/test/internal/dnsdiff"
)

// The differential harness: moatd and dnsmasq 2.90 run side by side in one
// network namespace with the same configuration, each with its own fake
// upstream servers holding the same data, and answer the same queries;
// the replies are compared field by field (dnsdiff.Compare), with what
// the upstreams were asked (and, on request, from which source address
// and port), and so are the log-queries lines both write about them
// (diff_logs_test.go) and their SIGUSR1 output (diff_usr1_test.go).
// Remote scenarios put the client in a namespace of its own
// (diff_remote_test.go), for local-service and add-mac.
//
// Adding a scenario: in a test/diff_<topic>_test.go file,
//
//	var _ = addDiffScenarios(diffScenario{
//		name:    "mx-host",
//		conf:    "mx-host=example.test,mail.example.test,5\n",
//		queries: []string{"+ttl=exact example.test MX", "+tcp example.test MX"},
//		known: known("+tcp example.test MX", deliberate,
//			"why moat answers differently", "answer", "flags"),
//	})
//
// and run `go test ./test -run 'TestDiff/mx-host' -v` (as root). Query
// specs ("+tcp +edns=4096 name TYPE CLASS") are documented on
// dnsdiff.Query; lines starting with "!" are actions (!sighup, !sigusr1,
// !sleep, !write; see diffRun.act). DIFF_OUTPUT=1 shows both servers'
// logs of passing scenarios too; DIFF_LOGS=1 compares the logs of
// scenarios that have noLogs set. The upstream data is defaultZone unless the
// scenario brings its own zones. Where moat differs from dnsmasq on
// purpose, or by a bug not fixed yet, list the difference in known with
// the reason: the test passes while the difference is there and fails
// once it is gone, so that the list stays true; `go test ./test -run
// CompatibilityDoc -update` then rewrites the list in
// docs/compatibility.md.

// update makes the documentation tests rewrite their generated sections
// of docs/compatibility.md instead of checking them.
var update = flag.Bool("update", false, "rewrite the generated sections of docs/compatibility.md")

// diffScenario is one configuration and the queries both servers answer.
type diffScenario struct {
	name string
	// conf holds option lines both servers get, after the harness's own
	// (port, listen-address, bind-interfaces, no-resolv, no-hosts,
	// log-queries, pid-file). %DIR% is the directory of files; %UP1% ..
	// %UP9% are the fake upstream servers (each side has its own set);
	// %LISTEN% is the server's own address; %SIDE% is "moat" or
	// "dnsmasq", for files each side has its own copy of.
	conf string
	// onlyMoat and onlyDnsmasq are lines for one side alone: a spelling
	// only moat accepts (filter-aaaa), or moat's own options.
	onlyMoat, onlyDnsmasq string
	// files are written into %DIR% before the servers start. A name
	// with %SIDE% is written once per side, with %UPn% in the text
	// replaced by that side's upstream addresses.
	files map[string]string
	// resolv leaves out the harness's no-resolv, for resolv-file.
	resolv bool
	// remote puts the client in a namespace of its own, joined to the
	// servers' by a veth link (see remoteSides): queries come from
	// 10.77.0.2 (the servers' subnet) or, with +from=10.88.0.2, from a
	// network the servers have no interface on. Both servers then listen
	// on every address (no listen-address), on ports of their own, as
	// local-service wants.
	remote bool
	// The two servers' log-queries lines are compared too (see
	// compareLogs); logKnown lists lines one side writes and the other
	// does not, with the reason. noLogs, a reason, turns the comparison
	// off where the logs only repeat the known differences of the
	// answers (a retry, a cache hit on one side).
	logKnown []logKnown
	noLogs   string
	// upstreams are the zones (zone-file text, see dnsdiff.Zone) of
	// %UP1%, %UP2%, ... When nil there is one upstream with defaultZone
	// and the harness adds "server=%UP1%".
	upstreams []string
	// queries run in order; "!..." lines are actions.
	queries []string
	// known are the differences this scenario expects.
	known []knownDiff
}

// knownDiff is a difference between moat and dnsmasq a scenario expects.
type knownDiff struct {
	query  string // a query spec of the scenario, or "*" for all of them
	field  string // a dnsdiff.Field* name
	kind   diffKind
	reason string
	// applies, when set, narrows the entry to the differences it accepts.
	applies func(dnsdiff.Diff) bool
}

type diffKind string

// known lists one difference of a query that shows on several fields.
func known(query string, kind diffKind, reason string, fields ...string) []knownDiff {
	out := make([]knownDiff, 0, len(fields))
	for _, f := range fields {
		out = append(out, knownDiff{query: query, field: f, kind: kind, reason: reason})
	}
	return out
}

const (
	// deliberate: moat differs on purpose (dnsmasq's behaviour is a bug or
	// a weakness, or moat implements a requirement dnsmasq does not).
	deliberate diffKind = "deliberate"
	// openBug: moat is wrong and must be fixed; listed so that the suite
	// stays green meanwhile and the lead sees it in docs/compatibility.md.
	openBug diffKind = "bug (to fix)"
)

// globalKnown are differences any scenario may show. They are not
// required to occur.
var globalKnown = []knownDiff{
	{query: "*", field: dnsdiff.FieldUpstreamFlags, kind: deliberate,
		reason: "moat always offers EDNS0 (its edns-packet-max) upstream, so that answers up to that size come back over UDP whole and can be cached for the clients that use EDNS; dnsmasq 2.90 adds EDNS upstream only when the client used it",
		// Only that: moat's EDNS where dnsmasq sent none, nothing else.
		applies: func(d dnsdiff.Diff) bool { return plainEDNS.ReplaceAllString(d.A, " noedns$1") == d.B }},
}

// plainEDNS is an upstream query line's EDNS without DO or options (at
// the end, or before the source the line may show).
var plainEDNS = regexp.MustCompile(`(?m) edns=v0/\d+( \| from |$)`)

var (
	diffMu        sync.Mutex
	diffScenarios []diffScenario
)

// addDiffScenarios registers scenarios for TestDiff. It returns nothing
// useful; it exists to be called from a package-level var.
func addDiffScenarios(s ...diffScenario) bool {
	diffMu.Lock()
	defer diffMu.Unlock()
	diffScenarios = append(diffScenarios, s...)
	return true
}

// defaultZone is the upstream data of scenarios that bring none.
var defaultZone = `
test.                         SOA   ns.test. hostmaster.test. 1 3600 600 86400 60
example.test.                 NS    ns.test.
www.example.test.             A     192.0.2.1
www.example.test.             AAAA  2001:db8::1
alias.example.test.           CNAME www.example.test.
chain.example.test.           CNAME alias.example.test.
dangling.example.test.        CNAME nowhere.example.test.
mx.example.test.              MX    10 mail.example.test.
mail.example.test.            A     192.0.2.25
txt.example.test.             TXT   "hello" "world"
_sip._udp.example.test.       SRV   10 5 5060 sip.example.test.
short.example.test.     2     A     192.0.2.2
zero.example.test.      0     A     192.0.2.3
MiXeD.example.test.           A     192.0.2.9
typed.example.test.           TYPE65400 \# 4 01020304
caa.example.test.             CAA   0 issue "ca.test"
*.wild.example.test.          A     192.0.2.77
nodata.example.test.          TXT   "only TXT here"
2.0.192.in-addr.arpa.         SOA   ns.test. hostmaster.test. 1 3600 600 86400 60
1.2.0.192.in-addr.arpa.       PTR   www.example.test.
` + bigZone()

// bigZone gives big.example.test 40 TXT records of 100 bytes (about 4 KB:
// more than 512 and 1232 bytes, less than 4096 only without compression
// savings) and many.example.test 30 A records (about 500 bytes).
func bigZone() string {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "big.example.test. TXT \"%02d-%s\"\n", i, strings.Repeat("x", 97))
	}
	for i := range 30 {
		fmt.Fprintf(&b, "many.example.test. A 198.51.100.%d\n", i+1)
	}
	return b.String()
}

// TestDiff runs every registered scenario as a subtest.
func TestDiff(t *testing.T) {
	diffMu.Lock()
	scenarios := append([]diffScenario(nil), diffScenarios...)
	diffMu.Unlock()
	requireDnsmasq(t)
	seen := map[string]bool{}
	for _, sc := range scenarios {
		if seen[sc.name] {
			t.Fatalf("two scenarios named %q", sc.name)
		}
		seen[sc.name] = true
		t.Run(sc.name, func(t *testing.T) { runDiffScenario(t, sc) })
	}
}

func requireDnsmasq(t *testing.T) {
	t.Helper()
	testutil.RequireCommand(t, "dnsmasq")
}

// difftoolBin builds the namespace-side helper once, next to moatd (whose
// directory TestMain removes).
var difftoolBin = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(filepath.Dir(moatdBin), "difftool")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./internal/difftool")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build difftool: %v\n%s", err, out)
	}
	return bin, nil
})

// diffRun is one scenario's running stack.
type diffRun struct {
	t       *testing.T
	n       *netns
	client  *netns // where queries come from: n unless remote
	tool    string
	dir     string
	side    [2]diffSide // moat, dnsmasq
	sc      diffScenario
	moat    *moatd
	dnsmasq *exec.Cmd
	dnsOut  *testutil.SyncBuffer
	sides   []dnsdiff.Side
}

func runDiffScenario(t *testing.T, sc diffScenario) {
	tool, err := difftoolBin()
	if err != nil {
		t.Fatal(err)
	}
	checkKnown(t, sc)
	start := time.Now()
	r := &diffRun{t: t, tool: tool, side: [2]diffSide{moatSide, dnsmasqSide}, sc: sc}
	zones := sc.upstreams
	if zones == nil {
		zones = []string{defaultZone}
	}
	if sc.remote {
		r.n, r.client = linkedPair(t)
		r.side[0], r.side[1] = remoteSides()
		r.remoteUpstreamAddrs(len(zones))
	} else {
		r.n = newNetns(t)
		r.client = r.n
	}
	n := r.n
	r.dir = diffDir(t)
	for name, content := range sc.files {
		r.writeFile(name, content)
	}
	if len(zones) > 0 {
		r.startUpstreams(zones)
	}
	r.moat = startMoatd(t, n, r.side[0].config(sc, r.dir, "pid-file=%DIR%/moatd.pid\nrun-dir=%DIR%/run\n"+sc.onlyMoat), nil)
	r.startDnsmasq(r.side[1].config(sc, r.dir, "pid-file=%DIR%/dnsmasq.pid\n"+sc.onlyDnsmasq))
	r.moat.waitReady(t)
	// The probe runs in the servers' namespace: a wildcard server is
	// asked on loopback, which local-service=host accepts.
	probe := func(s diffSide) string {
		if s.wildcard {
			return fmt.Sprintf("127.0.0.1:%d", s.port)
		}
		return s.server()
	}
	if out, err := n.command(tool, "probe", probe(r.side[0]), probe(r.side[1])).CombinedOutput(); err != nil {
		t.Fatalf("servers not answering: %v\n%s\ndnsmasq output:\n%s", err, out, r.dnsOut.String())
	}
	for _, s := range r.side {
		r.sides = append(r.sides, dnsdiff.Side{Name: s.name, Server: s.server(), Upstreams: s.upstreamAddrs(len(zones))})
	}

	ready := time.Since(start)
	var outcomes []dnsdiff.Outcome
	var batch []string
	flush := func() {
		if len(batch) > 0 {
			outcomes = append(outcomes, r.query(batch)...)
			batch = nil
		}
	}
	for _, line := range sc.queries {
		if action, ok := strings.CutPrefix(line, "!"); ok {
			flush()
			r.act(action)
			continue
		}
		batch = append(batch, line)
	}
	flush()
	t.Logf("e2e: diff %s: both servers ready after %v, %d queries answered in %v", sc.name,
		ready.Round(time.Millisecond), len(outcomes), (time.Since(start) - ready).Round(time.Millisecond))
	r.compare(sc, outcomes)
	// DIFF_LOGS=1 compares the logs of every scenario, noLogs or not.
	if sc.noLogs == "" || os.Getenv("DIFF_LOGS") != "" {
		r.compareLogs(sc)
	}
	// DIFF_OUTPUT=1 shows both servers' logs of passing scenarios too.
	if t.Failed() || os.Getenv("DIFF_OUTPUT") != "" {
		t.Logf("dnsmasq output:\n%s", r.dnsOut.String())
	}
	if !t.Failed() && os.Getenv("DIFF_OUTPUT") != "" {
		t.Logf("moatd output:\n%s", r.moat.out.String())
	}
}

// checkKnown catches typos in a scenario's known differences, which
// would otherwise match nothing and fail confusingly.
func checkKnown(t *testing.T, sc diffScenario) {
	t.Helper()
	for _, k := range sc.known {
		if k.query != "*" && !slices.Contains(sc.queries, k.query) {
			t.Fatalf("scenario %s: known difference names query %q, which the scenario does not send", sc.name, k.query)
		}
		if !slices.Contains(dnsdiff.AllFields, k.field) {
			t.Fatalf("scenario %s: known difference names field %q; fields are %v", sc.name, k.field, dnsdiff.AllFields)
		}
		if k.reason == "" || (k.kind != deliberate && k.kind != openBug) {
			t.Fatalf("scenario %s: known difference on %q needs a kind and a reason", sc.name, k.query)
		}
	}
}

// diffDir makes the files' directory, readable by dnsmasq after it drops
// to nobody (t.TempDir's parent is private to root).
func diffDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "moat-diff-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeFile writes a file of %DIR%; a name with %SIDE% is written once
// per side, with that side's addresses in it.
func (r *diffRun) writeFile(name, content string) {
	r.t.Helper()
	if strings.Contains(name, "%SIDE%") {
		for _, s := range r.side {
			r.writeOneFile(s.expand(name, r.dir), s.expand(content, r.dir))
		}
		return
	}
	r.writeOneFile(name, content)
}

func (r *diffRun) writeOneFile(name, content string) {
	r.t.Helper()
	path := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// altUpstreamPort is the second port every fake upstream answers on,
// for server=ip#port (the upstream lines then say "udp#5353").
const altUpstreamPort = ":5353"

// startUpstreams runs one difftool serving every zone on both sides'
// addresses; it exits when its stdin closes.
func (r *diffRun) startUpstreams(zones []string) {
	t := r.t
	var args []string
	for i, z := range zones {
		file := filepath.Join(r.dir, fmt.Sprintf("upstream%d.zone", i+1))
		if err := os.WriteFile(file, []byte(z), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, s := range r.side {
			// Each upstream answers on port 53 and on altUpstreamPort.
			addr := s.upstreamAddrs(len(zones))[i]
			args = append(args, addr+","+strings.TrimSuffix(addr, ":53")+altUpstreamPort+"="+file)
		}
	}
	serveZones(t, r.n, r.tool, args)
}

// serveZones runs difftool serving each "addr=zonefile" argument inside n
// until the test ends (it exits when its stdin closes).
func serveZones(t *testing.T, n *netns, tool string, args []string) {
	t.Helper()
	cmd := n.command(tool, append([]string{"serve"}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start fake upstreams: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(2 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	waitFor(t, 5*time.Second, "fake upstreams ready", func() bool {
		select {
		case <-exited:
			t.Fatalf("fake upstreams exited: %s", out.String())
		default:
		}
		return strings.Contains(out.String(), "ready")
	})
}

func (r *diffRun) startDnsmasq(conf string) {
	t := r.t
	path := filepath.Join(r.dir, "dnsmasq.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r.dnsOut = &testutil.SyncBuffer{}
	r.dnsmasq = r.n.command("dnsmasq", "--keep-in-foreground", "--log-facility=-", "--conf-file="+path)
	r.dnsmasq.Stdout, r.dnsmasq.Stderr = r.dnsOut, r.dnsOut
	if err := r.dnsmasq.Start(); err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = r.dnsmasq.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = r.dnsmasq.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			_ = r.dnsmasq.Process.Kill()
			<-exited
		}
	})
}

// query sends a batch through difftool inside the namespace.
func (r *diffRun) query(specs []string) []dnsdiff.Outcome {
	t := r.t
	for _, s := range specs {
		if _, err := dnsdiff.ParseQuery(s); err != nil {
			t.Fatalf("scenario: %v", err)
		}
	}
	const perQuery = time.Second
	in, err := json.Marshal(dnsdiff.Batch{Sides: r.sides, Queries: specs, Timeout: perQuery})
	if err != nil {
		t.Fatal(err)
	}
	// Each query may time out on each side, and asks each upstream once.
	limit := 10*time.Second + time.Duration(len(specs))*4*perQuery
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", r.client.name, r.tool, "query")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("difftool query: %v\n%s", err, stderr.String())
	}
	var outcomes []dnsdiff.Outcome
	if err := json.Unmarshal(out, &outcomes); err != nil {
		t.Fatalf("difftool query output: %v\n%s", err, out)
	}
	return outcomes
}

// act performs an action line (without its "!"):
//
//	!sighup            SIGHUP to both servers, then half a second for the reload
//	!sigusr1           SIGUSR1 to both servers; their statistics and cache
//	                   dumps are compared (diff_usr1_test.go)
//	!sleep DURATION    wait (TTL expiry), at most 10s
//	!write NAME TEXT   (re)write a file in %DIR%; "\n" in TEXT is a newline;
//	                   NAME may hold %SIDE% and TEXT %UPn% (see diffScenario.files)
func (r *diffRun) act(action string) {
	t := r.t
	verb, arg, _ := strings.Cut(action, " ")
	switch verb {
	case "sighup":
		for _, p := range []*os.Process{r.moat.cmd.Process, r.dnsmasq.Process} {
			if err := p.Signal(syscall.SIGHUP); err != nil {
				t.Fatalf("SIGHUP: %v", err)
			}
		}
		time.Sleep(500 * time.Millisecond)
	case "sigusr1":
		r.sigusr1() // diff_usr1_test.go
	case "sleep":
		d, err := time.ParseDuration(arg)
		if err != nil || d > 10*time.Second {
			t.Fatalf("scenario: !sleep %q: want a duration up to 10s (%v)", arg, err)
		}
		time.Sleep(d)
	case "write":
		name, text, _ := strings.Cut(arg, " ")
		r.writeFile(name, strings.ReplaceAll(text, `\n`, "\n"))
	default:
		t.Fatalf("scenario: unknown action !%s", action)
	}
}

// compare reports every difference no known entry explains, and every
// known entry no longer seen.
func (r *diffRun) compare(sc diffScenario, outcomes []dnsdiff.Outcome) {
	t := r.t
	used := make([]bool, len(sc.known))
	var report strings.Builder
	shown := 0
	for n, o := range outcomes {
		if len(o.Results) != 2 {
			t.Fatalf("query %q: %d results, want 2", o.Query, len(o.Results))
		}
		q, err := dnsdiff.ParseQuery(o.Query)
		if err != nil {
			t.Fatal(err)
		}
		var unexpected []dnsdiff.Diff
		for _, d := range dnsdiff.Compare(q, o.Results[0], o.Results[1]) {
			explained := false
			for i, k := range sc.known {
				if (k.query == "*" || k.query == o.Query) && k.field == d.Field && (k.applies == nil || k.applies(d)) {
					used[i], explained = true, true
					t.Logf("known difference (%s) on %q, %s: moat %q, dnsmasq %q: %s", k.kind, o.Query, d.Field, d.A, d.B, k.reason)
				}
			}
			for _, k := range globalKnown {
				if !explained && k.field == d.Field && (k.applies == nil || k.applies(d)) {
					explained = true
					t.Logf("known difference (%s, every scenario) on %q, %s: %s", k.kind, o.Query, d.Field, k.reason)
				}
			}
			if !explained {
				unexpected = append(unexpected, d)
			}
		}
		if len(unexpected) == 0 {
			continue
		}
		fmt.Fprintf(&report, "\nquery #%d %q differs:\n", n+1, o.Query)
		for _, d := range unexpected {
			fmt.Fprintf(&report, "  %s:\n    moat:    %s\n    dnsmasq: %s\n", d.Field,
				strings.ReplaceAll(d.A, "\n", "\n             "), strings.ReplaceAll(d.B, "\n", "\n             "))
		}
		// Whole replies for the first few; the rest would drown them.
		if shown++; shown <= 5 {
			report.WriteString(dnsdiff.SideBySide("moat", "dnsmasq 2.90", o.Results[0], o.Results[1]))
		}
	}
	if report.Len() > 0 {
		t.Errorf("moat and dnsmasq answer differently (if on purpose, add a knownDiff with the reason):%s", report.String())
	}
	for i, k := range sc.known {
		if !used[i] {
			t.Errorf("known difference on %q (%s) no longer occurs: remove it from the scenario and run go test ./test -run CompatibilityDoc -update", k.query, k.field)
		}
	}
}
