package test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/testutil"
)

// The poisoning rig (issue 5): in a network namespace of its own, a
// resolver under test (moatd or dnsmasq) forwards to an upstream at
// 127.0.0.2:53 that holds each answer back until the attacker is done;
// the attacker, with a raw socket, sends replies forged from 127.0.0.2:53
// to the resolver's fixed query port, every one with a random ID and a
// false address, while the client's query waits. Then the upstream
// answers and the client's answer (and the cache's, asked again) shows
// whether a forgery was taken.

const (
	poisonUpstream = "127.0.0.2"
	poisonGenuine  = "192.0.2.1"
	poisonForged   = "6.6.6.6"
)

// poisonRig is the namespace, the holding upstream and the attacker.
type poisonRig struct {
	n       *netns
	port    int    // the resolver's query port
	pidFile string // moatd's, once started

	thread chan func() // runs functions on a thread inside the namespace
	raw    int         // the attacker's raw socket (IP_HDRINCL)
	up     *net.UDPConn

	mu       sync.Mutex
	held     map[string][]heldQuery // lower-case name -> queries not answered yet
	released map[string]bool
	asked    chan string
}

type heldQuery struct {
	from *net.UDPAddr
	q    *dns.Msg
}

// newPoisonRig makes the namespace, the upstream and the raw socket.
func newPoisonRig(tb testing.TB) *poisonRig {
	tb.Helper()
	testutil.RequireRoot(tb, "network namespace, raw socket")
	testutil.RequireCommand(tb, "dig")
	r := &poisonRig{n: &netns{name: fmt.Sprintf("moat-poison-%d-%d", os.Getpid(), nsCounter.Add(1))},
		thread: make(chan func()), raw: -1, held: map[string][]heldQuery{}, released: map[string]bool{}, asked: make(chan string, 64)}
	if out, err := exec.Command("ip", "netns", "add", r.n.name).CombinedOutput(); err != nil {
		tb.Fatalf("ip netns add: %v: %s", err, out)
	}
	tb.Cleanup(func() {
		out, _ := exec.Command("ip", "netns", "pids", r.n.name).Output()
		for _, f := range strings.Fields(string(out)) {
			// Not this process: a thread of it is in the namespace.
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if out, err := exec.Command("ip", "netns", "del", r.n.name).CombinedOutput(); err != nil {
			tb.Errorf("remove namespace %s: %v: %s", r.n.name, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", r.n.name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		tb.Fatalf("lo up: %v: %s", err, out)
	}
	ready := make(chan error, 1)
	go r.nsThread(ready)
	if err := <-ready; err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { close(r.thread) })
	var err error
	r.do(func() {
		pc, lerr := net.ListenPacket("udp4", poisonUpstream+":53")
		if lerr != nil {
			err = lerr
			return
		}
		r.up = pc.(*net.UDPConn)
		r.raw, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	})
	if err != nil {
		tb.Fatalf("sockets in the namespace: %v", err)
	}
	tb.Cleanup(func() {
		r.up.Close()
		unix.Close(r.raw)
	})
	go r.serve()
	r.port = r.freePort(tb)
	return r
}

// nsThread locks a thread, moves it into the namespace and runs the
// rig's functions on it until r.thread closes. The thread is never
// unlocked: it ends with the goroutine, and the runtime does not reuse a
// thread whose namespace was changed.
func (r *poisonRig) nsThread(ready chan<- error) {
	runtime.LockOSThread()
	fd, err := unix.Open("/run/netns/"+r.n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		ready <- fmt.Errorf("open namespace: %w", err)
		return
	}
	err = unix.Setns(fd, unix.CLONE_NEWNET)
	unix.Close(fd)
	if err != nil {
		ready <- fmt.Errorf("setns: %w", err)
		return
	}
	ready <- nil
	for f := range r.thread {
		f()
	}
}

// do runs f inside the namespace and waits for it.
func (r *poisonRig) do(f func()) {
	done := make(chan struct{})
	r.thread <- func() { f(); close(done) }
	<-done
}

// freePort picks the resolver's query port: free now on 127.0.0.1.
func (r *poisonRig) freePort(tb testing.TB) int {
	var port int
	var err error
	r.do(func() {
		pc, lerr := net.ListenPacket("udp4", "127.0.0.1:0")
		if lerr != nil {
			err = lerr
			return
		}
		port = pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
	})
	if err != nil {
		tb.Fatal(err)
	}
	return port
}

// serve is the upstream: it holds every query for a name not released
// yet, and answers the others with poisonGenuine in the case asked.
func (r *poisonRig) serve() {
	buf := make([]byte, 65535)
	for {
		n, from, err := r.up.ReadFromUDP(buf)
		if err != nil {
			return
		}
		q := new(dns.Msg)
		if q.Unpack(buf[:n]) != nil || len(q.Question) != 1 {
			continue
		}
		name := strings.ToLower(q.Question[0].Name)
		r.mu.Lock()
		if !r.released[name] {
			r.held[name] = append(r.held[name], heldQuery{from, q})
			r.mu.Unlock()
			select {
			case r.asked <- name:
			default:
			}
			continue
		}
		r.mu.Unlock()
		r.answer(heldQuery{from, q})
	}
}

func (r *poisonRig) answer(h heldQuery) {
	m := new(dns.Msg)
	m.SetReply(h.q)
	m.RecursionAvailable = true
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: h.q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 3600},
		A: net.ParseIP(poisonGenuine)}}
	if b, err := m.Pack(); err == nil {
		_, _ = r.up.WriteToUDP(b, h.from)
	}
}

