package ipc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// testWait bounds every wait in these tests; it is a hang guard, never a
// speed assertion.
const testWait = 20 * time.Second

// newConnPair returns both ends of a fresh socketpair, closed at cleanup.
func newConnPair(t testing.TB) (*Conn, *Conn) {
	t.Helper()
	mf, wf, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	a, b := NewConn(mf), NewConn(wf)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// rawFD runs fn with c's descriptor, for tests that bypass Send.
func rawFD(t *testing.T, c *Conn, fn func(fd int)) {
	t.Helper()
	if err := c.rc.Control(func(fd uintptr) { fn(int(fd)) }); err != nil {
		t.Fatal(err)
	}
}

// rawSend writes one datagram with optional descriptors, bypassing Send's checks.
func rawSend(t *testing.T, c *Conn, b []byte, fds ...int) {
	t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	var err error
	rawFD(t, c, func(fd int) { err = unix.Sendmsg(fd, b, oob, nil, 0) })
	if err != nil {
		t.Fatalf("raw sendmsg of %d bytes, %d fds: %v", len(b), len(fds), err)
	}
}

// rawSendEmpty sends a zero-byte datagram carrying descriptors.
// unix.Sendmsg would add a dummy byte on a non-datagram socket, so this
// builds the msghdr itself.
func rawSendEmpty(t *testing.T, c *Conn, fds ...int) {
	t.Helper()
	oob := unix.UnixRights(fds...)
	var msg unix.Msghdr
	msg.Control = &oob[0]
	msg.SetControllen(len(oob))
	var errno unix.Errno
	rawFD(t, c, func(fd int) {
		_, _, errno = unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
	})
	if errno != 0 {
		t.Fatalf("raw sendmsg of an empty datagram: %v", errno)
	}
}

// newPipe returns a pipe whose ends are closed at cleanup (closing twice is
// harmless for *os.File).
func newPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// fdOf returns f's descriptor without switching it to blocking mode
// (which os.File.Fd would do).
func fdOf(t *testing.T, f *os.File) int {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var out int
	if err := rc.Control(func(fd uintptr) { out = int(fd) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertNoWriterLeft proves every copy of a pipe's write end is closed:
// the caller closed its own, so reading must see EOF, not block. A leaked
// copy (say, a descriptor Recv failed to close) makes the read time out.
func assertNoWriterLeft(t *testing.T, r, w *os.File) {
	t.Helper()
	w.Close()
	if err := r.SetReadDeadline(time.Now().Add(testWait)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := r.Read(buf)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("pipe read = %d, %v; want EOF (a received copy of the write end is still open)", n, err)
	}
}

// sampleMessages holds one valid message of every kind, as the round-trip
// and fuzz seeds need.
func sampleMessages() []*ipcpb.Envelope {
	status := &ipcpb.SandboxStatus{
		Uid: 65534, Gid: 65534, NoNewPrivs: true, SeccompMode: 2, Chrooted: true,
		SyscallsAllowed: 42, Notes: []string{"user namespace", "classic BPF"},
	}
	return []*ipcpb.Envelope{
		{Msg: &ipcpb.Envelope_Hello{Hello: &ipcpb.Hello{Version: Version, Role: "dnsd", Pid: 1234}}},
		{Msg: &ipcpb.Envelope_Ready{Ready: &ipcpb.Ready{Sandbox: status}}},
		{Msg: &ipcpb.Envelope_SocketSet{SocketSet: &ipcpb.SocketSet{Sockets: []*ipcpb.Socket{
			{Kind: ipcpb.Socket_KIND_DNS_UDP, Address: "0.0.0.0:53", Pktinfo: true},
			{Kind: ipcpb.Socket_KIND_DHCP_PACKET, Interface: "eth0"},
			{Kind: ipcpb.Socket_KIND_BPF_UPSTREAM_PROG}, {Kind: ipcpb.Socket_KIND_BPF_EXPECT_MAP}, {Kind: ipcpb.Socket_KIND_BPF_EXPECT_SET_MAP}, // issue 5
		}}}},
		{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: &ipcpb.DNSConfig{
			Upstreams: []*ipcpb.Upstream{
				{Address: "192.0.2.1:53", Source: "server"},
				{Address: "[2001:db8::1]:53", Domains: []string{"example.com", ""}, Source: "server"},
			},
			LocalDomains: []string{"lan"}, CacheSize: 150, LogQueries: true,
			AllowedAddresses: []string{"127.0.0.1"}, AllowedIfindexes: []uint32{1},
			ExcludedIfindexes: []uint32{7}, LocalTtl: 60, EdnsPacketMax: 1232, Generation: 3,
		}}},
		{Msg: &ipcpb.Envelope_TableBegin{TableBegin: &ipcpb.TableBegin{Table: ipcpb.Table_TABLE_HOSTS, Generation: 5, Count: 2}}},
		{Msg: &ipcpb.Envelope_TableItem{TableItem: &ipcpb.TableItem{Generation: 5, Hosts: []*ipcpb.HostEntry{
			{Address: []byte{192, 0, 2, 10}, Names: []string{"router.lan", "router"}, Source: "/etc/hosts"},
			{Address: make([]byte, 16), Names: []string{"six.lan."}},
		}}}},
		{Msg: &ipcpb.Envelope_TableEnd{TableEnd: &ipcpb.TableEnd{Generation: 5, Count: 2}}},
		{Msg: &ipcpb.Envelope_Shutdown{Shutdown: &ipcpb.Shutdown{Reason: "SIGTERM"}}},
		{Msg: &ipcpb.Envelope_ProbeRequest{ProbeRequest: &ipcpb.ProbeRequest{Probe: "open"}}},
		{Msg: &ipcpb.Envelope_ProbeResult{ProbeResult: &ipcpb.ProbeResult{Probe: "open", Blocked: true, Detail: "ENOENT"}}},
		{Msg: &ipcpb.Envelope_SandboxStatus{SandboxStatus: status}},
		{Msg: &ipcpb.Envelope_ProtocolError{ProtocolError: &ipcpb.ProtocolError{Detail: "bad item"}}},
		// Area A: local records (rr is a packed "txt.lan. 0 IN TXT ok").
		{Msg: &ipcpb.Envelope_TableItem{TableItem: &ipcpb.TableItem{Generation: 6, LocalRecords: []*ipcpb.LocalRecord{
			{Rr: []byte{3, 't', 'x', 't', 3, 'l', 'a', 'n', 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 3, 2, 'o', 'k'}, Source: "config"},
			{Host: &ipcpb.LocalHost{Kind: ipcpb.LocalHost_KIND_HOST_RECORD, Address: []byte{192, 0, 2, 1}, Names: []string{"hr.lan"}, Ttl: 60}},
			{AddressRule: &ipcpb.AddressRule{Domain: "ads.example", NullAddress: true}},
			{LocalPrefix: "192.168.1.1/24"},
		}}}},
		// Issue 4: a lease name (TABLE_LEASE_NAMES).
		{Msg: &ipcpb.Envelope_TableItem{TableItem: &ipcpb.TableItem{Generation: 7, LocalRecords: []*ipcpb.LocalRecord{
			{Host: &ipcpb.LocalHost{Kind: ipcpb.LocalHost_KIND_DHCP_LEASE, Address: []byte{192, 168, 1, 50}, Names: []string{"pc.lan", "pc"}, Ttl: 60, Expires: 1_700_000_000}, Source: "DHCP"},
		}}}},
		// Area D: filters, statistics, neighbour table.
		{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: &ipcpb.DNSConfig{
			DomainNeeded: true, BogusPriv: true,
			BogusNxdomain: []string{"64.94.110.11/32"}, IgnoreAddress: []string{"fd00::/8"},
			StopDnsRebind: true, RebindLocalhostOk: true, RebindDomainOk: []string{"lan"}, Filterwin2K: true,
			FilterRr: []uint32{1, 255}, LocalService: ipcpb.LocalService_LOCAL_SERVICE_NET,
			LocalNetworks: []string{"192.168.1.0/24"}, AddMac: true, AddMacText: true,
			AddSubnet: &ipcpb.ClientSubnet{V4: &ipcpb.SubnetSource{Bits: 24}, V6: &ipcpb.SubnetSource{Bits: 24, Address: []byte{1, 2, 3, 4}}},
			NoIdent:   true, LogExtra: true, Version: "moat-0.1.0",
			SocketFilter: "auto", // issue 5
		}}},
		{Msg: &ipcpb.Envelope_StatsRequest{StatsRequest: &ipcpb.StatsRequest{Id: 7}}},
		{Msg: &ipcpb.Envelope_StatsReport{StatsReport: &ipcpb.StatsReport{
			Id: 7, CacheSize: 150, CacheInserts: 10, CacheLiveEvictions: 1, QueriesForwarded: 5, QueriesAnsweredLocally: 6,
			Servers:  []*ipcpb.ServerStats{{Address: "192.0.2.1:53", Queries: 5, Failed: 1, Nxdomain: 2, AvgLatencyMs: 3}},
			TcpInUse: 1, TcpHighest: 2, TcpMax: 64, DumpCache: true, DumpContinues: true,
			CacheDump: []*ipcpb.CacheDumpEntry{{Name: "www.example.com", Data: "192.0.2.1", Flags: "4F        ", Expires: 1700000000}},
		}}},
		// Issue 6: moatctl dump and metrics (stream_stats.go).
		{Msg: &ipcpb.Envelope_CacheDumpRequest{CacheDumpRequest: &ipcpb.CacheDumpRequest{Id: 3}}},
		{Msg: &ipcpb.Envelope_CacheDumpChunk{CacheDumpChunk: &ipcpb.CacheDumpChunk{Id: 3, More: true, Now: 1700000000,
			Entries: []*ipcpb.CacheDumpEntry{{Name: "www.example.com", Data: "192.0.2.1", Flags: "4F        ", Expires: 1700000300}}}}},
		{Msg: &ipcpb.Envelope_MetricsRequest{MetricsRequest: &ipcpb.MetricsRequest{Id: 4}}},
		{Msg: &ipcpb.Envelope_DnsMetrics{DnsMetrics: &ipcpb.DNSMetrics{Id: 4, Queries: 10, AnsweredCache: 3, Forwarded: 7, CacheHits: 3,
			Servers: []*ipcpb.UpstreamMetrics{{Address: "192.0.2.1:53", Sent: 7, Answered: 7, LatencyBuckets: make([]uint64, 12), LatencySumUs: 900}}}}},
		{Msg: &ipcpb.Envelope_DhcpMetrics{DhcpMetrics: &ipcpb.DHCPMetrics{Id: 5, Received: []uint64{0, 1, 0, 1}, Sent: []uint64{0, 0, 1, 0, 0, 1}}}},
		{Msg: &ipcpb.Envelope_NetState{NetState: &ipcpb.NetState{
			LocalNetworks: []string{"192.168.1.0/24", "fd00::/64"},
			Neighbours:    []*ipcpb.Neighbour{{Address: []byte{192, 168, 1, 2}, Mac: []byte{2, 0, 0, 0, 0, 1}}},
		}}},
		// Area H: bind-dynamic adds and removes DNS sockets.
		{Msg: &ipcpb.Envelope_SocketsChanged{SocketsChanged: &ipcpb.SocketsChanged{
			Added: []*ipcpb.Socket{
				{Kind: ipcpb.Socket_KIND_DNS_UDP, Address: "192.0.2.1:53"},
				{Kind: ipcpb.Socket_KIND_DNS_TCP, Address: "[fe80::1%eth0]:53"},
			},
			Removed: []string{"198.51.100.7:53"},
		}}},
		// Area I: dhcpd's configuration.
		{Msg: &ipcpb.Envelope_DhcpConfig{DhcpConfig: &ipcpb.DHCPConfig{
			Options:    "port=53\ndhcp-range=192.168.1.50,192.168.1.150,12h\ndhcp-hostsfile=/etc/moat/hosts\nread-ethers\n",
			HostsFiles: []*ipcpb.NamedText{{Name: "/etc/moat/hosts", Text: "00:11:22:33:44:55,192.168.1.60\n"}},
			Ethers:     &ipcpb.NamedText{Name: "/etc/ethers", Text: ""},
			Generation: 2,
		}}},
		// Area I: lease commits between dhcpd and the master.
		{Msg: &ipcpb.Envelope_LeaseCommit{LeaseCommit: &ipcpb.LeaseCommit{Id: 7, Records: []*ipcpb.LeaseRecord{
			{Addr: []byte{192, 168, 1, 60}, HwType: 1, HwAddr: []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55}, ClientId: []byte{1, 0, 0x11, 0x22, 0x33, 0x44, 0x55}, Hostname: "laptop", Expires: 1700000000},
			{Delete: true, Addr: []byte{192, 168, 1, 61}},
		}}}},
		{Msg: &ipcpb.Envelope_DhcpState{DhcpState: &ipcpb.DHCPState{
			Interfaces: []*ipcpb.DHCPInterface{{Name: "eth0", Index: 2, Prefixes: []string{"192.168.1.1/24"}}},
			Leases:     []*ipcpb.LeaseRecord{{Addr: []byte{192, 168, 1, 60}, HwType: 1, HwAddr: []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55}, Expires: 1700000000}},
		}}},
		{Msg: &ipcpb.Envelope_LeaseCommitted{LeaseCommitted: &ipcpb.LeaseCommitted{Id: 7, Ok: true}}},
		// Issue 4 (T): a commit with the transaction that made the lease.
		{Msg: &ipcpb.Envelope_LeaseCommit{LeaseCommit: &ipcpb.LeaseCommit{Id: 8, Records: []*ipcpb.LeaseRecord{
			{Addr: []byte{192, 168, 1, 62}, HwType: 1, HwAddr: []byte{0, 0x11, 0x22, 0x33, 0x44, 0x57}, Expires: 1700000000},
		}, Txn: sampleLeaseTxn([]byte{192, 168, 1, 62})}}},
		// Issue 4: the streamed DHCPState and interface changes.
		{Msg: &ipcpb.Envelope_DhcpLeaseChunk{DhcpLeaseChunk: &ipcpb.DHCPLeaseChunk{Leases: []*ipcpb.LeaseRecord{
			{Addr: []byte{192, 168, 1, 61}, HwType: 1, HwAddr: []byte{0, 0x11, 0x22, 0x33, 0x44, 0x56}, Hostname: "pc", Expires: 1700000000},
		}}}},
		{Msg: &ipcpb.Envelope_DhcpStateEnd{DhcpStateEnd: &ipcpb.DHCPStateEnd{Leases: 2}}},
		{Msg: &ipcpb.Envelope_DhcpInterfaces{DhcpInterfaces: &ipcpb.DHCPInterfaces{Interfaces: []*ipcpb.DHCPInterface{
			{Name: "eth0", Index: 2, Prefixes: []string{"192.168.1.1/24", "10.0.0.1/8"}},
		}}}},
		// Issue 4: the streamed DHCPConfig and DHCP interfaces that appear (C).
		{Msg: &ipcpb.Envelope_DhcpConfigBegin{DhcpConfigBegin: &ipcpb.DHCPConfigBegin{
			Generation: 3, HostsFileNames: []string{"/etc/moat/hosts"}, EthersName: "/etc/ethers", Chunks: 2, Bytes: 90}}},
		{Msg: &ipcpb.Envelope_DhcpConfigChunk{DhcpConfigChunk: &ipcpb.DHCPConfigChunk{
			Generation: 3, Seq: 1, Part: ipcpb.DHCPConfigChunk_PART_HOSTS_FILE, File: 0, Data: []byte("00:11:22:33:44:55,192.168.1.60\n")}}},
		{Msg: &ipcpb.Envelope_DhcpConfigEnd{DhcpConfigEnd: &ipcpb.DHCPConfigEnd{Generation: 3, Chunks: 2, Bytes: 90}}},
		{Msg: &ipcpb.Envelope_DhcpSocketsChanged{DhcpSocketsChanged: &ipcpb.DHCPSocketsChanged{
			Added: []*ipcpb.Socket{
				{Kind: ipcpb.Socket_KIND_DHCP_UDP, Address: "0.0.0.0:67", Pktinfo: true, Interface: "virbr0"},
				{Kind: ipcpb.Socket_KIND_DHCP_PACKET, Interface: "virbr0"},
			},
			Interfaces: []*ipcpb.DHCPInterface{{Name: "virbr0", Index: 7, Prefixes: []string{"192.168.122.1/24"}}},
			Removed:    []string{"veth3"},
		}}},
		// Issue 4: the dhcp-script helper.
		{Msg: &ipcpb.Envelope_ScriptEvent{ScriptEvent: &ipcpb.ScriptEvent{
			Seq: 3, Action: "add", Addr: []byte{192, 168, 1, 60}, HwType: 1, HwAddr: []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55},
			ClientId: []byte{1, 0, 0x11, 0x22, 0x33, 0x44, 0x55}, Hostname: "laptop", Domain: "lan", Expires: 1700000000,
			TimeRemaining: 3600, Interface: "eth0", Tags: []string{"eth0", "known"}, SuppliedHostname: "laptop; rm -rf /",
			UserClasses: []string{"iPXE"}, RelayAddress: []byte{192, 168, 2, 1}, RequestedOptions: []uint32{1, 3, 6},
		}}},
		{Msg: &ipcpb.Envelope_ScriptEvent{ScriptEvent: &ipcpb.ScriptEvent{
			Seq: 4, Action: "old", Addr: []byte{192, 168, 1, 62}, HwType: 1, HwAddr: []byte{0, 0x11, 0x22, 0x33, 0x44, 0x57},
			Expires: 1700000000, Interface: "eth0", Txn: sampleLeaseTxn([]byte{192, 168, 1, 62}),
		}}},
		{Msg: &ipcpb.Envelope_ScriptDone{ScriptDone: &ipcpb.ScriptDone{Seq: 3, ExitStatus: 1, Error: "exit status 1"}}},
	}
}

// hostEntries makes n distinct valid entries, alternating IPv4 and IPv6.
func hostEntries(n int) []*ipcpb.HostEntry {
	out := make([]*ipcpb.HostEntry, n)
	for i := range out {
		addr := []byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
		if i%2 == 1 {
			addr = make([]byte, 16)
			addr[0], addr[1], addr[13], addr[14], addr[15] = 0x20, 0x01, byte(i>>16), byte(i>>8), byte(i)
		}
		out[i] = &ipcpb.HostEntry{
			Address: addr,
			Names:   []string{fmt.Sprintf("host-%d.example.lan", i), fmt.Sprintf("host-%d", i)},
			Source:  "/etc/hosts",
		}
	}
	return out
}
