package masterd

import (
	"bytes"
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/promtext"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/sockfilter"
)

// TestExpositionEscaping: label values and HELP texts with the
// characters the format escapes read back unchanged through a strict
// parser; special float values are spelled as the format wants.
func TestExpositionEscaping(t *testing.T) {
	var e exposition
	odd := "a \"quoted\" \\ back\nslash"
	e.family("x_total", "counter", "Help with \\ and\nnewline.")
	e.sample("x_total", []label{{"v", odd}, {"w", ""}}, 2)
	e.family("g", "gauge", "Gauge.")
	e.sample("g", []label{{"k", "inf"}}, math.Inf(1))
	e.sample("g", []label{{"k", "small"}}, 1e-7)
	fams, err := promtext.Parse(bytes.NewReader(e.b.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, e.b.String())
	}
	if v, ok := fams["x_total"].Get(map[string]string{"v": odd, "w": ""}); !ok || v != 2 {
		t.Errorf("label value did not round-trip:\n%s", e.b.String())
	}
	if fams["x_total"].Help != "Help with \\ and\nnewline." {
		t.Errorf("help %q", fams["x_total"].Help)
	}
	if v, _ := fams["g"].Get(map[string]string{"k": "inf"}); !math.IsInf(v, 1) || !strings.Contains(e.b.String(), `g{k="inf"} +Inf`) {
		t.Errorf("+Inf:\n%s", e.b.String())
	}
}

// sampleDNSMetrics is a dnsd report with every kind of series.
func sampleDNSMetrics() *ipcpb.DNSMetrics {
	buckets := make([]uint64, len(ipc.UpstreamLatencyBoundsMs)+1)
	buckets[0], buckets[3], buckets[len(buckets)-1] = 2, 1, 1
	return &ipcpb.DNSMetrics{
		Id: 1, Queries: 20, AnsweredCache: 5, AnsweredLocal: 3, Forwarded: 10, Servfail: 1, Refused: 1,
		CacheHits: 4, CacheStaleHits: 1, CacheMisses: 10, CacheInserts: 9, CacheEvictions: 2, CacheEntries: 7, CacheSize: 150,
		ResponsesByRcode: []uint64{12, 0, 1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0},
		Servers: []*ipcpb.UpstreamMetrics{
			{Address: "192.0.2.1:53", Sent: 6, Answered: 4, Nxdomain: 1, LatencyBuckets: buckets, LatencySumUs: 2_500_000},
			{Address: "[2001:db8::1]:53", Sent: 4, Failed: 4, LatencyBuckets: make([]uint64, len(buckets))},
		},
	}
}

// TestMetricsSeries: the DNS, DHCP and worker series pass the strict
// parser and carry the reported values; histogram buckets are cumulative
// in seconds.
func TestMetricsSeries(t *testing.T) {
	var e exposition
	m := &master{}
	m.workerSeries(&e, map[string]bool{})
	dnsSeries(&e, sampleDNSMetrics())
	received := make([]uint64, ipc.MaxDHCPMessageTypes)
	received[1], received[3], received[20] = 4, 3, 1
	dhcpSeries(&e, &ipcpb.DHCPMetrics{Id: 2, Received: received, Sent: []uint64{0, 0, 4, 0, 0, 3}, Malformed: 1,
		Dropped: map[string]uint64{"short": 1, "oversize": 2, "not_ipv4": 0}})
	fams, err := promtext.Parse(bytes.NewReader(e.b.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, e.b.String())
	}
	for _, tc := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"moat_dns_queries_total", nil, 20},
		{"moat_dns_query_results_total", map[string]string{"result": "cache"}, 5},
		{"moat_dns_query_results_total", map[string]string{"result": "servfail"}, 1},
		{"moat_dns_cache_hits_total", nil, 5},
		{"moat_dns_responses_total", map[string]string{"rcode": "NOERROR"}, 12},
		{"moat_dns_responses_total", map[string]string{"rcode": "SERVFAIL"}, 1},
		{"moat_dns_responses_total", map[string]string{"rcode": "NXDOMAIN"}, 2},
		{"moat_dns_responses_total", map[string]string{"rcode": "REFUSED"}, 1},
		{"moat_dns_responses_total", map[string]string{"rcode": "NOTIMP"}, 0},
		{"moat_dns_responses_total", map[string]string{"rcode": "RCODE14"}, 3},
		{"moat_dns_cache_evictions_total", nil, 2},
		{"moat_dns_cache_entries", nil, 7},
		{"moat_dns_upstream_nxdomain_total", map[string]string{"server": "192.0.2.1:53"}, 1},
		{"moat_dns_upstream_failures_total", map[string]string{"server": "[2001:db8::1]:53"}, 4},
		{"moat_dhcp_messages_received_total", map[string]string{"type": "discover"}, 4},
		{"moat_dhcp_messages_received_total", map[string]string{"type": "type_20"}, 1},
		{"moat_dhcp_messages_sent_total", map[string]string{"type": "ack"}, 3},
		{"moat_dhcp_messages_sent_total", map[string]string{"type": "nak"}, 0},
		{"moat_dhcp_malformed_total", nil, 1},
		{"moat_dhcp_dropped_total", map[string]string{"reason": "short"}, 1},
		{"moat_dhcp_dropped_total", map[string]string{"reason": "oversize"}, 2},
		{"moat_dhcp_dropped_total", map[string]string{"reason": "not_ipv4"}, 0},
	} {
		f := fams[tc.family]
		if f == nil {
			t.Errorf("no family %s", tc.family)
			continue
		}
		if tc.labels == nil {
			tc.labels = map[string]string{}
		}
		if v, ok := f.Get(tc.labels); !ok || v != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.family, tc.labels, v, ok, tc.want)
		}
	}
	h := fams["moat_dns_upstream_latency_seconds"]
	if h == nil || h.Type != "histogram" {
		t.Fatalf("latency histogram missing")
	}
	server := map[string]string{"server": "192.0.2.1:53"}
	for _, tc := range []struct {
		le   string
		want float64
	}{{"0.001", 2}, {"0.005", 2}, {"0.01", 3}, {"2.5", 3}, {"+Inf", 4}} {
		if v, ok := h.Get(map[string]string{"server": "192.0.2.1:53", "le": tc.le}); !ok || v != tc.want {
			t.Errorf("bucket le=%s: %v, want %v", tc.le, v, tc.want)
		}
	}
	for _, s := range h.Samples {
		if s.Name == "moat_dns_upstream_latency_seconds_sum" && s.Labels["server"] == server["server"] && s.Value != 2.5 {
			t.Errorf("sum %v, want 2.5 seconds", s.Value)
		}
	}
}

