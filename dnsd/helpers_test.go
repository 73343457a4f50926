package dnsd

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/hosts"
	"github.com/moatdns/moat/internal/workerproc"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// syncBuffer collects dnsd's log lines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testUpstream is a miekg/dns server on 127.0.0.1 (UDP and TCP on the same
// port) that counts the queries it gets.
type testUpstream struct {
	addr    netip.AddrPort
	udp     atomic.Int64
	tcp     atomic.Int64
	handler func(w dns.ResponseWriter, r *dns.Msg)

	mu     sync.Mutex
	byName map[string]int // "name/type" (lower case) -> queries
}

func (u *testUpstream) queries() int64 { return u.udp.Load() + u.tcp.Load() }

// queriesFor counts the queries for one question only, so that a late
// retry of another question cannot be counted.
func (u *testUpstream) queriesFor(name string, qtype uint16) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.byName[strings.ToLower(name)+"/"+dns.TypeToString[qtype]]
}

// startUpstream starts a test upstream whose answers come from handler.
func startUpstream(t testing.TB, handler func(w dns.ResponseWriter, r *dns.Msg)) *testUpstream {
	t.Helper()
	pc, ln := udpAndTCPOnOnePort(t)
	port := pc.LocalAddr().(*net.UDPAddr).Port
	u := &testUpstream{addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), handler: handler, byName: map[string]int{}}
	mux := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if w.RemoteAddr().Network() == "tcp" {
			u.tcp.Add(1)
		} else {
			u.udp.Add(1)
		}
		if len(r.Question) == 1 {
			q := r.Question[0]
			u.mu.Lock()
			u.byName[strings.ToLower(q.Name)+"/"+dns.TypeToString[q.Qtype]]++
			u.mu.Unlock()
			// As a real server: names match in any case (dnsd sends a
			// random one, 0x20), and the reply echoes the case asked.
			lower := strings.ToLower(q.Name)
			r.Question[0].Name = lower
			w = caseEchoWriter{w, lower, q.Name}
		}
		u.handler(w, r)
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: mux}, {Listener: ln, Handler: mux}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

// caseEchoWriter gives a test upstream's reply the question's spelling as
// asked back (forward_case.go's restoreCase).
type caseEchoWriter struct {
	dns.ResponseWriter
	lower, asked string
}

func (w caseEchoWriter) WriteMsg(m *dns.Msg) error {
	restoreCase(m, w.lower, w.asked)
	return w.ResponseWriter.WriteMsg(m)
}

// answerA answers every A query with ip and TTL ttl, everything else NODATA.
func answerA(ip string, ttl uint32) func(w dns.ResponseWriter, r *dns.Msg) {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
				A:   net.ParseIP(ip),
			}}
		}
		_ = w.WriteMsg(m)
	}
}

// deadUDPAddr is a loopback port with nothing listening: queries to it
// get ICMP port unreachable at once.
func deadUDPAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	return ap
}

// dnsdInstance is a dnsd.Serve running on loopback sockets made here,
// driven over a real ipc socketpair.
type dnsdInstance struct {
	udpAddr, tcpAddr netip.AddrPort
	master           *ipc.Conn
	server           *Server
	log              *syncBuffer
	done             chan error
	hostsSource      string
}

type instanceOptions struct {
	// sockets replaces the default 127.0.0.1 UDP+TCP pair.
	sockets []workerproc.Socket
	// tune adjusts the server before it serves.
	tune func(*Server)
	// hostsSource names the hosts data in entries ("/etc/hosts").
	hostsSource string
	// local, when set, is sent as the local-records tables between the
	// configuration and the hosts table, as the master sends them.
	local *localData
}

func hostsEntries(t testing.TB, source, text string) []*ipcpb.HostEntry {
	t.Helper()
	entries, problems := hosts.Parse(source, []byte(text))
	if len(problems) > 0 {
		t.Fatalf("hosts fixture: %v", problems)
	}
	var out []*ipcpb.HostEntry
	for _, e := range entries {
		out = append(out, &ipcpb.HostEntry{Address: e.Addr.AsSlice(), Names: e.Names, Source: e.Source})
	}
	return out
}

// loopbackSockets makes a UDP and a TCP socket on 127.0.0.1 and returns
// them as the master would pass them.
func loopbackSockets(t testing.TB) []workerproc.Socket {
	t.Helper()
	pc, ln := udpAndTCPOnOnePort(t)
	defer pc.Close()
	defer ln.Close()
	uf, err := pc.File()
	if err != nil {
		t.Fatal(err)
	}
	tf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uf.Close(); tf.Close() })
	return []workerproc.Socket{
		{Desc: &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DNS_UDP, Address: pc.LocalAddr().String()}, File: uf},
		{Desc: &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DNS_TCP, Address: ln.Addr().String()}, File: tf},
	}
}

