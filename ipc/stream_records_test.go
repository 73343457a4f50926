package ipc

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// localRecords makes n valid records of every payload kind in turn; an
// ad-block list of n address= lines looks like this.
func localRecords(n int) []*ipcpb.LocalRecord {
	out := make([]*ipcpb.LocalRecord, n)
	for i := range out {
		dom := fmt.Sprintf("ad%d.example", i)
		switch i % 4 {
		case 0:
			out[i] = &ipcpb.LocalRecord{AddressRule: &ipcpb.AddressRule{Domain: dom}}
		case 1:
			out[i] = &ipcpb.LocalRecord{AddressRule: &ipcpb.AddressRule{Domain: "*." + dom, Address: []byte{0, 0, 0, 0}}}
		case 2:
			out[i] = &ipcpb.LocalRecord{Host: &ipcpb.LocalHost{Kind: ipcpb.LocalHost_KIND_HOSTS_DIR, Address: make([]byte, 16), Names: []string{dom}}, Source: "/etc/hosts.d/x"}
		default:
			out[i] = &ipcpb.LocalRecord{Rr: []byte{0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 1, 0}, Source: "config"}
		}
	}
	return out
}

func TestSendLocalRecordsRoundTrip(t *testing.T) {
	for _, table := range []ipcpb.Table{ipcpb.Table_TABLE_LOCAL_RECORDS, ipcpb.Table_TABLE_LOCAL_DYNAMIC} {
		for _, n := range []int{0, 1, 100_000} {
			t.Run(fmt.Sprintf("%s/%d", table, n), func(t *testing.T) {
				a, b := newConnPair(t)
				recs := localRecords(n)
				sent := make(chan error, 1)
				go func() { sent <- SendLocalRecords(a, table, 9, recs) }()
				var asm TableAssembler
				b.SetReadDeadline(time.Now().Add(testWait))
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
					done, got, hosts, err := asm.Add(m)
					if err != nil {
						t.Fatal(err)
					}
					if !done {
						continue
					}
					if got != table || len(hosts) != 0 {
						t.Fatalf("done with table %s, %d hosts", got, len(hosts))
					}
					break
				}
				if err := <-sent; err != nil {
					t.Fatal(err)
				}
				got := LocalRecordsOf(asm.Items())
				if len(got) != n {
					t.Fatalf("%d records, sent %d", len(got), n)
				}
				for i := range got {
					if !proto.Equal(got[i], recs[i]) {
						t.Fatalf("record %d: got %v, sent %v", i, got[i], recs[i])
					}
				}
			})
		}
	}
}

func TestLocalRecordValidation(t *testing.T) {
	tests := []struct {
		name string
		rec  *ipcpb.LocalRecord
	}{
		{"nothing set", &ipcpb.LocalRecord{Source: "config"}},
		{"two payloads", &ipcpb.LocalRecord{Rr: []byte{0}, LocalPrefix: "10.0.0.1/8"}},
		{"bad prefix", &ipcpb.LocalRecord{LocalPrefix: "10.0.0.1"}},
		{"host without kind", &ipcpb.LocalRecord{Host: &ipcpb.LocalHost{Address: []byte{1, 2, 3, 4}, Names: []string{"a"}}}},
		{"host of 5 bytes", &ipcpb.LocalRecord{Host: &ipcpb.LocalHost{Kind: ipcpb.LocalHost_KIND_HOST_RECORD, Address: []byte{1, 2, 3, 4, 5}, Names: []string{"a"}}}},
		{"host record without address", &ipcpb.LocalRecord{Host: &ipcpb.LocalHost{Kind: ipcpb.LocalHost_KIND_HOST_RECORD, Names: []string{"a"}}}},
		{"host without names", &ipcpb.LocalRecord{Host: &ipcpb.LocalHost{Kind: ipcpb.LocalHost_KIND_HOSTS_DIR, Address: []byte{1, 2, 3, 4}}}},
		{"host empty label", &ipcpb.LocalRecord{Host: &ipcpb.LocalHost{Kind: ipcpb.LocalHost_KIND_HOSTS_DIR, Address: []byte{1, 2, 3, 4}, Names: []string{"a..b"}}}},
		{"rule with both addresses", &ipcpb.LocalRecord{AddressRule: &ipcpb.AddressRule{Domain: "a", Address: []byte{1, 2, 3, 4}, NullAddress: true}}},
		{"rule of 3 bytes", &ipcpb.LocalRecord{AddressRule: &ipcpb.AddressRule{Domain: "a", Address: []byte{1, 2, 3}}}},
		{"rule bad domain", &ipcpb.LocalRecord{AddressRule: &ipcpb.AddressRule{Domain: "*.a..b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &ipcpb.Envelope{Msg: &ipcpb.Envelope_TableItem{TableItem: &ipcpb.TableItem{LocalRecords: []*ipcpb.LocalRecord{tt.rec}}}}
			if err := Validate(m); !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate = %v, want ErrInvalid", err)
			}
			a, _ := newConnPair(t)
			if err := SendLocalRecords(a, ipcpb.Table_TABLE_LOCAL_RECORDS, 1, []*ipcpb.LocalRecord{tt.rec}); !errors.Is(err, ErrInvalid) {
				t.Errorf("SendLocalRecords = %v, want ErrInvalid", err)
			}
		})
	}
	ok := []*ipcpb.LocalRecord{
		{Host: &ipcpb.LocalHost{Kind: ipcpb.LocalHost_KIND_INTERFACE_NAME, Names: []string{"gw.lan"}}},
		{AddressRule: &ipcpb.AddressRule{}},
		{AddressRule: &ipcpb.AddressRule{Domain: "*"}},
		{AddressRule: &ipcpb.AddressRule{Domain: "*ads.example", Address: make([]byte, 16)}},
		{LocalPrefix: "fd00::1/64"},
	}
	for i, r := range ok {
		m := &ipcpb.Envelope{Msg: &ipcpb.Envelope_TableItem{TableItem: &ipcpb.TableItem{LocalRecords: []*ipcpb.LocalRecord{r}}}}
		if err := Validate(m); err != nil {
			t.Errorf("valid record %d: %v", i, err)
		}
	}
	a, _ := newConnPair(t)
	if err := SendLocalRecords(a, ipcpb.Table_TABLE_HOSTS, 1, nil); err == nil {
		t.Error("SendLocalRecords accepted TABLE_HOSTS")
	}
}
