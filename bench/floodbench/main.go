// Command floodbench measures what a flood of forged packets at dnsd's
// upstream query ports costs dnsd in CPU, with each socket-filter= mode
// (SECURITY.md "Socket filters"). For each mode it starts moatd on
// loopback with a benchmark upstream that holds every answer for -hold,
// so that query ports stay open, keeps -inflight queries going through
// moatd, and then, from the upstream's own address and port (the only
// source a connected query socket accepts), sends -packets forged
// datagrams to the ports of the queries it holds:
//
//   - replies: the question asked, QR set, a wrong transaction ID (the
//     forged-reply flood of a poisoning attempt);
//   - queries: the same with QR clear (junk sent to a query port).
//
// dnsd's CPU time (utime+stime from /proc) during the flood, less what
// the query load alone costs over the same time (measured just before),
// is reported per million forged packets. It needs root (moatd's
// workers, eBPF). Loopback only.
//
//	floodbench -moatd bin/moatd -packets 1000000
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"github.com/moatdns/moat/bench/internal/procs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	moatd    string
	packets  int
	modes    []string
	hold     time.Duration
	inflight int
	baseline time.Duration
}

func main() {
	var o options
	var modes string
	flag.StringVar(&o.moatd, "moatd", "bin/moatd", "the moatd binary")
	flag.IntVar(&o.packets, "packets", 1000000, "forged packets per mode and kind")
	flag.StringVar(&modes, "modes", "off,classic,ebpf", "socket-filter= modes to compare")
	flag.DurationVar(&o.hold, "hold", 300*time.Millisecond, "how long the upstream holds each answer")
	flag.IntVar(&o.inflight, "inflight", 32, "queries kept going through moatd")
	flag.DurationVar(&o.baseline, "baseline", 2*time.Second, "how long the query load alone is measured")
	flag.Parse()
	o.modes = strings.Split(modes, ",")
	if os.Geteuid() != 0 {
		fmt.Println("floodbench: skipped: needs root (moatd's workers switch user; eBPF needs CAP_BPF)")
		return
	}
	fmt.Printf("floodbench: %d forged packets per row, upstream holds answers %v, %d queries in flight\n", o.packets, o.hold, o.inflight)
	fmt.Printf("%-8s %-8s %10s %10s %12s %12s %10s\n", "filter", "flood", "sent/s", "dnsd CPU", "CPU per 1M", "kernel drop", "answers/s")
	for _, mode := range o.modes {
		if err := runMode(o, mode); err != nil {
			fmt.Fprintf(os.Stderr, "floodbench: %s: %v\n", mode, err)
			os.Exit(1)
		}
	}
}

// runMode starts moatd with socket-filter=mode and floods it with each
// kind of forged packet.
func runMode(o options, mode string) error {
	up, err := newUpstream(o.hold)
	if err != nil {
		return err
	}
	defer up.close()
	m, err := startMoatd(o.moatd, mode, up.addr())
	if err != nil {
		return err
	}
	defer m.stop()
	load := newLoad(m.addr, o.inflight)
	defer load.stop()
	if err := load.waitAnswers(o.inflight, 10*time.Second); err != nil {
		return fmt.Errorf("%w (log: %s)", err, m.logPath)
	}
	pid, err := m.dnsdPid()
	if err != nil {
		return err
	}
	for _, kind := range []string{"replies", "queries"} {
		// The query load alone, for as long as the flood will take at
		// about the rate measured before (the first time: o.baseline).
		c0, t0 := cpuOf(pid), time.Now()
		time.Sleep(o.baseline)
		baseRate := float64(cpuOf(pid)-c0) / float64(time.Since(t0))

		before := m.counters()
		a0, f0 := load.answered.Load(), load.failed.Load()
		c1, t1 := cpuOf(pid), time.Now()
		if err := up.flood(o.packets, kind == "replies"); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond) // the socket buffers drain
		wall := time.Since(t1)
		cpu := cpuOf(pid) - c1
		net := time.Duration(float64(cpu) - baseRate*float64(wall))
		after := m.counters()
		drop := "n/a"
		if before != nil && after != nil {
			key := map[string]string{"replies": "upstream_wrong_id", "queries": "upstream_not_reply"}[kind]
			drop = strconv.FormatUint(after[key]-before[key], 10)
		}
		if f := load.failed.Load() - f0; f > 0 {
			fmt.Printf("  (%s, %s: %d queries failed during the flood)\n", mode, kind, f)
		}
		if now, err := m.dnsdPid(); err != nil || now != pid {
			return fmt.Errorf("dnsd was pid %d, now %d (%v)", pid, now, err)
		}
		fmt.Printf("%-8s %-8s %10.0f %10v %10.1fms %12s %10.0f\n", mode, kind, float64(o.packets)/wall.Seconds(),
			cpu.Round(time.Millisecond), float64(max(net, 0))/float64(time.Millisecond)*1e6/float64(o.packets), drop,
			float64(load.answered.Load()-a0)/wall.Seconds())
	}
	return nil
}

