package dnsd

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// recUpstream is a UDP upstream on a chosen loopback address that records
// where each query came from and answers through handle (nil: no answer).
type recUpstream struct {
	addr   netip.AddrPort
	mu     sync.Mutex
	froms  []netip.AddrPort
	names  []string
	handle func(q *dns.Msg) *dns.Msg
}

// startRecUpstream listens on ip (a 127.0.0.0/8 address or ::1), port 0.
func startRecUpstream(t testing.TB, ip string, handle func(q *dns.Msg) *dns.Msg) *recUpstream {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	u := &recUpstream{addr: pc.LocalAddr().(*net.UDPAddr).AddrPort(), handle: handle}
	u.addr = netip.AddrPortFrom(u.addr.Addr().Unmap(), u.addr.Port())
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil || len(q.Question) != 1 {
				continue
			}
			ap := from.(*net.UDPAddr).AddrPort()
			u.mu.Lock()
			u.froms = append(u.froms, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
			u.names = append(u.names, q.Question[0].Name)
			h := u.handle
			u.mu.Unlock()
			if h == nil {
				continue
			}
			go func() {
				// As a real server: names match in any case (dnsd sends
				// a random one, 0x20), and the reply echoes the case
				// asked.
				asked := q.Question[0].Name
				lower := strings.ToLower(asked)
				q.Question[0].Name = lower
				m := h(q)
				if m == nil {
					return
				}
				restoreCase(m, lower, asked)
				if b, err := m.Pack(); err == nil {
					_, _ = pc.WriteTo(b, from)
				}
			}()
		}
	}()
	return u
}

func (u *recUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.froms)
}

func (u *recUpstream) sources() []netip.AddrPort {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]netip.AddrPort(nil), u.froms...)
}

func (u *recUpstream) setHandler(h func(q *dns.Msg) *dns.Msg) {
	u.mu.Lock()
	u.handle = h
	u.mu.Unlock()
}

// replyA answers A queries with ip, after delay.
func replyA(ip string, delay time.Duration) func(q *dns.Msg) *dns.Msg {
	return func(q *dns.Msg) *dns.Msg {
		time.Sleep(delay)
		return aReply(q, ip)
	}
}

func replyRcode(rcode int) func(q *dns.Msg) *dns.Msg {
	return func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetRcode(q, rcode)
		return m
	}
}

// policyCfg is upstreamCfg with the policy fields set by edit.
func policyCfg(edit func(c *ipcpb.DNSConfig), ups ...netip.AddrPort) *ipcpb.DNSConfig {
	c := upstreamCfg(ups...)
	if edit != nil {
		edit(c)
	}
	return c
}

// sendUpstreamTable streams a TABLE_UPSTREAMS as the master does.
func (d *dnsdInstance) sendUpstreamTable(t testing.TB, gen uint64, ups []*ipcpb.Upstream) {
	t.Helper()
	if err := ipc.SendUpstreams(d.master, gen, ups); err != nil {
		t.Fatal(err)
	}
}

// firstA is the first A record's address of r, or "".
func firstA(r *dns.Msg) string {
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String()
		}
	}
	return ""
}

// statFor returns the counters of the server at addr.
func statFor(t testing.TB, s *Server, addr netip.AddrPort) upstreamStat {
	t.Helper()
	for _, st := range s.upstreamStats() {
		if st.Addr == addr {
			return st
		}
	}
	t.Fatalf("no stats for %s in %+v", addr, s.upstreamStats())
	return upstreamStat{}
}
