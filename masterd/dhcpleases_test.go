package masterd

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/leases"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func testLeaseService(t *testing.T) *leaseService {
	t.Helper()
	cfg, err := config.ParseText("test", "dhcp-range=192.168.1.50,192.168.1.99,12h\ndhcp-host=02:00:00:00:00:01,10.0.0.5\n")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DHCP.LeaseFile = filepath.Join(t.TempDir(), "leases")
	log, _ := testLogger()
	var d dhcpData
	if err := d.load(cfg, log); err != nil {
		t.Fatal(err)
	}
	s, err := openLeaseService(cfg, d.hasHostAddr, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s
}

// TestLeaseRecordsChecked: the master accepts only leases in a range or
// at a dhcp-host address, with a legal single-label host name.
func TestLeaseRecordsChecked(t *testing.T) {
	s := testLeaseService(t)
	mac := []byte{2, 0, 0, 0, 0, 1}
	// A lease left outside the ranges by a configuration change (as from
	// an old leases file): it may only lose its name to a new lease.
	left := leases.Lease{Addr: netip.MustParseAddr("10.9.9.9"), HWType: 1, HWAddr: []byte{2, 0, 0, 0, 0, 9}, Hostname: "vm1", Expires: 2000000000}
	if err := s.store.Commit(context.Background(), []leases.Record{leases.PutRecord(left)}); err != nil {
		t.Fatal(err)
	}
	leftRec := func(edit func(r *ipcpb.LeaseRecord)) *ipcpb.LeaseRecord {
		r := &ipcpb.LeaseRecord{Addr: []byte{10, 9, 9, 9}, HwType: 1, HwAddr: left.HWAddr, Expires: left.Expires}
		edit(r)
		return r
	}
	for _, tc := range []struct {
		name string
		rec  *ipcpb.LeaseRecord
		want string // "" = accepted
	}{
		{"in range", &ipcpb.LeaseRecord{Addr: []byte{192, 168, 1, 60}, HwType: 1, HwAddr: mac, Hostname: "laptop"}, ""},
		{"range end", &ipcpb.LeaseRecord{Addr: []byte{192, 168, 1, 99}, HwType: 1, HwAddr: mac}, ""},
		{"dhcp-host address", &ipcpb.LeaseRecord{Addr: []byte{10, 0, 0, 5}, HwType: 1, HwAddr: mac}, ""},
		{"delete anywhere", &ipcpb.LeaseRecord{Delete: true, Addr: []byte{10, 9, 9, 9}}, ""},
		{"outside every range", &ipcpb.LeaseRecord{Addr: []byte{192, 168, 1, 100}, HwType: 1, HwAddr: mac}, "no dhcp-range"},
		{"not IPv4", &ipcpb.LeaseRecord{Addr: make([]byte, 16)}, "not IPv4"},
		{"dotted host name", &ipcpb.LeaseRecord{Addr: []byte{192, 168, 1, 60}, Hostname: "a.example"}, "legal DNS label"},
		{"underscore host name", &ipcpb.LeaseRecord{Addr: []byte{192, 168, 1, 60}, Hostname: "a_b"}, "legal DNS label"},
		{"leading hyphen", &ipcpb.LeaseRecord{Addr: []byte{192, 168, 1, 60}, Hostname: "-a"}, "legal DNS label"},
		{"long hardware address", &ipcpb.LeaseRecord{Addr: []byte{192, 168, 1, 60}, HwAddr: make([]byte, 17)}, "too long"},
		{"left outside loses its name", leftRec(func(*ipcpb.LeaseRecord) {}), ""},
		{"left outside keeps its name", leftRec(func(r *ipcpb.LeaseRecord) { r.Hostname = "vm1" }), "no dhcp-range"},
		{"left outside renamed", leftRec(func(r *ipcpb.LeaseRecord) { r.Hostname = "other" }), "no dhcp-range"},
		{"left outside extended", leftRec(func(r *ipcpb.LeaseRecord) { r.Expires++ }), "no dhcp-range"},
		{"left outside to another client", leftRec(func(r *ipcpb.LeaseRecord) { r.HwAddr = mac }), "no dhcp-range"},
		{"left outside with a client-id", leftRec(func(r *ipcpb.LeaseRecord) { r.ClientId = []byte{1} }), "no dhcp-range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.records([]*ipcpb.LeaseRecord{tc.rec})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestLeaseCommitAnswered: a good commit is journalled before LeaseCommitted
// ok; a bad one is answered not ok and writes nothing.
func TestLeaseCommitAnswered(t *testing.T) {
	s := testLeaseService(t)
	mf, wf, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	master, worker := ipc.NewConn(mf), ipc.NewConn(wf)
	defer master.Close()
	defer worker.Close()
	expires := time.Now().Add(time.Hour).Unix()
	good := &ipcpb.LeaseCommit{Id: 1, Records: []*ipcpb.LeaseRecord{{Addr: []byte{192, 168, 1, 60}, HwType: 1, HwAddr: []byte{2, 0, 0, 0, 0, 9}, Expires: expires}}}
	bad := &ipcpb.LeaseCommit{Id: 2, Records: []*ipcpb.LeaseRecord{{Addr: []byte{172, 16, 0, 1}, HwType: 1, Expires: expires}}}
	for _, tc := range []struct {
		c    *ipcpb.LeaseCommit
		ok   bool
		addr netip.Addr
	}{{good, true, netip.MustParseAddr("192.168.1.60")}, {bad, false, netip.MustParseAddr("172.16.0.1")}} {
		s.handle(master, tc.c)
		_ = worker.SetReadDeadline(time.Now().Add(10 * time.Second))
		m, _, err := worker.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got := m.GetLeaseCommitted()
		if got == nil || got.GetId() != tc.c.GetId() || got.GetOk() != tc.ok {
			t.Fatalf("commit %d: answer %v, want ok=%v", tc.c.GetId(), m, tc.ok)
		}
		if _, stored := s.store.Lease(tc.addr); stored != tc.ok {
			t.Errorf("commit %d: lease stored=%v, want %v", tc.c.GetId(), stored, tc.ok)
		}
	}
	st := s.state(nil)
	if len(st.GetLeases()) != 1 {
		t.Errorf("state carries %d leases, want 1", len(st.GetLeases()))
	}
}
