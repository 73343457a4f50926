package dnsd

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/cache"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// TestStatsReport: a StatsRequest from the master is answered with the
// counters dnsmasq's SIGUSR1 dump shows.
func TestStatsReport(t *testing.T) {
	up := startCrafted(t, map[string][]string{"a.example.": {"a.example. 60 IN A 8.8.8.8"}})
	cfg := upstreamCfg(up.addr)
	cfg.UseStaleCache = true
	d := startDNSD(t, cfg, "10.0.0.1 host.lan\n", instanceOptions{})
	ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
	ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
	ask(t, d, newQuery("host.lan.", dns.TypeA), "udp")
	if err := d.master.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_StatsRequest{StatsRequest: &ipcpb.StatsRequest{Id: 42}}}); err != nil {
		t.Fatal(err)
	}
	if err := d.master.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	env, _, err := d.master.Recv()
	if err != nil {
		t.Fatal(err)
	}
	r := env.GetStatsReport()
	if r == nil {
		t.Fatalf("got %v, want a StatsReport", env)
	}
	if r.GetId() != 42 || r.GetCacheSize() != 150 || r.GetCacheInserts() != 1 || r.GetQueriesForwarded() != 1 ||
		r.GetQueriesAnsweredLocally() != 2 || !r.GetUseStaleCache() || r.GetTcpMax() == 0 {
		t.Errorf("report %v", r)
	}
	if sv := r.GetServers(); len(sv) != 1 || sv[0].GetAddress() != up.addr.String() || sv[0].GetQueries() != 1 || sv[0].GetFailed() != 0 {
		t.Errorf("servers %v, want %s with one query sent", sv, up.addr)
	}
}

// TestCacheTotalsCarry: the totals keep counting across a replaced cache
// (SIGHUP), as dnsmasq's metrics do.
func TestCacheTotalsCarry(t *testing.T) {
	var tot cacheTotals
	q := dns.Question{Name: "a.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	reply := msgWith(0, "a.example. 60 IN A 8.8.8.8")
	reply.Question = []dns.Question{q}
	reply.Response = true
	first := cache.New(cache.Options{Size: 10})
	first.Put(q, reply)
	if got := tot.total(first).Inserts; got != 1 {
		t.Fatalf("inserts %d, want 1", got)
	}
	second := cache.New(cache.Options{Size: 10})
	second.Put(q, reply)
	second.Put(dns.Question{Name: "b.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}, msgWith(0))
	if got := tot.total(second).Inserts; got < 2 {
		t.Errorf("inserts %d after a new cache, want the first cache's 1 carried over", got)
	}
}
