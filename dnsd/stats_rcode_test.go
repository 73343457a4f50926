package dnsd

import (
	"context"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/testutil"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// askMetrics asks dnsd for its DNSMetrics over the master's connection,
// as the master does at a scrape; other messages are skipped (bounded).
func askMetrics(t *testing.T, d *dnsdInstance, id uint64) *ipcpb.DNSMetrics {
	t.Helper()
	if err := d.master.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_MetricsRequest{MetricsRequest: &ipcpb.MetricsRequest{Id: id}}}); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if m := recvFromDNSD(t, d).GetDnsMetrics(); m != nil && m.GetId() == id {
			return m
		}
	}
	t.Fatalf("no DNSMetrics %d among dnsd's next 100 messages", id)
	return nil
}

var digStatus = regexp.MustCompile(`status: ([A-Z]+)`)

// TestResponsesByRcodeDig: real dig queries, over UDP and TCP, each move
// responses_by_rcode by exactly one, under the RCODE dig saw: a forwarded
// answer (the miss path's batched send), the same answer from the cache
// (the UDP fast path), NXDOMAIN forwarded and cached, SERVFAIL after the
// only server failed, hosts data, an opcode dnsd does not implement,
// REFUSED for want of a server, and BADVERS, whose header RCODE is 0.
func TestResponsesByRcodeDig(t *testing.T) {
	digPath := testutil.RequireCommand(t, "dig")
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		switch strings.ToLower(r.Question[0].Name) {
		case "a.example.":
			rr, _ := dns.NewRR("a.example. 3600 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		case "servfail.example.":
			m.Rcode = dns.RcodeServerFailure
		default:
			m.Rcode = dns.RcodeNameError
			soa, _ := dns.NewRR("example. 3600 IN SOA ns.example. host.example. 1 3600 600 86400 3600")
			m.Ns = append(m.Ns, soa)
		}
		_ = w.WriteMsg(m)
	})
	d := startDNSD(t, upstreamCfg(up.addr), "10.0.0.1 host.lan\n", instanceOptions{})
	bare := startDNSD(t, upstreamCfg(), "", instanceOptions{}) // no server at all

	id := uint64(0)
	for _, tc := range []struct {
		name   string
		d      *dnsdInstance
		args   []string
		status string // what dig must see
		rcode  int    // the counter that must move
	}{
		{"forwarded", d, []string{"a.example", "A"}, "NOERROR", dns.RcodeSuccess},
		{"cached: the fast path", d, []string{"a.example", "A"}, "NOERROR", dns.RcodeSuccess},
		{"nxdomain forwarded", d, []string{"nx.example", "A"}, "NXDOMAIN", dns.RcodeNameError},
		{"nxdomain cached", d, []string{"nx.example", "A"}, "NXDOMAIN", dns.RcodeNameError},
		{"servfail", d, []string{"servfail.example", "A"}, "SERVFAIL", dns.RcodeServerFailure},
		{"hosts", d, []string{"host.lan", "A"}, "NOERROR", dns.RcodeSuccess},
		{"tcp cached", d, []string{"+tcp", "a.example", "A"}, "NOERROR", dns.RcodeSuccess},
		{"tcp nxdomain", d, []string{"+tcp", "nx.example", "A"}, "NXDOMAIN", dns.RcodeNameError},
		{"opcode status", d, []string{"+opcode=2", "a.example", "A"}, "NOTIMP", dns.RcodeNotImplemented},
		{"no server", bare, []string{"a.example", "A"}, "REFUSED", dns.RcodeRefused},
		{"tcp no server", bare, []string{"+tcp", "a.example", "A"}, "REFUSED", dns.RcodeRefused},
		{"edns version 1: BADVERS, header RCODE 0", d, []string{"+edns=1", "+noednsnegotiation", "a.example", "A"}, "BADVERS", dns.RcodeSuccess},
	} {
		id++
		before := askMetrics(t, tc.d, id).GetResponsesByRcode()
		addr := tc.d.udpAddr
		if tc.args[0] == "+tcp" {
			addr = tc.d.tcpAddr
		}
		out := runDig(t, digPath, addr, tc.args)
		if m := digStatus.FindStringSubmatch(out); m == nil || m[1] != tc.status {
			t.Errorf("%s: dig status %v, want %s:\n%s", tc.name, m, tc.status, out)
			continue
		}
		id++
		after := askMetrics(t, tc.d, id).GetResponsesByRcode()
		if len(before) != numRcodes || len(after) != numRcodes {
			t.Fatalf("%s: %d and %d rcodes reported, want %d", tc.name, len(before), len(after), numRcodes)
		}
		for i := range after {
			want := before[i]
			if i == tc.rcode {
				want++
			}
			if after[i] != want {
				t.Errorf("%s: rcode %d (%s) went from %d to %d, want %d", tc.name, i, dns.RcodeToString[i], before[i], after[i], want)
			}
		}
	}
	if n := up.queries(); n != 3 {
		t.Errorf("upstream saw %d queries, want 3 (a.example, nx.example, servfail.example once each: the rest from the cache)", n)
	}
}

// runDig runs one dig query at addr, bounded in time.
func runDig(t *testing.T, dig string, addr netip.AddrPort, args []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	argv := append([]string{"@" + addr.Addr().String(), "-p", strconv.Itoa(int(addr.Port())), "+tries=1", "+time=5"}, args...)
	out, err := exec.CommandContext(ctx, dig, argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", argv, err, out)
	}
	return string(out)
}

// TestRcodeTally: a batch's tally reaches the shared counters whole and
// starts over; a reply too short for a header counts nowhere.
func TestRcodeTally(t *testing.T) {
	reply := func(rcode byte) []byte { return []byte{0, 1, 0x81, 0x80 | rcode, 0, 0, 0, 0, 0, 0, 0, 0} }
	var c rcodeCounts
	var tally rcodeTally
	for _, r := range [][]byte{reply(0), reply(3), reply(3), reply(15), {0, 1, 0x81}, nil} {
		tally.note(r)
	}
	if got := c.snapshot(); got[3] != 0 {
		t.Fatalf("counted before addTo: %v", got)
	}
	tally.addTo(&c)
	tally.addTo(&c) // nothing more
	c.count(reply(2))
	c.count([]byte{1})
	want := make([]uint64, numRcodes)
	want[0], want[2], want[3], want[15] = 1, 1, 2, 1
	got := c.snapshot()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("counts %v, want %v", got, want)
		}
	}
	if tally.pending || tally.n != [numRcodes]uint32{} {
		t.Errorf("tally not cleared: %+v", tally)
	}
}

// BenchmarkHotRcodeTally is what the rcode counting adds to the UDP fast
// path per reply: a note per reply and, per batch of udpBatch replies,
// one addTo (an atomic add per RCODE seen). ns/op is per reply.
func BenchmarkHotRcodeTally(b *testing.B) {
	var c rcodeCounts
	var tally rcodeTally
	replies := [][]byte{{0, 1, 0x81, 0x80}, {0, 1, 0x81, 0x83}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tally.note(replies[i&1])
		i++
		if i%udpBatch == 0 {
			tally.addTo(&c)
		}
	}
}