// cpuOf is a process's time on a CPU: the sum over its threads of
// /proc/pid/task/tid/schedstat's first field (nanoseconds; /proc/pid/stat
// counts in 10 ms ticks, too coarse here). dnsd's threads live as long
// as it does.
func cpuOf(pid int) time.Duration {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, _ := os.ReadDir(dir)
	var ns int64
	for _, t := range tasks {
		data, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(data)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			ns += n
		}
	}
	return time.Duration(ns)
}

// upstream answers every query after hold, from one socket, and knows
// the queries it holds: their source ports are dnsd's open query ports.
type upstream struct {
	conn *net.UDPConn
	hold time.Duration
	mu   sync.Mutex
	held map[netip.AddrPort][]byte // the query waiting, by its source
	done chan struct{}
}

func newUpstream(hold time.Duration) (*upstream, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	_ = conn.SetWriteBuffer(4 << 20)
	u := &upstream{conn: conn, hold: hold, held: map[netip.AddrPort][]byte{}, done: make(chan struct{})}
	go u.serve()
	return u, nil
}

func (u *upstream) addr() netip.AddrPort { return u.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (u *upstream) close() {
	close(u.done)
	u.conn.Close()
}

func (u *upstream) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n < 12 || buf[2]&0x80 != 0 {
			continue
		}
		q := append([]byte(nil), buf[:n]...)
		u.mu.Lock()
		u.held[from] = q
		u.mu.Unlock()
		time.AfterFunc(u.hold, func() {
			u.mu.Lock()
			delete(u.held, from)
			u.mu.Unlock()
			_, _ = u.conn.WriteToUDPAddrPort(answer(q), from)
		})
	}
}

// answer is q answered with 192.0.2.1, TTL 0.
func answer(q []byte) []byte {
	r := append([]byte(nil), q...)
	r[2] |= 0x80
	r[3] = 0x80 // RA, NOERROR
	binary.BigEndian.PutUint16(r[6:], 1)
	binary.BigEndian.PutUint16(r[8:], 0)
	binary.BigEndian.PutUint16(r[10:], 0)
	r = r[:questionEnd(r)]
	return append(r, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 192, 0, 2, 1)
}

// questionEnd is the offset after the first question.
func questionEnd(m []byte) int {
	i := 12
	for i < len(m) && m[i] != 0 {
		i += 1 + int(m[i])
	}
	return min(i+5, len(m))
}

// flood sends n forged datagrams, round robin over the held queries'
// ports, refreshed every 256 packets: each the held query with a wrong
// ID, as a reply (QR set) or as a query.
func (u *upstream) flood(n int, reply bool) error {
	type target struct {
		to   netip.AddrPort
		pkt  []byte
		real uint16 // the ID asked, never sent
	}
	var targets []target
	refresh := func() {
		targets = targets[:0]
		u.mu.Lock()
		for to, q := range u.held {
			p := append([]byte(nil), q[:questionEnd(q)]...)
			if reply {
				p[2] |= 0x80
				p[3] = 0x80
			}
			targets = append(targets, target{to, p, binary.BigEndian.Uint16(q)})
		}
		u.mu.Unlock()
	}
	deadline := time.Now().Add(5 * time.Minute)
	for sent := 0; sent < n; {
		refresh()
		if len(targets) == 0 {
			if time.Now().After(deadline) {
				return errors.New("no query held: moatd stopped forwarding")
			}
			time.Sleep(time.Millisecond)
			continue
		}
		for i := 0; i < 256 && sent < n; i++ {
			tg := &targets[sent%len(targets)]
			id := binary.BigEndian.Uint16(tg.pkt) + 1 // a new wrong ID
			if id == tg.real {
				id++
			}
			binary.BigEndian.PutUint16(tg.pkt, id)
			if _, err := u.conn.WriteToUDPAddrPort(tg.pkt, tg.to); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
				if errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.EAGAIN) {
					time.Sleep(50 * time.Microsecond)
					continue
				}
				return err
			}
			sent++
		}
	}
	return nil
}

