package test

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/testutil"
)

// TestNoADBitWithoutValidation (issue 6): moat accepts dnssec,
// trust-anchor and proxy-dnssec but validates nothing, so it must never
// tell a client an answer was validated. The upstream here sets AD on
// every answer (and adds an RRSIG for DO queries); dnsmasq 2.90 with
// proxy-dnssec passes that AD on (the control: the test can fail), moatd
// with the same options answers with AD clear, still relaying the RRSIG,
// and says at start that it does not validate.
func TestNoADBitWithoutValidation(t *testing.T) {
	requireDnsmasq(t)
	n := newNetns(t)
	upstream := startADUpstream(t, n)

	data := "port=53\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\nserver=" + upstream +
		"\ndnssec\ntrust-anchor=.,20326,8,2,E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\nproxy-dnssec\n"
	flags := func() (string, string) {
		out := n.dig("@127.0.0.1", "+dnssec", "+adflag", "+norec", "signed.test", "A")
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, ";; flags:") {
				f, _, _ := strings.Cut(strings.TrimPrefix(line, ";; flags:"), ";")
				return " " + strings.TrimSpace(f) + " ", out
			}
		}
		return "", out
	}

	// The control: dnsmasq with proxy-dnssec (no dnssec: its validation
	// would need real keys) passes the upstream's AD bit on.
	d := n.command("dnsmasq", "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null", "--port=53",
		"--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--server="+upstream,
		"--proxy-dnssec", "--pid-file=")
	var dout testutil.SyncBuffer
	d.Stdout, d.Stderr = &dout, &dout
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	dexited := make(chan struct{})
	go func() { _ = d.Wait(); close(dexited) }()
	var f, out string
	waitFor(t, 10*time.Second, "dnsmasq answering", func() bool { f, out = flags(); return f != "" })
	_ = d.Process.Kill()
	<-dexited
	if !strings.Contains(f, " ad ") {
		t.Fatalf("the control failed: dnsmasq with proxy-dnssec did not pass AD on, so this upstream does not set it:\n%s", out)
	}

	m := startMoatd(t, n, data, nil)
	m.waitReady(t)
	f, out = flags()
	if f == "" || strings.Contains(f, " ad ") {
		t.Errorf("moat set AD (flags %q) without validating:\n%s", f, out)
	}
	if !strings.Contains(out, "RRSIG") || !strings.Contains(out, "192.0.2.77") {
		t.Errorf("the answer or its signature was not relayed:\n%s", out)
	}
	if !strings.Contains(m.out.String(), "DNSSEC VALIDATION IS NOT PERFORMED") {
		t.Errorf("no start-up warning about DNSSEC:\n%s", m.out.String())
	}
}

// startADUpstream serves DNS on 127.0.0.2:53 inside the namespace from a
// thread moved into it: every answer has AD set, and an RRSIG for DO
// queries. It returns the server's address.
func startADUpstream(t *testing.T, n *netns) string {
	t.Helper()
	ready := make(chan error, 1)
	var conn *net.UDPConn
	go func() {
		// The socket is made inside the namespace, then the thread goes
		// back: the namespace's cleanup kills every process with a thread
		// in it, which must not be the test.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ready <- fmt.Errorf("open own namespace: %w", err)
			return
		}
		defer unix.Close(home)
		fd, err := unix.Open("/run/netns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
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
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 53})
		if berr := unix.Setns(home, unix.CLONE_NEWNET); berr != nil {
			// This thread must not run anything else: keep it locked.
			runtime.LockOSThread()
			err = fmt.Errorf("back to the own namespace: %w", berr)
		}
		ready <- err
	}()
	if err := <-ready; err != nil {
		t.Fatalf("upstream in the namespace: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			k, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:k]) != nil || len(q.Question) != 1 {
				continue
			}
			m := new(dns.Msg)
			m.SetReply(q)
			m.RecursionAvailable, m.AuthenticatedData = true, true
			name := q.Question[0].Name
			if q.Question[0].Qtype == dns.TypeA {
				m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 77)}}
			}
			if opt := q.IsEdns0(); opt != nil {
				m.SetEdns0(1232, opt.Do())
				if opt.Do() && len(m.Answer) > 0 {
					m.Answer = append(m.Answer, &dns.RRSIG{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 300},
						TypeCovered: dns.TypeA, Algorithm: dns.RSASHA256, Labels: 2, OrigTtl: 300,
						Expiration: 2000000000, Inception: 1700000000, KeyTag: 1, SignerName: "test.", Signature: "AAAA"})
				}
			}
			if b, err := m.Pack(); err == nil {
				_, _ = conn.WriteToUDP(b, from)
			}
		}
	}()
	return "127.0.0.2"
}
