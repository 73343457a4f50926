package cache

import (
	"bytes"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestOwnerNamesTakeTheQuestionsCase: a hit writes every answer owner
// name equal to the question name in the case of the question being
// answered (as dnsmasq 2.90 does), whatever case the first query or the
// upstream data had; other names (CNAME targets and their records, the
// authority and additional sections) keep the case they were stored in.
// The slow path (Get) and the fast path (AppendFast) agree byte for byte.
func TestOwnerNamesTakeTheQuestionsCase(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stored string // the first query's name
		answer []string
		ns     []string
		extra  []string
		qtype  uint16
		// want lists the owner names of answer, authority and additional
		// records in order, for a query of asked.
		asked string
		want  []string
	}{
		{
			name: "one record, first query upper", stored: "WWW.EXAMPLE.", qtype: dns.TypeA,
			answer: []string{"WWW.EXAMPLE. 300 IN A 192.0.2.1"},
			asked:  "www.example.", want: []string{"www.example."},
		},
		{
			name: "upstream's own case", stored: "mixed.example.", qtype: dns.TypeA,
			answer: []string{"MiXeD.example. 300 IN A 192.0.2.9", "MIXED.EXAMPLE. 300 IN A 192.0.2.10"},
			asked:  "mIxEd.ExAmPlE.", want: []string{"mIxEd.ExAmPlE.", "mIxEd.ExAmPlE."},
		},
		{
			name: "cname chain: only the question's owner", stored: "chain.example.", qtype: dns.TypeA,
			answer: []string{
				"chain.example. 300 IN CNAME Alias.Example.",
				"Alias.Example. 300 IN CNAME www.example.",
				"www.example. 300 IN A 192.0.2.1",
			},
			asked: "CHAIN.EXAMPLE.", want: []string{"CHAIN.EXAMPLE.", "Alias.Example.", "www.example."},
		},
		{
			name: "authority and additional keep their case", stored: "Example.", qtype: dns.TypeNS,
			answer: []string{"Example. 300 IN NS ns1.Example."},
			ns:     []string{"Example. 300 IN NS ns1.Example."},
			extra:  []string{"ns1.Example. 300 IN A 192.0.2.53", "Example. 300 IN TXT \"x\""},
			asked:  "EXAMPLE.", want: []string{"EXAMPLE.", "Example.", "ns1.Example.", "Example."},
		},
		{
			name: "names that differ only in length stay", stored: "a.example.", qtype: dns.TypeA,
			answer: []string{"a.example. 300 IN CNAME A.a.example.", "A.a.example. 300 IN A 192.0.2.1"},
			asked:  "A.EXAMPLE.", want: []string{"A.EXAMPLE.", "A.a.example."},
		},
		{
			name: "binary label bytes are not folded", stored: "\\200x.example.", qtype: dns.TypeA,
			answer: []string{"\\200x.example. 300 IN A 192.0.2.1"},
			asked:  "\\200X.example.", want: []string{"\\200X.example."},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCache(10)
			rrs := func(ss []string) []dns.RR {
				var out []dns.RR
				for _, s := range ss {
					out = append(out, rr(t, s))
				}
				return out
			}
			m := reply(dns.RcodeSuccess, rrs(tc.answer), rrs(tc.ns))
			m.Extra = rrs(tc.extra)
			if !c.Put(question(tc.stored, tc.qtype), m) {
				t.Fatal("not stored")
			}
			raw := packQuery(t, tc.asked, tc.qtype, nil)
			slow := slowPack(t, c, raw, 1232)
			sm := new(dns.Msg)
			if err := sm.Unpack(slow); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, sec := range [][]dns.RR{sm.Answer, sm.Ns, sm.Extra} {
				for _, r := range sec {
					got = append(got, r.Header().Name)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("owner names %q, want %q", got, tc.want)
			}
			q := fastQuery(t, raw)
			a, _ := c.Get(question(tc.asked, tc.qtype))
			if !c.Confirm(a, q, slow, 1) {
				t.Fatal("the fast path's bytes differ from the slow path's")
			}
			// Another case of the same question, served by the fast path.
			raw2 := packQuery(t, strings.ToUpper(tc.asked), tc.qtype, nil)
			fast, ok := c.AppendFast(make([]byte, 0, 512), fastQuery(t, raw2), 1, c.Now())
			if !ok {
				t.Fatal("fast path declined a confirmed entry")
			}
			if want := slowPack(t, c, raw2, 1232); !bytes.Equal(fast, want) {
				t.Errorf("fast and slow replies differ:\n%x\n%x", fast, want)
			}
		})
	}
}
