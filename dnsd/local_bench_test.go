package dnsd

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// adBlockRecords is an ad-block list of n address= lines in the three forms.
func adBlockRecords(n int) []*ipcpb.LocalRecord {
	recs := make([]*ipcpb.LocalRecord, n)
	for i := range recs {
		recs[i] = addressRule(fmt.Sprintf("ad%d.example%d.com", i, i%97), []string{"0.0.0.0", "", "#"}[i%3])
	}
	return recs
}

// BenchmarkLocalZone100k: building the zone of a 100,000-line address= list.
func BenchmarkLocalZone100k(b *testing.B) {
	recs := adBlockRecords(100_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := newLocalZone(recs, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddressRuleAnswer: answering a name under a 100,000-line list.
func BenchmarkAddressRuleAnswer(b *testing.B) {
	z, err := newLocalZone(adBlockRecords(100_000), nil)
	if err != nil {
		b.Fatal(err)
	}
	s := fuzzServer(b)
	st := *s.st.Load()
	st.local = z
	q := new(dns.Msg)
	q.SetQuestion("www.ad99.example2.com.", dns.TypeA)
	raw, _ := q.Pack()
	b.ReportAllocs()
	for b.Loop() {
		if out, _ := s.handleLocal(&st, raw, netip.MustParseAddrPort("127.0.0.1:5353"), false); out == nil {
			b.Fatal("no answer")
		}
	}
}