// release answers the held queries for name, and every later one.
func (r *poisonRig) release(name string) {
	name = strings.ToLower(name)
	r.mu.Lock()
	r.released[name] = true
	held := r.held[name]
	delete(r.held, name)
	r.mu.Unlock()
	for _, h := range held {
		r.answer(h)
	}
}

// waitAsked waits until the upstream holds a query for name.
func (r *poisonRig) waitAsked(tb testing.TB, name string) {
	tb.Helper()
	name = strings.ToLower(name)
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		n := len(r.held[name])
		r.mu.Unlock()
		if n > 0 {
			return
		}
		select {
		case <-r.asked:
		case <-deadline:
			tb.Fatalf("the resolver did not ask the upstream for %s", name)
		}
	}
}

// udpCounters reads the namespace's UDP InDatagrams and RcvbufErrors.
func (r *poisonRig) udpCounters() (in, dropped uint64) {
	r.do(func() {
		f, err := os.Open("/proc/thread-self/net/snmp")
		if err != nil {
			return
		}
		defer f.Close()
		var names []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 0 || fields[0] != "Udp:" {
				continue
			}
			if names == nil {
				names = fields
				continue
			}
			for i, v := range fields {
				if i >= len(names) {
					break
				}
				n, _ := strconv.ParseUint(v, 10, 64)
				switch names[i] {
				case "InDatagrams":
					in = n
				case "RcvbufErrors":
					dropped = n
				}
			}
		}
	})
	return in, dropped
}

// flood sends count replies forged from the upstream to the query port,
// each for name with a random ID (sweep: IDs 0, 1, 2, ... in turn), and
// returns how many were sent. The
// name is spelled as given: a blind attacker does not know the case of
// a 0x20 query, and any spelling is as good a guess as another.
func (r *poisonRig) flood(name string, count int, sweep bool) (int, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.Response, m.RecursionDesired, m.RecursionAvailable = true, true, true
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 86400}, A: net.ParseIP(poisonForged)}}
	payload, err := m.Pack()
	if err != nil {
		return 0, err
	}
	pkt := make([]byte, 28+len(payload))
	pkt[0], pkt[8], pkt[9] = 0x45, 64, unix.IPPROTO_UDP // the kernel fills length, ID and checksum
	copy(pkt[12:16], net.ParseIP(poisonUpstream).To4())
	copy(pkt[16:20], net.IPv4(127, 0, 0, 1).To4())
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	binary.BigEndian.PutUint16(pkt[20:], 53)
	binary.BigEndian.PutUint16(pkt[22:], uint16(r.port))
	binary.BigEndian.PutUint16(pkt[24:], uint16(8+len(payload))) // UDP checksum 0: none
	copy(pkt[28:], payload)
	to := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	sent := 0
	for sent < count {
		id := uint16(rand.Uint32())
		if sweep {
			id = uint16(sent)
		}
		binary.BigEndian.PutUint16(pkt[28:], id)
		if err := unix.Sendto(r.raw, pkt, 0, to); err != nil {
			if err == unix.ENOBUFS || err == unix.EAGAIN {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			return sent, fmt.Errorf("sendto: %w", err)
		}
		sent++
		if sent%256 == 0 {
			// Pace the flood near what the resolver reads, so that the
			// forgeries reach it rather than overflow its socket.
			time.Sleep(200 * time.Microsecond)
		}
	}
	return sent, nil
}