// moatd is the server under test.
type moatd struct {
	cmd     *exec.Cmd
	dir     string
	logPath string
	addr    netip.AddrPort
	exited  chan struct{}
}

func startMoatd(bin, mode string, up netip.AddrPort) (*moatd, error) {
	dir, err := os.MkdirTemp("", "floodbench-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`port=%d
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
server=127.0.0.1#%d
cache-size=0
dns-forward-max=1000
pid-file=%s/moatd.pid
run-dir=%s/run
socket-filter=%s
`, port, up.Port(), dir, dir, mode)
	confPath := filepath.Join(dir, "moatd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "moatd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	m := &moatd{dir: dir, logPath: logPath, addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), exited: make(chan struct{})}
	m.cmd = exec.Command(bin, "--conf-file="+confPath, "--keep-in-foreground", "--log-facility=-")
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		_ = m.cmd.Wait()
		logf.Close()
		close(m.exited)
	}()
	return m, nil
}

// stop ends moatd (its log stays in m.dir while it is kept for a failed
// run; removed otherwise).
func (m *moatd) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	os.RemoveAll(m.dir)
}

// dnsdPid finds moatd's dnsd (argv[0] "moatd-dnsd").
func (m *moatd) dnsdPid() (int, error) {
	for _, pid := range procs.Children(m.cmd.Process.Pid) {
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if argv0, _, _ := bytes.Cut(cmdline, []byte{0}); string(argv0) == "moatd-dnsd" {
			return pid, nil
		}
	}
	return 0, errors.New("no dnsd")
}

var counterRE = regexp.MustCompile(`socket filter counters: (.*)`)

// counters asks moatd (SIGUSR1) for the eBPF drop counters; nil without
// eBPF.
func (m *moatd) counters() map[string]uint64 {
	before := logLen(m.logPath)
	_ = m.cmd.Process.Signal(syscall.SIGUSR1)
	for range 50 { // a second: the counters line follows the signal at once
		time.Sleep(20 * time.Millisecond)
		data, _ := os.ReadFile(m.logPath)
		if len(data) < before {
			continue
		}
		if mm := counterRE.FindSubmatch(data[before:]); mm != nil {
			out := map[string]uint64{}
			for _, f := range strings.Fields(string(mm[1])) {
				if k, v, ok := strings.Cut(f, "="); ok {
					out[k], _ = strconv.ParseUint(v, 10, 64)
				}
			}
			return out
		}
	}
	return nil
}

func logLen(path string) int {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return int(st.Size())
}

func freePort() (uint16, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
}

// load keeps n queries for distinct names going through moatd.
type load struct {
	conn     *net.UDPConn
	answered atomic.Uint64 // NOERROR answers
	failed   atomic.Uint64 // other answers (SERVFAIL, REFUSED)
	stopped  atomic.Bool
}

func newLoad(server netip.AddrPort, n int) *load {
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(server))
	if err != nil {
		panic(err)
	}
	l := &load{conn: conn}
	var seq atomic.Uint64
	send := func() {
		i := seq.Add(1)
		_, _ = conn.Write(query(uint16(i), fmt.Sprintf("q%d.flood.bench.", i)))
	}
	for range n {
		send()
	}
	go func() {
		buf := make([]byte, 1500)
		for !l.stopped.Load() {
			_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			k, err := conn.Read(buf)
			if err != nil {
				if l.stopped.Load() {
					return
				}
				for range n { // lost: start again
					send()
				}
				continue
			}
			if k >= 4 && buf[3]&0x0f == 0 {
				l.answered.Add(1)
			} else {
				l.failed.Add(1)
			}
			send()
		}
	}()
	return l
}

func (l *load) stop() {
	l.stopped.Store(true)
	l.conn.Close()
}

func (l *load) waitAnswers(n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for l.answered.Load() < uint64(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("moatd answered %d queries in %v, want %d", l.answered.Load(), limit, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// query is a DNS query for name, type A.
func query(id uint16, name string) []byte {
	b := []byte{byte(id >> 8), byte(id), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0, 0, 1, 0, 1)
}
