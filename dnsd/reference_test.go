package dnsd

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/moatdns/moat/internal/testutil"
)

// startDnsmasq runs the reference dnsmasq on 127.0.0.1 on a free high port
// with the given extra options and returns its address. It is killed in
// t.Cleanup. A free port can be taken by a test of another package between
// the probe and dnsmasq's bind, so a start that fails on "Address already in
// use" is tried again on another port.
func startDnsmasq(t *testing.T, args ...string) (netip.AddrPort, *syncBuffer) {
	t.Helper()
	bin := testutil.RequireCommand(t, "dnsmasq")
	for attempt := 1; ; attempt++ {
		addr, out, err := tryStartDnsmasq(t, bin, args)
		if err == nil {
			return addr, out
		}
		if attempt == 5 || !strings.Contains(out.String(), "Address already in use") {
			t.Logf("dnsmasq output:\n%s", out.String())
			t.Fatal(err)
		}
	}
}

func tryStartDnsmasq(t *testing.T, bin string, args []string) (netip.AddrPort, *syncBuffer, error) {
	t.Helper()
	port := freeUDPPort(t)
	base := []string{
		"--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=", "--log-facility=-",
		"--no-resolv", "--no-hosts", "--bind-interfaces", "--listen-address=127.0.0.1",
		"--port=" + strconv.Itoa(port),
	}
	if os.Geteuid() == 0 {
		// Started as root, dnsmasq drops to nobody, who cannot read the
		// test's private temporary directory.
		base = append(base, "--user=root")
	}
	cmd := exec.Command(bin, append(base, args...)...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return netip.AddrPort{}, out, err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	for range 50 {
		select {
		case <-exited:
			return netip.AddrPort{}, out, fmt.Errorf("dnsmasq exited before answering")
		default:
		}
		if _, _, err := c.Exchange(newQuery("ready.invalid.", dns.TypeA), addr.String()); err == nil {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("dnsmasq output:\n%s", out.String())
				}
			})
			return addr, out, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return netip.AddrPort{}, out, fmt.Errorf("dnsmasq did not start answering")
}

// freeUDPPort finds a loopback port free for both UDP and TCP, as dnsmasq
// binds both.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return 0
}

// outcome is what the comparison looks at: rcode, flags, and the answer
// and authority records.
type outcome struct {
	Rcode  string
	AA, TC bool
	Answer []string
	Ns     []string
}

func outcomeOf(m *dns.Msg) outcome {
	o := outcome{Rcode: dns.RcodeToString[m.Rcode], AA: m.Authoritative, TC: m.Truncated}
	for _, rr := range m.Answer {
		o.Answer = append(o.Answer, rr.String())
	}
	for _, rr := range m.Ns {
		o.Ns = append(o.Ns, rr.String())
	}
	sort.Strings(o.Answer)
	return o
}

// TestCompareWithDnsmasq sends the same questions to dnsmasq 2.90 and to
// dnsd, both configured alike (same hosts file, local domain, upstream),
// and requires the same answers.
func TestCompareWithDnsmasq(t *testing.T) {
	hostsText := "192.168.1.10 foo.lan foo\nfd00::10 foo.lan\n10.0.0.1 bar.lan\n10.0.0.2 ext.example\n"
	dir := t.TempDir()
	hostsFile := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hostsFile, []byte(hostsText), 0o644); err != nil {
		t.Fatal(err)
	}
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 0},
		Ns: "ns.example.", Mbox: "h.example.", Serial: 1, Refresh: 1, Retry: 1, Expire: 1, Minttl: 0}
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch {
		case q.Name == "gone.example.":
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{soa}
		case q.Qtype == dns.TypeA:
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(9, 9, 9, 9)}}
		case q.Qtype == dns.TypeMX:
			m.Answer = []dns.RR{&dns.MX{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeMX, Class: dns.ClassINET}, Preference: 10, Mx: "mx.example."}}
		default:
			m.Ns = []dns.RR{soa}
		}
		_ = w.WriteMsg(m)
	})
	ref, refLog := startDnsmasq(t, "--log-queries", "--addn-hosts="+hostsFile, "--local=/lan/", "--server="+up.addr.Addr().String()+"#"+strconv.Itoa(int(up.addr.Port())))
	cfg := upstreamCfg(up.addr)
	cfg.LocalDomains = []string{"lan"}
	cfg.LogQueries = true
	d := startDNSD(t, cfg, hostsText, instanceOptions{hostsSource: hostsFile})

	questions := []struct {
		name  string
		qtype uint16
	}{
		{"foo.lan.", dns.TypeA}, {"FOO.lan.", dns.TypeAAAA}, {"foo.", dns.TypeA}, {"foo.lan.", dns.TypeANY},
		{"foo.lan.", dns.TypeMX}, {"bar.lan.", dns.TypeAAAA}, {"nope.lan.", dns.TypeA}, {"nope.lan.", dns.TypeTXT},
		{"1.0.0.10.in-addr.arpa.", dns.TypePTR}, {"10.1.168.192.in-addr.arpa.", dns.TypePTR},
		{"ext.example.", dns.TypeA}, {"ext.example.", dns.TypeAAAA}, {"ext.example.", dns.TypeMX},
		{"other.example.", dns.TypeA}, {"other.example.", dns.TypeMX}, {"gone.example.", dns.TypeA},
	}
	c := &dns.Client{Timeout: 5 * time.Second}
	for _, q := range questions {
		label := fmt.Sprintf("%s %s", q.name, dns.TypeToString[q.qtype])
		want, _, err := c.Exchange(newQuery(q.name, q.qtype), ref.String())
		if err != nil {
			t.Fatalf("dnsmasq %s: %v", label, err)
		}
		got := ask(t, d, newQuery(q.name, q.qtype), "udp")
		if g, w := outcomeOf(got), outcomeOf(want); !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n dnsd    %+v\n dnsmasq %+v", label, g, w)
		}
	}

	// The log-queries lines must read the same too.
	var want []string
	for _, line := range strings.Split(refLog.String(), "\n") {
		_, msg, ok := strings.Cut(line, "]: ")
		if !ok || strings.Contains(msg, "ready.invalid") {
			continue
		}
		for _, prefix := range []string{"query[", "forwarded ", "reply ", "cached ", "config ", hostsFile + " "} {
			if strings.HasPrefix(msg, prefix) {
				want = append(want, msg)
			}
		}
	}
	if len(want) < 2*len(questions) {
		t.Fatalf("only %d log lines from dnsmasq", len(want))
	}
	waitFor(t, "dnsd log", func() bool { return strings.Count(d.log.String(), "\n") >= len(want) })
	got := strings.Split(strings.TrimSuffix(d.log.String(), "\n"), "\n")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("log lines differ:\n dnsd:\n%s\n dnsmasq:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
