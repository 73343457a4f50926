package ipc

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envelopeBytes wraps raw inner message bytes as Envelope field num.
func envelopeBytes(num protowire.Number, inner []byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, inner)
}

func hostItem(h *ipcpb.HostEntry) *ipcpb.Envelope {
	return &ipcpb.Envelope{Msg: &ipcpb.Envelope_TableItem{TableItem: &ipcpb.TableItem{Hosts: []*ipcpb.HostEntry{h}}}}
}

func icmpSockets(n int) []*ipcpb.Socket {
	out := make([]*ipcpb.Socket, n)
	for i := range out {
		out[i] = &ipcpb.Socket{Kind: ipcpb.Socket_KIND_ICMP}
	}
	return out
}

func TestDecodeValid(t *testing.T) {
	for _, m := range sampleMessages() {
		got, err := Decode(mustMarshal(t, m))
		if err != nil {
			t.Errorf("%s: %v", MessageName(m), err)
			continue
		}
		if !proto.Equal(got, m) {
			t.Errorf("%s: decoded %v", MessageName(m), got)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	hello := mustMarshal(t, &ipcpb.Hello{Version: 1, Role: "dnsd"})
	longLabel := strings.Repeat("a", 64) + ".lan"
	longName := strings.Repeat("abcdefg.", 32) + "lan" // 259 bytes
	tests := []struct {
		name string
		b    []byte
		want string // in the error text
	}{
		{"empty bytes", nil, "no message set"},
		{"over the cap", make([]byte, MaxMessageSize+1), "cap 65536"},
		{"garbage", []byte{0xff, 0xff, 0xff, 0xff}, "invalid message"},
		{"unknown envelope field only", protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1), "Envelope: unknown fields"},
		{"unknown field beside a hello", append(envelopeBytes(1, hello), protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1)...), "moat.ipc.v1.Envelope: unknown fields"},
		{"unknown field inside hello", envelopeBytes(1, append(bytes.Clone(hello), protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1)...)), "moat.ipc.v1.Hello: unknown fields"},
		{"invalid UTF-8 role", envelopeBytes(1, protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte{0xff, 0xfe})), "UTF-8"},
		{"hello without role", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_Hello{Hello: &ipcpb.Hello{Version: 1}}}), "role: empty"},
		{"hello with long role", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_Hello{Hello: &ipcpb.Hello{Version: 1, Role: strings.Repeat("r", 33)}}}), "role: 33 bytes"},
		{"negative pid", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_Hello{Hello: &ipcpb.Hello{Version: 1, Role: "x", Pid: -1}}}), "pid: negative"},
		{"host address of 5 bytes", mustMarshal(t, hostItem(&ipcpb.HostEntry{Address: make([]byte, 5), Names: []string{"a"}})), "address: 5 bytes"},
		{"host address missing", mustMarshal(t, hostItem(&ipcpb.HostEntry{Names: []string{"a"}})), "address: 0 bytes"},
		{"host without names", mustMarshal(t, hostItem(&ipcpb.HostEntry{Address: make([]byte, 4)})), "names: none"},
		{"host with empty name", mustMarshal(t, hostItem(&ipcpb.HostEntry{Address: make([]byte, 4), Names: []string{"ok", ""}})), "names[1]: empty name"},
		{"host name over 255 bytes", mustMarshal(t, hostItem(&ipcpb.HostEntry{Address: make([]byte, 4), Names: []string{longName}})), "name of 259 bytes"},
		{"host label over 63 bytes", mustMarshal(t, hostItem(&ipcpb.HostEntry{Address: make([]byte, 4), Names: []string{longLabel}})), "label of 64 bytes"},
		{"host name with empty label", mustMarshal(t, hostItem(&ipcpb.HostEntry{Address: make([]byte, 4), Names: []string{"a..b"}})), "empty label"},
		{"host name of one dot", mustMarshal(t, hostItem(&ipcpb.HostEntry{Address: make([]byte, 4), Names: []string{"."}})), "empty label"},
		{"too many names", mustMarshal(t, hostItem(&ipcpb.HostEntry{Address: make([]byte, 4), Names: strings.Split(strings.Repeat("n,", maxNamesPerHost)+"n", ",")})), "names: 257"},
		{"table unspecified", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_TableBegin{TableBegin: &ipcpb.TableBegin{}}}), "table: 0"},
		{"table unknown", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_TableBegin{TableBegin: &ipcpb.TableBegin{Table: 77}}}), "table: 77"},
		{"begin count over cap", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_TableBegin{TableBegin: &ipcpb.TableBegin{Table: ipcpb.Table_TABLE_HOSTS, Count: MaxTableEntries + 1}}}), "count: 1000001"},
		{"end count over cap", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_TableEnd{TableEnd: &ipcpb.TableEnd{Count: MaxTableEntries + 1}}}), "count: 1000001"},
		{"socket kind unspecified", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_SocketSet{SocketSet: &ipcpb.SocketSet{Sockets: []*ipcpb.Socket{{}}}}}), "sockets[0]: kind: 0"},
		{"socket interface too long", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_SocketSet{SocketSet: &ipcpb.SocketSet{Sockets: []*ipcpb.Socket{{Kind: 1, Interface: strings.Repeat("e", 16)}}}}}), "interface: 16 bytes"},
		{"too many sockets", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_SocketSet{SocketSet: &ipcpb.SocketSet{Sockets: icmpSockets(MaxFDs + 1)}}}), "sockets: 33"},
		{"upstream without address", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: &ipcpb.DNSConfig{Upstreams: []*ipcpb.Upstream{{}}}}}), "upstreams[0].address: empty"},
		{"ifindex zero", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: &ipcpb.DNSConfig{AllowedIfindexes: []uint32{3, 0}}}}), "allowed_ifindexes[1]"},
		{"dhcp config without options", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpConfig{DhcpConfig: &ipcpb.DHCPConfig{Generation: 1}}}), "options: empty"},
		{"dhcp hosts file without name", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpConfig{DhcpConfig: &ipcpb.DHCPConfig{Options: "port=53", HostsFiles: []*ipcpb.NamedText{{Text: "x"}}}}}), "hosts_files[0]: name: empty"},
		{"lease commit without records", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_LeaseCommit{LeaseCommit: &ipcpb.LeaseCommit{Id: 1}}}), "records: 0"},
		{"lease with IPv6 address", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_LeaseCommit{LeaseCommit: &ipcpb.LeaseCommit{Id: 1, Records: []*ipcpb.LeaseRecord{{Addr: make([]byte, 16)}}}}}), "records[0]: addr: 16 bytes"},
		{"lease with long MAC", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_LeaseCommit{LeaseCommit: &ipcpb.LeaseCommit{Id: 1, Records: []*ipcpb.LeaseRecord{{Addr: []byte{10, 0, 0, 1}, HwAddr: make([]byte, 17)}}}}}), "hw_addr: 17 bytes"},
		{"lease delete with fields", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_LeaseCommit{LeaseCommit: &ipcpb.LeaseCommit{Id: 1, Records: []*ipcpb.LeaseRecord{{Delete: true, Addr: []byte{10, 0, 0, 1}, Hostname: "x"}}}}}), "delete record with lease fields"},
		{"dhcp state bad prefix", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpState{DhcpState: &ipcpb.DHCPState{Interfaces: []*ipcpb.DHCPInterface{{Name: "eth0", Index: 2, Prefixes: []string{"fe80::1/64"}}}}}}), "not IPv4"},
		{"bpf program with an address", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_SocketSet{SocketSet: &ipcpb.SocketSet{Sockets: []*ipcpb.Socket{{Kind: ipcpb.Socket_KIND_BPF_UPSTREAM_PROG, Address: "0.0.0.0:53"}}}}}), "address, interface and pktinfo must be empty"},
		{"socket filter mode unknown", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: &ipcpb.DNSConfig{SocketFilter: "on"}}}), "socket_filter"},
		{"edns packet over 65535", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: &ipcpb.DNSConfig{EdnsPacketMax: 65536}}}), "edns_packet_max"},
		{"seccomp mode 3", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_Ready{Ready: &ipcpb.Ready{Sandbox: &ipcpb.SandboxStatus{SeccompMode: 3}}}}), "sandbox: seccomp_mode: 3"},
		{"too many notes", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_SandboxStatus{SandboxStatus: &ipcpb.SandboxStatus{Notes: make([]string, maxNotes+1)}}}), "notes: 65"},
		{"probe without name", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_ProbeRequest{ProbeRequest: &ipcpb.ProbeRequest{}}}), "probe: empty"},
		{"detail too long", mustMarshal(t, &ipcpb.Envelope{Msg: &ipcpb.Envelope_ProtocolError{ProtocolError: &ipcpb.ProtocolError{Detail: strings.Repeat("d", maxTextLen+1)}}}), "detail: 4097 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.b)
			if err == nil {
				t.Fatalf("Decode = %v, want an error containing %q", m, tt.want)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Errorf("error %v wraps neither ErrInvalid nor ErrTooLarge", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestDecodeAcceptsEdgeNames(t *testing.T) {
	for _, name := range []string{"a", "fqdn.example.", strings.Repeat("a", 63), strings.Repeat("abcdefg.", 31) + "abcdefg"} {
		if _, err := Decode(mustMarshal(t, hostItem(&ipcpb.HostEntry{Address: make([]byte, 16), Names: []string{name}}))); err != nil {
			t.Errorf("%q (%d bytes): %v", name, len(name), err)
		}
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts survives a
// re-encode and decodes to the same message.
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(mustMarshal(f, m))
	}
	f.Add(mustMarshal(f, hostItem(&ipcpb.HostEntry{Address: make([]byte, 4), Names: []string{"x"}})))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned a message with error %v", err)
			}
			return
		}
		if err := Validate(m); err != nil {
			t.Fatalf("Decode accepted what Validate rejects: %v", err)
		}
		again, err := Decode(mustMarshal(t, m))
		if err != nil {
			t.Fatalf("re-encoded %v does not decode: %v", m, err)
		}
		if !proto.Equal(m, again) {
			t.Fatalf("re-decode changed %v into %v", m, again)
		}
	})
}

// nestedMessages returns every message inside m, m included, found by a
// generic walk (so a message added to the schema is covered automatically).
func nestedMessages(m protoreflect.Message) []protoreflect.Message {
	out := []protoreflect.Message{m}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				out = append(out, nestedMessages(v.List().Get(i).Message())...)
			}
		case fd.Message() != nil && !fd.IsMap():
			out = append(out, nestedMessages(v.Message())...)
		}
		return true
	})
	return out
}

// TestDecodeRejectsUnknownEverywhere puts an unknown field into each
// message of each sample in turn; Decode must refuse every one.
func TestDecodeRejectsUnknownEverywhere(t *testing.T) {
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 1000, protowire.VarintType), 1)
	for _, sample := range sampleMessages() {
		count := len(nestedMessages(sample.ProtoReflect()))
		for i := range count {
			m := proto.Clone(sample).(*ipcpb.Envelope)
			target := nestedMessages(m.ProtoReflect())[i]
			target.SetUnknown(unknown)
			name := string(target.Descriptor().FullName())
			_, err := Decode(mustMarshal(t, m))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), name+": unknown fields") {
				t.Errorf("%s with an unknown field in %s: Decode = %v", MessageName(sample), name, err)
			}
		}
	}
}
