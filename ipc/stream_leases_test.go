package ipc

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func leaseNameRecord(addr []byte, names ...string) *ipcpb.LocalRecord {
	return &ipcpb.LocalRecord{Source: "DHCP", Host: &ipcpb.LocalHost{Kind: ipcpb.LocalHost_KIND_DHCP_LEASE,
		Address: addr, Names: names, Ttl: 60, Expires: 1_700_000_000}}
}

// TestSendLeaseNamesRoundTrip: the lease name table arrives whole and
// equal, as TABLE_LEASE_NAMES.
func TestSendLeaseNamesRoundTrip(t *testing.T) {
	a, b := newConnPair(t)
	recs := []*ipcpb.LocalRecord{
		leaseNameRecord([]byte{192, 168, 1, 50}, "pc.lan", "pc"),
		leaseNameRecord([]byte{10, 0, 0, 1}, "bare"),
	}
	sent := make(chan error, 1)
	go func() { sent <- SendLeaseNames(a, 4, recs) }()
	var asm TableAssembler
	b.SetReadDeadline(time.Now().Add(testWait))
	for i := 0; ; i++ {
		if i > 5 {
			t.Fatal("no TableEnd")
		}
		m, _, err := b.Recv()
		if err != nil {
			t.Fatal(err)
		}
		done, table, _, err := asm.Add(m)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			if table != ipcpb.Table_TABLE_LEASE_NAMES {
				t.Fatalf("table %s", table)
			}
			break
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	got := LocalRecordsOf(asm.Items())
	if len(got) != len(recs) {
		t.Fatalf("%d entries, sent %d", len(got), len(recs))
	}
	for i := range got {
		if !proto.Equal(got[i], recs[i]) {
			t.Errorf("entry %d: got %v, sent %v", i, got[i], recs[i])
		}
	}
}

// TestLeaseNameValidation: only IPv4 lease entries with one or two names
// are sent.
func TestLeaseNameValidation(t *testing.T) {
	v4 := []byte{192, 168, 1, 50}
	for name, r := range map[string]*ipcpb.LocalRecord{
		"IPv6":        leaseNameRecord(make([]byte, 16), "pc"),
		"three names": leaseNameRecord(v4, "a", "b", "c"),
		"no names":    leaseNameRecord(v4),
		"other kind":  {Host: &ipcpb.LocalHost{Kind: ipcpb.LocalHost_KIND_HOSTS_DIR, Address: v4, Names: []string{"pc"}}},
		"not a host":  {LocalPrefix: "10.0.0.1/8"},
		"negative":    {Host: &ipcpb.LocalHost{Kind: ipcpb.LocalHost_KIND_DHCP_LEASE, Address: v4, Names: []string{"pc"}, Expires: -5}},
		"empty label": leaseNameRecord(v4, "pc..lan"),
	} {
		a, _ := newConnPair(t)
		if err := SendLeaseNames(a, 1, []*ipcpb.LocalRecord{r}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: SendLeaseNames = %v, want ErrInvalid", name, err)
		}
	}
}
