package ipc

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// upstreamEntries makes n valid entries: servers with every optional
// field, local domains and server=/dom/# entries in turn.
func upstreamEntries(n int) []*ipcpb.Upstream {
	out := make([]*ipcpb.Upstream, n)
	for i := range out {
		dom := fmt.Sprintf("d%d.example", i)
		switch i % 3 {
		case 0:
			out[i] = &ipcpb.Upstream{Address: "192.0.2.1:53", Domains: []string{dom, "*" + dom}, Source: "/etc/servers:1",
				SourceAddress: "127.0.0.2", SourcePort: 5300, Interface: "lo"}
		case 1:
			out[i] = &ipcpb.Upstream{Domains: []string{dom}, Local: true, Source: "local"}
		default:
			out[i] = &ipcpb.Upstream{Domains: []string{dom}, UseStandard: true}
		}
	}
	return out
}

func TestSendUpstreamsRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 50_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			a, b := newConnPair(t)
			entries := upstreamEntries(n)
			sent := make(chan error, 1)
			go func() { sent <- SendUpstreams(a, 7, entries) }()
			var asm TableAssembler
			b.SetReadDeadline(time.Now().Add(testWait))
			items := 0
			for i := 0; ; i++ {
				if i > n+3 {
					t.Fatal("no TableEnd")
				}
				m, _, err := b.Recv()
				if err != nil {
					t.Fatal(err)
				}
				if size := proto.Size(m); size > MaxMessageSize-streamMargin {
					t.Errorf("message %d is %d bytes, over budget", i, size)
				}
				done, table, hosts, err := asm.Add(m)
				if err != nil {
					t.Fatal(err)
				}
				if m.GetTableItem() != nil {
					items++
				}
				if !done {
					if asm.Items() != nil {
						t.Fatal("items handed out before the end")
					}
					continue
				}
				if table != ipcpb.Table_TABLE_UPSTREAMS || len(hosts) != 0 {
					t.Fatalf("done with table %s, %d hosts", table, len(hosts))
				}
				break
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			got := UpstreamsOf(asm.Items())
			if len(got) != n {
				t.Fatalf("%d entries, sent %d", len(got), n)
			}
			for i := range got {
				if !proto.Equal(got[i], entries[i]) {
					t.Fatalf("entry %d = %v, sent %v", i, got[i], entries[i])
				}
			}
			if n == 50_000 && items < 2 {
				t.Errorf("50000 entries in %d item(s): not batched", items)
			}
		})
	}
}

func TestSendUpstreamsRefusesInvalid(t *testing.T) {
	tests := []struct {
		name string
		u    *ipcpb.Upstream
		want string
	}{
		{"nil", nil, "nil upstream"},
		{"server without address", &ipcpb.Upstream{}, "address: empty"},
		{"local with address", &ipcpb.Upstream{Local: true, Address: "192.0.2.1:53", Domains: []string{"a"}}, "address: set"},
		{"local without domains", &ipcpb.Upstream{Local: true}, "domains: none"},
		{"local and standard", &ipcpb.Upstream{Local: true, UseStandard: true, Domains: []string{"a"}}, "both"},
		{"standard with interface", &ipcpb.Upstream{UseStandard: true, Domains: []string{"a"}, Interface: "eth0"}, "source or interface"},
		{"long interface", &ipcpb.Upstream{Address: "192.0.2.1:53", Interface: "0123456789abcdef"}, "interface"},
		{"port over 65535", &ipcpb.Upstream{Address: "192.0.2.1:53", SourcePort: 65536}, "source_port"},
		{"long domain", &ipcpb.Upstream{Address: "192.0.2.1:53", Domains: []string{strings.Repeat("a", 256)}}, "domains[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := newConnPair(t)
			err := SendUpstreams(a, 1, []*ipcpb.Upstream{tt.u})
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SendUpstreams = %v, want ErrInvalid about %q", err, tt.want)
			}
		})
	}
}

// TestDNSConfigUpstreamsAreServers: DNSConfig.upstreams carries servers
// only; local and standard entries travel in the table.
func TestDNSConfigUpstreamsAreServers(t *testing.T) {
	m := &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: &ipcpb.DNSConfig{
		Upstreams: []*ipcpb.Upstream{{Local: true, Domains: []string{"lan"}}},
	}}}
	if err := Validate(m); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "upstreams[0]") {
		t.Errorf("Validate = %v, want ErrInvalid about upstreams[0]", err)
	}
	ok := &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: &ipcpb.DNSConfig{
		Upstreams:   []*ipcpb.Upstream{{Address: "192.0.2.1:53", SourceAddress: "192.0.2.9", SourcePort: 53, Interface: "eth0"}},
		StrictOrder: true, AllServers: true, DnsForwardMax: proto.Uint32(300), QueryPort: proto.Uint32(0), MinPort: 2000, MaxPort: 3000,
		FastDnsRetryMs: 500, FastDnsRetryTotalMs: 5000, DnsLoopDetect: true,
	}}}
	if err := Validate(ok); err != nil {
		t.Errorf("Validate(policy sample) = %v", err)
	}
}

func TestUpstreamTableAssemblerErrors(t *testing.T) {
	begin := func(n uint32) *ipcpb.Envelope {
		return &ipcpb.Envelope{Msg: &ipcpb.Envelope_TableBegin{TableBegin: &ipcpb.TableBegin{Table: ipcpb.Table_TABLE_UPSTREAMS, Generation: 1, Count: n}}}
	}
	item := func(it *ipcpb.TableItem) *ipcpb.Envelope {
		it.Generation = 1
		return &ipcpb.Envelope{Msg: &ipcpb.Envelope_TableItem{TableItem: it}}
	}
	tests := []struct {
		name string
		seq  []*ipcpb.Envelope
		text string
	}{
		{"hosts inside an upstreams table", []*ipcpb.Envelope{begin(2), item(&ipcpb.TableItem{Upstreams: upstreamEntries(1), Hosts: hostEntries(1)})}, "another table"},
		{"empty item", []*ipcpb.Envelope{begin(2), item(&ipcpb.TableItem{})}, "empty item"},
		{"more than announced", []*ipcpb.Envelope{begin(1), item(&ipcpb.TableItem{Upstreams: upstreamEntries(2)})}, "2 entries received, begin announced 1"},
		{"end early", []*ipcpb.Envelope{begin(2), item(&ipcpb.TableItem{Upstreams: upstreamEntries(1)}), end(1, 2)}, "end after 1 entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a TableAssembler
			var err error
			for i, m := range tt.seq {
				_, _, _, err = a.Add(m)
				if i < len(tt.seq)-1 && err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			if !errors.Is(err, ErrStream) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("last Add = %v, want ErrStream with %q", err, tt.text)
			}
			if a.InProgress() || a.Items() != nil {
				t.Error("assembler kept state after an error")
			}
		})
	}
}