// udpAndTCPOnOnePort binds UDP and TCP on the same free 127.0.0.1 port.
// The kernel picks a port free for UDP; TCP may hold it already, so a few
// ports are tried.
func udpAndTCPOnOnePort(t testing.TB) (*net.UDPConn, net.Listener) {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	var lastErr error
	for range 20 {
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := lc.Listen(context.Background(), "tcp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
		lastErr = err
	}
	t.Fatalf("no port free for both UDP and TCP after 20 tries: %v", lastErr)
	return nil, nil
}

// startDNSD runs Serve, sends cfg and the hosts table as the master does,
// and waits for Ready.
func startDNSD(t testing.TB, cfg *ipcpb.DNSConfig, hostsText string, opts instanceOptions) *dnsdInstance {
	t.Helper()
	sockets := opts.sockets
	if sockets == nil {
		sockets = loopbackSockets(t)
	}
	mf, wf, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	d := &dnsdInstance{master: ipc.NewConn(mf), log: &syncBuffer{}, done: make(chan error, 1), hostsSource: opts.hostsSource}
	if d.hostsSource == "" {
		d.hostsSource = "/etc/hosts"
	}
	workerConn := ipc.NewConn(wf)
	for _, s := range sockets {
		addr := s.Desc.GetAddress()
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			t.Fatalf("socket address %q: %v", addr, err)
		}
		if s.Desc.GetKind() == ipcpb.Socket_KIND_DNS_UDP && !d.udpAddr.IsValid() {
			d.udpAddr = ap
		}
		if s.Desc.GetKind() == ipcpb.Socket_KIND_DNS_TCP && !d.tcpAddr.IsValid() {
			d.tcpAddr = ap
		}
	}
	serverCh := make(chan *Server, 1)
	testHookServer = func(s *Server) {
		if opts.tune != nil {
			opts.tune(s)
		}
		serverCh <- s
	}
	readyCh := make(chan struct{})
	go func() {
		d.done <- serveWithLog(context.Background(), workerConn, sockets, func() error { close(readyCh); return nil }, d.log)
		workerConn.Close()
	}()
	d.server = <-serverCh
	testHookServer = nil
	t.Cleanup(func() {
		d.master.Close()
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after the master closed the channel")
		}
	})
	d.sendConfig(t, cfg)
	if opts.local != nil {
		d.sendLocal(t, ipcpb.Table_TABLE_LOCAL_RECORDS, opts.local.records)
		d.sendLocal(t, ipcpb.Table_TABLE_LOCAL_DYNAMIC, opts.local.dynamic)
	}
	d.sendHosts(t, 1, hostsText)
	select {
	case <-readyCh:
	case err := <-d.done:
		t.Fatalf("Serve returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no ready")
	}
	return d
}

func (d *dnsdInstance) sendConfig(t testing.TB, cfg *ipcpb.DNSConfig) {
	t.Helper()
	if err := d.master.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: cfg}}); err != nil {
		t.Fatal(err)
	}
}

func (d *dnsdInstance) sendHosts(t testing.TB, gen uint64, text string) {
	t.Helper()
	if err := ipc.SendHosts(d.master, gen, hostsEntries(t, d.hostsSource, text)); err != nil {
		t.Fatal(err)
	}
}

func upstreamCfg(ups ...netip.AddrPort) *ipcpb.DNSConfig {
	cfg := &ipcpb.DNSConfig{CacheSize: 150, Generation: 1}
	for _, u := range ups {
		cfg.Upstreams = append(cfg.Upstreams, &ipcpb.Upstream{Address: u.String(), Source: "server"})
	}
	return cfg
}

func newQuery(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// ask sends one query over UDP (or TCP) and returns the reply.
func ask(t testing.TB, d *dnsdInstance, q *dns.Msg, network string) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 8 * time.Second, UDPSize: 0}
	addr := d.udpAddr
	if network == "tcp" {
		addr = d.tcpAddr
	}
	r, _, err := c.Exchange(q, addr.String())
	if err != nil {
		t.Fatalf("%s %s: %v", network, q.Question[0].String(), err)
	}
	if r.Id != q.Id {
		t.Fatalf("reply id %d, query id %d", r.Id, q.Id)
	}
	return r
}

func answerStrings(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		s := rr.String()
		out = append(out, strings.Join(strings.Fields(s), " "))
	}
	return out
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
