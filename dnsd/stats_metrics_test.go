package dnsd

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// recvFromDNSD reads dnsd's next message to the master, bounded in time.
func recvFromDNSD(t *testing.T, d *dnsdInstance) *ipcpb.Envelope {
	t.Helper()
	if err := d.master.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	env, _, err := d.master.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestMetricsReport: a MetricsRequest is answered with counters that
// moved with real queries: one forwarded, one from the cache, one from
// hosts, and the upstream's latency histogram holds the one answer.
func TestMetricsReport(t *testing.T) {
	up := startCrafted(t, map[string][]string{"a.example.": {"a.example. 60 IN A 8.8.8.8"}})
	d := startDNSD(t, upstreamCfg(up.addr), "10.0.0.1 host.lan\n", instanceOptions{})
	ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
	ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
	ask(t, d, newQuery("host.lan.", dns.TypeA), "udp")
	if err := d.master.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_MetricsRequest{MetricsRequest: &ipcpb.MetricsRequest{Id: 9}}}); err != nil {
		t.Fatal(err)
	}
	m := recvFromDNSD(t, d).GetDnsMetrics()
	if m == nil {
		t.Fatal("no DNSMetrics")
	}
	if m.GetId() != 9 || m.GetQueries() != 3 || m.GetForwarded() != 1 || m.GetAnsweredCache() != 1 ||
		m.GetAnsweredLocal() != 1 || m.GetCacheInserts() != 1 || m.GetCacheHits() != 1 || m.GetCacheSize() != 150 || m.GetCacheEntries() != 1 {
		t.Errorf("metrics %v", m)
	}
	sv := m.GetServers()
	if len(sv) != 1 || sv[0].GetAddress() != up.addr.String() || sv[0].GetSent() != 1 || sv[0].GetAnswered() != 1 {
		t.Fatalf("servers %v", sv)
	}
	var n uint64
	for _, b := range sv[0].GetLatencyBuckets() {
		n += b
	}
	if n != 1 || len(sv[0].GetLatencyBuckets()) != len(ipc.UpstreamLatencyBoundsMs)+1 {
		t.Errorf("latency buckets %v, want one answer in %d buckets", sv[0].GetLatencyBuckets(), len(ipc.UpstreamLatencyBoundsMs)+1)
	}
}

// TestCacheDumpRequest: moatctl dump's request is answered with the
// cached records, in one chunk with the id asked for.
func TestCacheDumpRequest(t *testing.T) {
	up := startCrafted(t, map[string][]string{"a.example.": {"a.example. 60 IN A 8.8.8.8"}})
	d := startDNSD(t, upstreamCfg(up.addr), "", instanceOptions{})
	ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
	if err := d.master.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_CacheDumpRequest{CacheDumpRequest: &ipcpb.CacheDumpRequest{Id: 5}}}); err != nil {
		t.Fatal(err)
	}
	c := recvFromDNSD(t, d).GetCacheDumpChunk()
	if c == nil || c.GetId() != 5 || c.GetMore() || c.GetTruncated() || c.GetNow() == 0 {
		t.Fatalf("chunk %v", c)
	}
	if e := c.GetEntries(); len(e) != 1 || e[0].GetName() != "a.example" || e[0].GetData() != "8.8.8.8" || e[0].GetExpires() <= c.GetNow() {
		t.Errorf("entries %v", e)
	}
}

// TestSendCacheDumpChunks: a long dump is cut into chunks that each pass
// validation, all but the last marked more, none lost.
func TestSendCacheDumpChunks(t *testing.T) {
	for _, n := range []int{0, 1, 5000, 12000} {
		fa, fb, err := ipc.Pair()
		if err != nil {
			t.Fatal(err)
		}
		a, b := ipc.NewConn(fa), ipc.NewConn(fb)
		entries := make([]*ipcpb.CacheDumpEntry, n)
		for i := range entries {
			entries[i] = &ipcpb.CacheDumpEntry{Name: "host-with-a-long-name.example.com", Data: "192.0.2.1", Flags: "4F", Expires: 1}
		}
		errc := make(chan error, 1)
		go func() { errc <- sendCacheDump(a, 3, time.Unix(100, 0), entries, true) }()
		got, chunks := 0, 0
		for more := true; more; chunks++ {
			if chunks > n+1 {
				t.Fatal("too many chunks")
			}
			if err := b.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			env, _, err := b.Recv()
			if err != nil {
				t.Fatal(err)
			}
			c := env.GetCacheDumpChunk()
			got += len(c.GetEntries())
			more = c.GetMore()
			if !more && !c.GetTruncated() {
				t.Errorf("%d entries: last chunk not marked truncated", n)
			}
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if got != n || (n > 5000 && chunks < 2) {
			t.Errorf("%d entries: got %d in %d chunks", n, got, chunks)
		}
		a.Close()
		b.Close()
	}
}

// TestLatencyHistogram: each latency lands in the first bucket whose bound
// it does not exceed; the array matches the shared bounds.
func TestLatencyHistogram(t *testing.T) {
	if latencyBuckets != len(ipc.UpstreamLatencyBoundsMs)+1 {
		t.Fatalf("latencyBuckets %d, want %d", latencyBuckets, len(ipc.UpstreamLatencyBoundsMs)+1)
	}
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{0, 0}, {time.Millisecond, 0}, {1500 * time.Microsecond, 1}, {3 * time.Millisecond, 2},
		{2500 * time.Millisecond, 10}, {time.Hour, 11}, {-time.Second, 0},
	} {
		var h latencyHistogram
		h.observe(tc.d)
		buckets, _ := h.snapshot()
		for i, n := range buckets {
			if (i == tc.want) != (n == 1) {
				t.Errorf("%v: buckets %v, want bucket %d", tc.d, buckets, tc.want)
				break
			}
		}
	}
}