// TestScrapeWithoutWorkers: a master whose workers are disabled still
// serves a valid exposition.
func TestScrapeWithoutWorkers(t *testing.T) {
	m := &master{}
	out := m.scrape(context.Background(), time.Now())
	fams, err := promtext.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, ok := fams["moat_build_info"].Get(map[string]string{"version": Version}); !ok {
		t.Errorf("no build info:\n%s", out)
	}
}

// TestSocketFilterActiveSeries: moat_socket_filter_active lists every
// mode, with 1 only for the one in force (none without DNS or filters).
func TestSocketFilterActiveSeries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		filters *socketFilters
		want    string
	}{
		{"dns disabled", nil, "none"},
		{"off", &socketFilters{active: sockfilter.ActiveNone}, "none"},
		{"classic", &socketFilters{active: sockfilter.ActiveClassic}, "classic"},
		{"ebpf", &socketFilters{active: sockfilter.ActiveEBPF}, "ebpf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e exposition
			m := &master{filters: tc.filters}
			m.filterSeries(&e)
			fams, err := promtext.Parse(bytes.NewReader(e.b.Bytes()))
			if err != nil {
				t.Fatalf("%v\n%s", err, e.b.String())
			}
			f := fams["moat_socket_filter_active"]
			if f == nil || f.Type != "gauge" {
				t.Fatalf("no gauge moat_socket_filter_active:\n%s", e.b.String())
			}
			for _, mode := range []string{"ebpf", "classic", "none"} {
				want := 0.0
				if mode == tc.want {
					want = 1
				}
				if v, ok := f.Get(map[string]string{"mode": mode}); !ok || v != want {
					t.Errorf("mode=%s: %v (found %v), want %v\n%s", mode, v, ok, want, e.b.String())
				}
			}
		})
	}
}

// TestDumpType: dnsmasq's flag letters read back as record types.
func TestDumpType(t *testing.T) {
	for _, tc := range []struct {
		data, flags, want string
	}{
		{"192.0.2.1", "4F        ", "A"},
		{"2001:db8::1", "6F        ", "AAAA"},
		{"target.example", "CF        ", "CNAME"},
		{"192.0.2.1", "4 R       ", "PTR"},
		{"<MX>", "TF        ", "MX"},
		{"", "4F   N    ", "A"},
		{"", " F   NX   ", "*"},
		{"", "", "?"},
	} {
		if got := dumpType(&ipcpb.CacheDumpEntry{Data: tc.data, Flags: tc.flags}); got != tc.want {
			t.Errorf("%q %q: %s, want %s", tc.data, tc.flags, got, tc.want)
		}
	}
}

// BenchmarkMetricsExposition: writing one scrape's DNS and DHCP series
// (two upstream servers).
func BenchmarkMetricsExposition(b *testing.B) {
	d := sampleDNSMetrics()
	dh := &ipcpb.DHCPMetrics{Id: 1, Received: make([]uint64, ipc.MaxDHCPMessageTypes), Sent: make([]uint64, ipc.MaxDHCPMessageTypes)}
	b.ReportAllocs()
	for b.Loop() {
		var e exposition
		dnsSeries(&e, d)
		dhcpSeries(&e, dh)
	}
}

// TestServeMetricsOn: over a real TCP socket the endpoint answers GET
// with the exposition, refuses other methods, and stops cleanly when its
// context ends.
func TestServeMetricsOn(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log, _ := testLogger()
	m := &master{cfg: &config.Config{}, log: log}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- m.serveMetricsOn(ctx, l) }()

	client := &http.Client{Timeout: 10 * time.Second}
	url := "http://" + l.Addr().String() + "/metrics"
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != metricsContentType {
		t.Errorf("GET: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if _, err := promtext.Parse(bytes.NewReader(body)); err != nil {
		t.Errorf("GET body: %v\n%s", err, body)
	}

	resp, err = client.Post(url, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %s, Allow %q; want 405 with GET, HEAD", resp.Status, resp.Header.Get("Allow"))
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serveMetricsOn after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serveMetricsOn did not return after cancel")
	}
}
