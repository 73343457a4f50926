package main

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/moatdns/moat/bench/internal/procs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// server is one server under test.
type server struct {
	name string // "moat" or "dnsmasq"
	port uint16
	cmd  *exec.Cmd
	out  *os.File
}

type bench struct {
	o        options
	dir      string
	files    []querySet
	upstream *exec.Cmd
	upPort   uint16
	servers  []*server
}

// freePort finds a loopback port free for both UDP and TCP.
func freePort() (uint16, error) {
	for range 50 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		pc.Close()
		if err == nil {
			l.Close()
			return uint16(port), nil
		}
	}
	return 0, errors.New("no free loopback port")
}

// start runs argv pinned to cpus, its output in a log file.
func (b *bench) start(name, cpus string, argv ...string) (*exec.Cmd, *os.File, error) {
	logf, err := os.Create(filepath.Join(b.dir, name+".log"))
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command("taskset", append([]string{"-c", cpus}, argv...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	return cmd, logf, nil
}

func (b *bench) startAll() error {
	var err error
	if b.upPort, err = freePort(); err != nil {
		return err
	}
	up := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), b.upPort)
	if b.upstream, _, err = b.start("upstream", b.o.clientCPU, b.o.upstream, "-addr", up.String()); err != nil {
		return err
	}
	if err := waitAnswer(up, "count.bench.", dns.TypeTXT); err != nil {
		return fmt.Errorf("upstream: %w", err)
	}

	moatPort, err := freePort()
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`port=%d
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
server=%s
cache-size=%d
pid-file=%s/moatd.pid
run-dir=%s/run
`, moatPort, strings.Replace(up.String(), ":", "#", 1), cacheSize, b.dir, b.dir)
	confPath := filepath.Join(b.dir, "moatd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	cmd, out, err := b.start("moatd", b.o.serverCPU, b.o.moatd, "--conf-file="+confPath, "--keep-in-foreground", "--log-facility=-")
	if err != nil {
		return err
	}
	b.servers = append(b.servers, &server{name: "moat", port: moatPort, cmd: cmd, out: out})

	dmPort, err := freePort()
	if err != nil {
		return err
	}
	cmd, out, err = b.start("dnsmasq", b.o.serverCPU, b.o.dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null",
		"--port="+strconv.Itoa(int(dmPort)), "--listen-address=127.0.0.1", "--bind-interfaces",
		"--no-resolv", "--no-hosts", "--server="+strings.Replace(up.String(), ":", "#", 1),
		"--cache-size="+strconv.Itoa(cacheSize), "--pid-file="+filepath.Join(b.dir, "dnsmasq.pid"), "--log-facility=-")
	if err != nil {
		return err
	}
	b.servers = append(b.servers, &server{name: "dnsmasq", port: dmPort, cmd: cmd, out: out})
	for _, s := range b.servers {
		ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.port)
		if err := waitAnswer(ap, "ready.bench.", dns.TypeA); err != nil {
			return fmt.Errorf("%s does not answer (log in %s): %w", s.name, s.out.Name(), err)
		}
	}
	return nil
}

func (b *bench) stopAll() {
	for _, s := range b.servers {
		stop(s.cmd)
		s.out.Close()
	}
	if b.upstream != nil {
		stop(b.upstream)
	}
}

// stop ends a process this program started: SIGTERM, then SIGKILL.
func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// waitAnswer asks ap until it answers, for up to 10 seconds.
func waitAnswer(ap netip.AddrPort, name string, qtype uint16) error {
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	var err error
	for range 50 {
		if _, _, err = c.Exchange(m, ap.String()); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}

// upstreamCount is how many queries the upstream has seen.
func (b *bench) upstreamCount() (uint64, error) {
	c := &dns.Client{Timeout: time.Second}
	m := new(dns.Msg)
	m.SetQuestion("count.bench.", dns.TypeTXT)
	r, _, err := c.Exchange(m, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), b.upPort).String())
	if err != nil {
		return 0, err
	}
	if len(r.Answer) != 1 {
		return 0, fmt.Errorf("count: %v", r)
	}
	return strconv.ParseUint(strings.Join(r.Answer[0].(*dns.TXT).Txt, ""), 10, 64)
}

// pids are the server's process and its children (moatd's workers).
func (s *server) pids() []int {
	return append([]int{s.cmd.Process.Pid}, procs.Children(s.cmd.Process.Pid)...)
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime is the user and system time of every process of the server.
func (s *server) cpuTime() time.Duration {
	var ticks int64
	for _, pid := range s.pids() {
		f := procs.StatFields(pid)
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64) // utime, field 14
		k, _ := strconv.ParseInt(f[12], 10, 64) // stime, field 15
		ticks += u + k
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// rss is VmRSS of each of the server's processes, in KiB, by the base
// name of argv[0] (moatd's workers are "moatd-dnsd").
func (s *server) rss() map[string]int {
	out := map[string]int{}
	for _, pid := range s.pids() {
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			continue
		}
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		name := filepath.Base(string(argv0))
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				out[name] += kb
			}
		}
	}
	return out
}