// poisonRound is one attack: the client asks for name, the attacker
// sends count forgeries while the upstream holds the answer, then the
// upstream answers. It returns what the client got, and what the
// resolver gives when asked again (from its cache).
func (r *poisonRig) poisonRound(tb testing.TB, name string, count int, sweep bool) (first, again string, sent int) {
	tb.Helper()
	dig := r.n.command("dig", "@127.0.0.1", "+time=8", "+tries=1", "+short", name)
	var out strings.Builder
	dig.Stdout = &out
	if err := dig.Start(); err != nil {
		tb.Fatalf("dig: %v", err)
	}
	r.waitAsked(tb, name)
	sent, err := r.flood(name, count, sweep)
	r.release(name)
	_ = dig.Wait()
	if err != nil {
		tb.Fatalf("flood: %v", err)
	}
	first = strings.TrimSpace(out.String())
	again = strings.TrimSpace(r.n.dig("@127.0.0.1", "+short", name))
	return first, again, sent
}

// startPoisonMoatd runs moatd in the rig with a fixed query port.
func (r *poisonRig) startPoisonMoatd(tb testing.TB, extra ...string) *testutil.SyncBuffer {
	tb.Helper()
	dir := tb.TempDir()
	r.pidFile = filepath.Join(dir, "moatd.pid")
	conf := fmt.Sprintf("port=53\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\nserver=%s\nquery-port=%d\ncache-size=1000\npid-file=%s\nrun-dir=%s\n",
		poisonUpstream, r.port, r.pidFile, filepath.Join(dir, "run"))
	for _, line := range extra {
		conf += line + "\n"
	}
	confPath := filepath.Join(dir, "moatd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	return r.startResolver(tb, "moatd", moatdBin, "--conf-file="+confPath, "--keep-in-foreground", "--log-facility=-")
}

// startPoisonDnsmasq runs dnsmasq 2.90 in the rig with the same settings.
func (r *poisonRig) startPoisonDnsmasq(tb testing.TB) *testutil.SyncBuffer {
	tb.Helper()
	testutil.RequireCommand(tb, "dnsmasq")
	dir := tb.TempDir()
	return r.startResolver(tb, "dnsmasq", "dnsmasq", "--keep-in-foreground", "--log-facility=-", "--port=53",
		"--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		"--server="+poisonUpstream, "--query-port="+strconv.Itoa(r.port), "--cache-size=1000",
		"--pid-file="+filepath.Join(dir, "dnsmasq.pid"))
}

// startResolver starts a resolver in the namespace and waits until it
// answers (a name the upstream answers at once).
func (r *poisonRig) startResolver(tb testing.TB, what, bin string, args ...string) *testutil.SyncBuffer {
	tb.Helper()
	cmd := r.n.command(bin, args...)
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", what, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if tb.Failed() {
			tb.Logf("%s output:\n%s", what, out.String())
		}
	})
	r.release("ready.test.")
	deadline := time.Now().Add(15 * time.Second)
	for strings.TrimSpace(r.n.dig("@127.0.0.1", "+short", "ready.test")) != poisonGenuine {
		select {
		case <-exited:
			tb.Fatalf("%s exited:\n%s", what, out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s does not answer:\n%s", what, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return out
}
