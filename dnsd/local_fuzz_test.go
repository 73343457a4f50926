package dnsd

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// FuzzLocalZone feeds arbitrary TableItem bytes, as the master's stream
// would carry them, to the local-records check: whatever passes ipc's
// validation must either be rejected by newLocalZone or answer queries
// without panicking, with replies that pack.
func FuzzLocalZone(f *testing.F) {
	for _, recs := range [][]*ipcpb.LocalRecord{localFixture(f).records, localFixture(f).dynamic} {
		b, err := proto.Marshal(&ipcpb.TableItem{LocalRecords: recs})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	b, _ := proto.Marshal(&ipcpb.TableItem{LocalRecords: []*ipcpb.LocalRecord{
		{Rr: []byte{0, 0, 5, 0, 1, 0, 0, 0, 0, 0, 1, 0}},
		{AddressRule: &ipcpb.AddressRule{Domain: "*a"}},
		{LocalPrefix: "10.0.0.1/8"},
	}})
	f.Add(b)
	names := []string{"hr.test.", "cn2.test.", "a.wild.test.", "x.ads.test.", "blocked.test.", "1.2.0.192.in-addr.arpa.", "lo.test.", "rr.test.", "."}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeANY, dns.TypePTR, dns.TypeMX, dns.TypeSRV, dns.TypeCNAME, dns.TypeTXT, 65280}
	f.Fuzz(func(t *testing.T, data []byte) {
		it := new(ipcpb.TableItem)
		if proto.Unmarshal(data, it) != nil || len(it.GetLocalRecords()) == 0 {
			return
		}
		if ipc.Validate(&ipcpb.Envelope{Msg: &ipcpb.Envelope_TableItem{TableItem: it}}) != nil {
			return
		}
		z, err := newLocalZone(it.GetLocalRecords(), nil)
		if err != nil {
			if z, err = newLocalZone(nil, it.GetLocalRecords()); err != nil {
				return
			}
		}
		s := fuzzServer(t)
		st := *s.st.Load()
		st.local = z
		st.cfg.local.localise = true
		for _, name := range names {
			for _, qt := range types {
				q := new(dns.Msg)
				q.SetQuestion(name, qt)
				raw, err := q.Pack()
				if err != nil {
					t.Fatal(err)
				}
				out, _ := s.handleLocalAt(&st, raw, netip.MustParseAddrPort("127.0.0.1:5353"), netip.MustParseAddr("10.0.0.1"), false)
				checkReply(t, out, q.Id, dns.MinMsgSize)
			}
		}
	})
}
