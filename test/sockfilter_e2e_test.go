package test

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// Socket filters end to end (issue 5): moatd loads the eBPF filters, a
// fake upstream inside the namespace answers every query only after
// flooding the query's port with non-replies (QR clear) and forged
// replies with wrong IDs, from the upstream's own address as a spoofer
// would; and a flood of replies and short datagrams hits the :53
// listener. The kernel must drop every one of them (the master's
// counters, logged at exit, say so), and the genuine answers still work.

// udpInNetns opens a UDP socket bound to addr inside n (a socket keeps
// the namespace it was made in).
func udpInNetns(t *testing.T, n *netns, addr string) *net.UDPConn {
	t.Helper()
	c, err := connInNetns(n, func() (net.Conn, error) {
		ua, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			return nil, err
		}
		return net.ListenUDP("udp4", ua)
	})
	if err != nil {
		t.Fatalf("UDP socket in %s: %v", n.name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}

// connInNetns runs open on a thread inside n and returns its connection.
func connInNetns(n *netns, open func() (net.Conn, error)) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// This thread enters n and goes back before it is given back to
		// the runtime; if it cannot, the goroutine ends locked and the
		// thread exits with it (unless it is the main thread, which the
		// runtime then parks for good: still never reused).
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer home.Close()
		f, err := os.Open("/var/run/netns/" + n.name)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		defer func() {
			if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
		}()
		c, err := open()
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// floodingUpstream answers each query after sending perQuery/2 queries
// (QR clear) and perQuery/2 replies with a wrong ID to the query's
// source port. It returns how many junk datagrams it sent, when done.
func floodingUpstream(t *testing.T, c *net.UDPConn, perQuery, queries int) <-chan int {
	done := make(chan int, 1)
	go func() {
		sent := 0
		defer func() { done <- sent }()
		buf := make([]byte, 1500)
		for range queries {
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil || len(q.Question) != 1 {
				continue
			}
			forged := new(dns.Msg)
			forged.SetReply(q)
			forged.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 3600}, A: net.IPv4(6, 6, 6, 6)}}
			fb, _ := forged.Pack()
			notReply := append([]byte(nil), buf[:n]...)
			for i := range perQuery {
				var b []byte
				if i%2 == 0 {
					b = notReply
				} else {
					b = fb
					id := q.Id + 1 + uint16(i) // never the query's ID
					if id == q.Id {
						id++
					}
					binary.BigEndian.PutUint16(b, id)
				}
				if _, err := c.WriteToUDP(b, from); err != nil {
					return
				}
				sent++
			}
			genuine := new(dns.Msg)
			genuine.SetReply(q)
			genuine.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 7)}}
			gb, _ := genuine.Pack()
			if _, err := c.WriteToUDP(gb, from); err != nil {
				return
			}
		}
	}()
	return done
}

var counterRE = regexp.MustCompile(`socket filter counters: (.*)`)

// filterCounters parses the master's last counters line.
func filterCounters(t *testing.T, out string) map[string]uint64 {
	t.Helper()
	all := counterRE.FindAllStringSubmatch(out, -1)
	if len(all) == 0 {
		t.Fatalf("no counters line in the master's log")
	}
	m := map[string]uint64{}
	for _, f := range strings.Fields(all[len(all)-1][1]) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("counter %q: %v", f, err)
		}
		m[k] = n
	}
	return m
}

func TestSocketFilterE2EFlood(t *testing.T) {
	n := newNetns(t)
	up := udpInNetns(t, n, "127.0.0.1:5300")
	client := udpInNetns(t, n, "127.0.0.1:0")
	const (
		queries  = 10
		perQuery = 2000 // 20,000 junk datagrams at query ports in all
		atServer = 2000 // replies and short datagrams at :53
	)
	done := floodingUpstream(t, up, perQuery, queries)
	m := startMoatd(t, n, `port=53
listen-address=127.0.0.1
bind-interfaces
no-hosts
no-resolv
cache-size=0
server=127.0.0.1#5300
socket-filter=ebpf
pid-file=%DIR%/moatd.pid
run-dir=%DIR%/run
`, nil)
	m.waitReady(t)
	if !strings.Contains(m.out.String(), "socket filters: mode ebpf: eBPF") {
		t.Fatalf("the master does not say eBPF is active:\n%s", m.out.String())
	}
	server := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}

	// Junk at the listener: replies (QR set) and datagrams too short.
	for i := range atServer {
		b := make([]byte, 40)
		if i%2 == 0 {
			b[2] = 0x80
		} else {
			b = b[:5]
		}
		if _, err := client.WriteToUDP(b, server); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1500)
	for i := range queries {
		q := new(dns.Msg)
		q.SetQuestion(fmt.Sprintf("q%d.flood.test.", i), dns.TypeA)
		wire, _ := q.Pack()
		if _, err := client.WriteToUDP(wire, server); err != nil {
			t.Fatal(err)
		}
		_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
		nr, _, err := client.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:nr]); err != nil {
			t.Fatalf("query %d: reply: %v", i, err)
		}
		if r.Id != q.Id || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.7" {
			t.Fatalf("query %d: reply %v, want the genuine 192.0.2.7", i, r)
		}
	}
	var sent int
	select {
	case sent = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the upstream did not finish")
	}
	if sent != queries*perQuery {
		t.Fatalf("the upstream sent %d junk datagrams, want %d", sent, queries*perQuery)
	}
	dnsdCPU := workerCPU(t, m.workers(t)["dnsd"])

	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("moatd did not stop")
	}
	c := filterCounters(t, m.out.String())
	t.Logf("counters %v; dnsd CPU time after %d queries and %d junk datagrams: %v", c, queries, sent+atServer, dnsdCPU)
	// Every junk datagram that reached a query socket was dropped by the
	// filter; loopback does not lose datagrams, so that is all of them.
	want := map[string]uint64{
		"upstream_passed":    queries,
		"upstream_not_reply": queries * perQuery / 2,
		"upstream_wrong_id":  queries * perQuery / 2,
		"upstream_short":     0,
		"listener_reply":     atServer / 2,
		"listener_short":     atServer / 2,
		"listener_passed":    queries,
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %d, want %d", k, c[k], v)
		}
	}
}

// workerCPU is a process's user+system CPU time, from /proc (for the
// log, not asserted).
func workerCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return -1
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}
