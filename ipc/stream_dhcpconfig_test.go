package ipc

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// bigDHCPConfig is a configuration whose hosts file holds n dhcp-host
// lines (about 40 bytes each), with a second small file and /etc/ethers.
func bigDHCPConfig(gen uint64, n int) *ipcpb.DHCPConfig {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "02:00:%02x:%02x:%02x:%02x,10.%d.%d.%d,host%d\n", byte(i>>24), byte(i>>16), byte(i>>8), byte(i), byte(i>>16), byte(i>>8), byte(i), i)
	}
	return &ipcpb.DHCPConfig{
		Generation: gen,
		Options:    "dhcp-range=10.0.0.10,10.255.255.250,12h\ndhcp-hostsfile=/etc/moat/big\ndhcp-hostsfile=/etc/moat/small\nread-ethers\n",
		HostsFiles: []*ipcpb.NamedText{{Name: "/etc/moat/big", Text: b.String()}, {Name: "/etc/moat/small", Text: "02:00:00:00:00:01,10.0.0.2,ümlaut\n"}},
		Ethers:     &ipcpb.NamedText{Name: "/etc/ethers", Text: "02:00:00:00:00:02 10.0.0.3\n"},
	}
}

// streamOf returns dc's stream, every message validated as Recv would.
func streamOf(t *testing.T, dc *ipcpb.DHCPConfig) []*ipcpb.Envelope {
	t.Helper()
	if err := CheckDHCPConfig(dc); err != nil {
		t.Fatal(err)
	}
	var out []*ipcpb.Envelope
	err := dhcpConfigMessages(dc, func(m *ipcpb.Envelope) error {
		if err := Validate(m); err != nil {
			return err
		}
		if n := proto.Size(m); n > MaxMessageSize {
			return fmt.Errorf("%d bytes", n)
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func chunkOf(m *ipcpb.Envelope) *ipcpb.DHCPConfigChunk { return m.GetDhcpConfigChunk() }

// TestDHCPConfigAssembler feeds the assembler streams in order and broken
// ones; only the whole, ordered stream yields a configuration, and a
// broken one leaves the assembler ready for the next begin.
func TestDHCPConfigAssembler(t *testing.T) {
	good := bigDHCPConfig(5, 5000) // about 200 KB: several chunks
	for _, tc := range []struct {
		name string
		edit func([]*ipcpb.Envelope) []*ipcpb.Envelope
		want string // "" the configuration; else in the error
	}{
		{"in order", func(s []*ipcpb.Envelope) []*ipcpb.Envelope { return s }, ""},
		{"chunks swapped", func(s []*ipcpb.Envelope) []*ipcpb.Envelope {
			s[1], s[2] = s[2], s[1]
			return s
		}, "chunk 1 where chunk 0 was due"},
		{"part order reversed", func(s []*ipcpb.Envelope) []*ipcpb.Envelope {
			// Renumbered so that only the parts are out of order.
			last := len(s) - 2
			s[1], s[last] = s[last], s[1]
			chunkOf(s[1]).Seq, chunkOf(s[last]).Seq = 0, uint32(last-1)
			return s
		}, "after a later part"},
		{"chunk dropped", func(s []*ipcpb.Envelope) []*ipcpb.Envelope { return append(s[:2:2], s[3:]...) }, "chunk 2 where chunk 1 was due"},
		{"missing end", func(s []*ipcpb.Envelope) []*ipcpb.Envelope { return s[:len(s)-1] }, "no end"},
		{"duplicate end", func(s []*ipcpb.Envelope) []*ipcpb.Envelope { return append(s, s[len(s)-1]) }, "without a begin"},
		{"second begin", func(s []*ipcpb.Envelope) []*ipcpb.Envelope { return append(s[:2:2], s...) }, "while generation 5 is in progress"},
		{"chunk without begin", func(s []*ipcpb.Envelope) []*ipcpb.Envelope { return s[1:] }, "without a begin"},
		{"chunk of another generation", func(s []*ipcpb.Envelope) []*ipcpb.Envelope {
			chunkOf(s[1]).Generation = 6
			return s
		}, "generation 6 inside generation 5"},
		{"end counts differ", func(s []*ipcpb.Envelope) []*ipcpb.Envelope {
			s[len(s)-1].GetDhcpConfigEnd().Chunks++
			return s
		}, "end counts"},
		{"more bytes than announced", func(s []*ipcpb.Envelope) []*ipcpb.Envelope {
			s[0].GetDhcpConfigBegin().Bytes -= 10
			return s
		}, "more than the"},
		{"unannounced file", func(s []*ipcpb.Envelope) []*ipcpb.Envelope {
			s[0].GetDhcpConfigBegin().HostsFileNames = s[0].GetDhcpConfigBegin().HostsFileNames[:1]
			return s
		}, "was not announced"},
		{"oversize begin", func(s []*ipcpb.Envelope) []*ipcpb.Envelope {
			s[0].GetDhcpConfigBegin().Bytes = MaxDHCPConfigBytes + 1
			return s
		}, "bytes: 67108865, at most"},
		{"too many chunks", func(s []*ipcpb.Envelope) []*ipcpb.Envelope {
			s[0].GetDhcpConfigBegin().Chunks = MaxDHCPConfigChunks + 1
			return s
		}, "chunks: 5121, at most"},
		{"broken UTF-8", func(s []*ipcpb.Envelope) []*ipcpb.Envelope {
			c := chunkOf(s[len(s)-2])
			c.Data[0] = 0xff
			return s
		}, "not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs := tc.edit(streamOf(t, good))
			var a DHCPConfigAssembler
			var got *ipcpb.DHCPConfig
			var err error
			for _, m := range msgs {
				var dc *ipcpb.DHCPConfig
				if dc, err = a.Add(m); err != nil {
					break
				}
				if dc != nil {
					got = dc
				}
			}
			if err == nil && got == nil {
				err = errors.New("no end")
				if !a.InProgress() {
					t.Fatal("a stream without its end is not in progress")
				}
				a = DHCPConfigAssembler{} // as a restarted dhcpd's
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(got, good) {
					t.Fatal("assembled configuration differs from the one sent")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if a.InProgress() {
				t.Error("a failed stream left the assembler in progress")
			}
			// The next good stream is assembled whole.
			for _, m := range streamOf(t, good) {
				if got, err = a.Add(m); err != nil {
					t.Fatalf("after the failure: %v", err)
				}
			}
			if !proto.Equal(got, good) {
				t.Fatal("after the failure: the next stream was not assembled")
			}
		})
	}
}

// TestDHCPConfigStreamEdges: empty texts have no chunks, a configuration
// of just the options is one chunk, and the caps are enforced at send.
func TestDHCPConfigStreamEdges(t *testing.T) {
	empty := &ipcpb.DHCPConfig{Generation: 1, Options: "dhcp-range=10.0.0.1,10.0.0.9\n",
		HostsFiles: []*ipcpb.NamedText{{Name: "/empty"}}, Ethers: &ipcpb.NamedText{Name: "/etc/ethers"}}
	msgs := streamOf(t, empty)
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want begin, one chunk, end", len(msgs))
	}
	var a DHCPConfigAssembler
	var got *ipcpb.DHCPConfig
	for _, m := range msgs {
		var err error
		if got, err = a.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	if !proto.Equal(got, empty) {
		t.Fatalf("got %v, want %v", got, empty)
	}
	for _, tc := range []struct {
		name string
		dc   *ipcpb.DHCPConfig
		want error
	}{
		{"generation zero", &ipcpb.DHCPConfig{Options: "x\n"}, ErrInvalid},
		{"no options", &ipcpb.DHCPConfig{Generation: 1}, ErrInvalid},
		{"over the total", &ipcpb.DHCPConfig{Generation: 1, Options: "x\n", HostsFiles: []*ipcpb.NamedText{
			{Name: "/a", Text: strings.Repeat("a", MaxDHCPConfigBytes/2)}, {Name: "/b", Text: strings.Repeat("b", MaxDHCPConfigBytes/2)}}}, ErrInvalid},
		{"too many files", &ipcpb.DHCPConfig{Generation: 1, Options: "x\n", HostsFiles: make([]*ipcpb.NamedText, maxDHCPHostsFiles+1)}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckDHCPConfig(tc.dc); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestSendRecvDHCPConfig: a configuration with a hosts file of 100,000
// hosts (several megabytes, far over one message) crosses a real
// socketpair whole; a message from outside the stream is refused.
func TestSendRecvDHCPConfig(t *testing.T) {
	a, b := newConnPair(t)
	dc := bigDHCPConfig(9, 100_000)
	errc := make(chan error, 1)
	go func() { errc <- SendDHCPConfig(a, dc) }()
	recv := func() (*ipcpb.Envelope, error) {
		m, fds, err := b.Recv()
		closeFDs(fds)
		return m, err
	}
	got, err := RecvDHCPConfig(recv)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, dc) {
		t.Fatal("received configuration differs from the one sent")
	}
	if err := a.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_Shutdown{Shutdown: &ipcpb.Shutdown{}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := RecvDHCPConfig(recv); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("a Shutdown instead of a stream: %v, want ErrUnexpected", err)
	}
}

// FuzzDHCPConfigAssembler feeds the assembler arbitrary messages, each
// decoded (and validated) as Recv does: it must never panic, and what it
// returns must be a configuration within the caps. The input is a
// sequence of messages, each prefixed by its length in two bytes.
func FuzzDHCPConfigAssembler(f *testing.F) {
	var seed []byte
	dc := &ipcpb.DHCPConfig{Generation: 1, Options: "dhcp-range=10.0.0.1,10.0.0.9\n",
		HostsFiles: []*ipcpb.NamedText{{Name: "/h", Text: "02:00:00:00:00:01,10.0.0.2\n"}}, Ethers: &ipcpb.NamedText{Name: "/e", Text: "x"}}
	_ = dhcpConfigMessages(dc, func(m *ipcpb.Envelope) error {
		b, err := proto.Marshal(m)
		seed = append(seed, byte(len(b)>>8), byte(len(b)))
		seed = append(seed, b...)
		return err
	})
	f.Add(seed)
	f.Add(append(append([]byte{}, seed...), seed...))
	f.Add(seed[:len(seed)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		var a DHCPConfigAssembler
		for len(data) >= 2 {
			n := int(data[0])<<8 | int(data[1])
			data = data[2:]
			if n > len(data) {
				return
			}
			m, err := Decode(data[:n])
			data = data[n:]
			if err != nil {
				continue
			}
			got, err := a.Add(m)
			if err != nil || got == nil {
				continue
			}
			if err := validateDHCPConfigLimit(got, MaxDHCPConfigBytes); err != nil {
				t.Fatalf("assembled an invalid configuration: %v", err)
			}
			if a.InProgress() {
				t.Fatal("in progress after an end")
			}
		}
	})
}

// BenchmarkDHCPConfigStream sends and assembles a configuration with a
// hosts file of 100,000 hosts (about 4.6 MB) over a real socketpair.
func BenchmarkDHCPConfigStream(b *testing.B) {
	mf, wf, err := Pair()
	if err != nil {
		b.Fatal(err)
	}
	a, c := NewConn(mf), NewConn(wf)
	defer a.Close()
	defer c.Close()
	dc := bigDHCPConfig(1, 100_000)
	b.SetBytes(int64(proto.Size(dc)))
	recv := func() (*ipcpb.Envelope, error) {
		m, fds, err := c.Recv()
		closeFDs(fds)
		return m, err
	}
	b.ResetTimer()
	for range b.N {
		errc := make(chan error, 1)
		go func() { errc <- SendDHCPConfig(a, dc) }()
		if _, err := RecvDHCPConfig(recv); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
}
