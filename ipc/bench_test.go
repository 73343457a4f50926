package ipc

import (
	"testing"

	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// BenchmarkSendRecv: one small message through the socketpair and back out,
// both in one goroutine (the socket buffer holds it), so the number is the
// cost of marshal + validate + sendmsg + recvmsg + decode.
func BenchmarkSendRecv(b *testing.B) {
	a, c := newConnPair(b)
	m := &ipcpb.Envelope{Msg: &ipcpb.Envelope_ProbeResult{ProbeResult: &ipcpb.ProbeResult{Probe: "open", Blocked: true, Detail: "ENOENT"}}}
	b.SetBytes(int64(proto.Size(m)))
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Send(m); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendHosts: a 10,000-entry hosts table streamed and assembled,
// sender and receiver in separate goroutines as in production.
func BenchmarkSendHosts(b *testing.B) {
	const n = 10_000
	a, c := newConnPair(b)
	entries := hostEntries(n)
	b.SetBytes(int64(proto.Size(&ipcpb.TableItem{Hosts: entries})))
	b.ReportAllocs()
	for b.Loop() {
		sent := make(chan error, 1)
		go func() { sent <- SendHosts(a, 1, entries) }()
		var asm TableAssembler
		for {
			m, _, err := c.Recv()
			if err != nil {
				b.Fatal(err)
			}
			done, _, hosts, err := asm.Add(m)
			if err != nil {
				b.Fatal(err)
			}
			if done {
				if len(hosts) != n {
					b.Fatalf("%d entries, want %d", len(hosts), n)
				}
				break
			}
		}
		if err := <-sent; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
}
