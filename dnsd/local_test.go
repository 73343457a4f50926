package dnsd

import (
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// markerUpstream answers everything, so that a forwarded query is easy to
// see: A 198.51.100.1, AAAA 2001:db8::ff, any other type a TXT "UPSTREAM",
// all with TTL 77 and without AA.
func markerUpstream(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	q := r.Question[0]
	h := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 77}
	switch q.Qtype {
	case dns.TypeA:
		m.Answer = []dns.RR{&dns.A{Hdr: h, A: net.ParseIP("198.51.100.1")}}
	case dns.TypeAAAA:
		m.Answer = []dns.RR{&dns.AAAA{Hdr: h, AAAA: net.ParseIP("2001:db8::ff")}}
	default:
		h.Rrtype = dns.TypeTXT
		m.Answer = []dns.RR{&dns.TXT{Hdr: h, Txt: []string{"UPSTREAM"}}}
	}
	_ = w.WriteMsg(m)
}

// Forwarded answers, as markerUpstream gives them.
const (
	fwdA     = "NOERROR [%s. 77 IN A 198.51.100.1] extra []"
	fwdAAAA  = "NOERROR [%s. 77 IN AAAA 2001:db8::ff] extra []"
	fwdOther = "NOERROR [%s. 77 IN TXT \"UPSTREAM\"] extra []"
)

func fwd(format, name string) string { return strings.ReplaceAll(format, "%s", name) }

// localFixture is a configuration like the one dnsmasq 2.90 was run with
// to record the expectations in TestLocalAnswers (see the comments
// there): what the master sends for it.
func localFixture(t testing.TB) localData {
	return localData{records: []*ipcpb.LocalRecord{
		hostRecord(ipcpb.LocalHost_KIND_HOST_RECORD, "192.0.2.1", 0, "config", "hr.test", "hr2.test"),
		hostRecord(ipcpb.LocalHost_KIND_HOST_RECORD, "2001:db8::1", 0, "config", "hr.test", "hr2.test"),
		hostRecord(ipcpb.LocalHost_KIND_HOST_RECORD, "192.0.2.4", 600, "config", "hr4.test"),
		rrRecord(t, "cn.test. 0 IN CNAME hr.test."),
		rrRecord(t, "cn2.test. 0 IN CNAME cn.test."),
		rrRecord(t, "cnttl.test. 99 IN CNAME hr.test."),
		rrRecord(t, "cnup.test. 0 IN CNAME upstream.example."),
		rrRecord(t, "*.wild.test. 0 IN CNAME hr.test."),
		rrRecord(t, "_ldap._tcp.example.com. 0 IN SRV 1 2 389 hr.test."),
		rrRecord(t, "_bare._tcp.example.com. 0 IN SRV 0 0 1 ."),
		rrRecord(t, `txt.test. 0 IN TXT "v=spf1 a" "second"`),
		rrRecord(t, "mx.test. 0 IN MX 5 hr4.test."),
		rrRecord(t, "ptr.test. 0 IN PTR target.test."),
		rrRecord(t, "5.2.0.192.in-addr.arpa. 0 IN PTR five.test."),
		rrRecord(t, `naptr.test. 0 IN NAPTR 10 20 "s" "SIP+D2U" "" _sip._udp.test.`),
		rrRecord(t, `caa.test. 0 IN CAA 0 issue "letsencrypt.org"`),
		rrRecord(t, `rr.test. 0 IN TYPE65280 \# 3 0102ab`),
		addressRule("ads.test", "10.9.9.9"),
		addressRule("deep.ads.test", "10.8.8.8"),
		addressRule("blocked.test", ""),
		addressRule("null.test", "#"),
		addressRule("six.test", "2001:db8::6"),
		addressRule("a.one.test", "10.1.1.1"),
		addressRule("b.one.test", "10.1.1.1"),
		addressRule("forcednx.test", ""),
		addressRule("forcednx.test", "1.2.3.4"),
		addressRule("router.lan", "192.168.1.1"),
		addressRule("*.wildads.test", "10.6.6.6"),
		addressRule("fwd.lan", "10.3.3.3"),
	}, dynamic: []*ipcpb.LocalRecord{
		hostRecord(ipcpb.LocalHost_KIND_HOSTS_DIR, "192.168.9.9", 0, "/etc/hosts.d/extra", "dir.test"),
		hostRecord(ipcpb.LocalHost_KIND_INTERFACE_NAME, "127.0.0.1", 0, "", "lo.test"),
		hostRecord(ipcpb.LocalHost_KIND_INTERFACE_NAME, "::1", 0, "", "lo.test"),
		hostRecord(ipcpb.LocalHost_KIND_INTERFACE_NAME, "", 0, "", "none.test"),
		hostRecord(ipcpb.LocalHost_KIND_INTERFACE_NAME, "", 0, "", "none.lan"),
	}}
}

const localFixtureHosts = `192.168.1.10 hostone hostone.alias.test
192.168.2.10 hostone
192.168.5.5 www.ads.test
2001:db8::55 v6only.ads.test
192.168.5.6 in.blocked.test
192.168.5.7 x.lan
192.168.6.6 lo.test
`

func startLocalFixture(t *testing.T) (*dnsdInstance, *testUpstream) {
	up := startUpstream(t, markerUpstream)
	cfg := upstreamCfg(up.addr)
	cfg.LocalDomains = []string{"lan"}
	cfg.Upstreams = append(cfg.Upstreams, &ipcpb.Upstream{Address: up.addr.String(), Domains: []string{"fwd.lan"}, Source: "server"})
	return startLocalDNSD(t, cfg, localFixtureHosts, localFixture(t)), up
}

// TestLocalAnswers checks rcode, AA and the answer and additional sections
// against what dnsmasq 2.90 answered for the same configuration (run on
// loopback with the same upstream; see the package notes in local.go).
func TestLocalAnswers(t *testing.T) {
	d, _ := startLocalFixture(t)
	tests := []struct {
		name  string
		qtype uint16
		want  string
	}{
		// host-record: A, AAAA, PTR, its TTL; other types go upstream.
		{"hr.test", dns.TypeA, "NOERROR aa [hr.test. 0 IN A 192.0.2.1] extra []"},
		{"HR.test", dns.TypeAAAA, "NOERROR aa [HR.test. 0 IN AAAA 2001:db8::1] extra []"},
		{"hr2.test", dns.TypeA, "NOERROR aa [hr2.test. 0 IN A 192.0.2.1] extra []"},
		{"hr.test", dns.TypeANY, "NOERROR aa [hr.test. 0 IN A 192.0.2.1 | hr.test. 0 IN AAAA 2001:db8::1] extra []"},
		{"hr.test", dns.TypeMX, fwd(fwdOther, "hr.test")},
		{"hr4.test", dns.TypeA, "NOERROR aa [hr4.test. 600 IN A 192.0.2.4] extra []"},
		{"hr4.test", dns.TypeAAAA, fwd(fwdAAAA, "hr4.test")},
		{"1.2.0.192.in-addr.arpa", dns.TypePTR, "NOERROR aa [1.2.0.192.in-addr.arpa. 0 IN PTR hr.test.] extra []"},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", dns.TypePTR,
			"NOERROR aa [1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 0 IN PTR hr.test.] extra []"},
		{"nonexist.hr.test", dns.TypeA, fwd(fwdA, "nonexist.hr.test")},
		// hosts files: every address; A for a name with two lines.
		{"hostone", dns.TypeA, "NOERROR aa [hostone. 0 IN A 192.168.1.10 | hostone. 0 IN A 192.168.2.10] extra []"},
		{"hostone", dns.TypeAAAA, fwd(fwdAAAA, "hostone")},
		{"10.1.168.192.in-addr.arpa", dns.TypePTR, "NOERROR aa [10.1.168.192.in-addr.arpa. 0 IN PTR hostone.] extra []"},
		// hostsdir (dynamic table).
		{"dir.test", dns.TypeA, "NOERROR aa [dir.test. 0 IN A 192.168.9.9] extra []"},
		{"9.9.168.192.in-addr.arpa", dns.TypePTR, "NOERROR aa [9.9.168.192.in-addr.arpa. 0 IN PTR dir.test.] extra []"},
		// cname: chains, TTL, every type, a target not known locally.
		{"cn.test", dns.TypeA, "NOERROR aa [cn.test. 0 IN CNAME hr.test. | hr.test. 0 IN A 192.0.2.1] extra []"},
		{"cn.test", dns.TypeAAAA, "NOERROR aa [cn.test. 0 IN CNAME hr.test. | hr.test. 0 IN AAAA 2001:db8::1] extra []"},
		{"cn.test", dns.TypeCNAME, "NOERROR aa [cn.test. 0 IN CNAME hr.test.] extra []"},
		{"cn.test", dns.TypeMX, "NOERROR aa [cn.test. 0 IN CNAME hr.test.] extra []"},
		{"cn.test", dns.TypeANY, "NOERROR aa [cn.test. 0 IN CNAME hr.test. | hr.test. 0 IN A 192.0.2.1 | hr.test. 0 IN AAAA 2001:db8::1] extra []"},
		{"cn2.test", dns.TypeA, "NOERROR aa [cn.test. 0 IN CNAME hr.test. | cn2.test. 0 IN CNAME cn.test. | hr.test. 0 IN A 192.0.2.1] extra []"},
		{"cnttl.test", dns.TypeA, "NOERROR aa [cnttl.test. 99 IN CNAME hr.test. | hr.test. 0 IN A 192.0.2.1] extra []"},
		{"cnup.test", dns.TypeA, "NOERROR aa [cnup.test. 0 IN CNAME upstream.example.] extra []"},
		// Wildcard CNAME: moat's extension (dnsmasq 2.90 would forward).
		{"a.wild.test", dns.TypeA, "NOERROR aa [a.wild.test. 0 IN CNAME hr.test. | hr.test. 0 IN A 192.0.2.1] extra []"},
		{"b.a.wild.test", dns.TypeA, "NOERROR aa [b.a.wild.test. 0 IN CNAME hr.test. | hr.test. 0 IN A 192.0.2.1] extra []"},
		{"wild.test", dns.TypeA, fwd(fwdA, "wild.test")},
		// srv-host (target addresses in the additional section), txt, mx, ptr, naptr, caa, dns-rr.
		{"_ldap._tcp.example.com", dns.TypeSRV, "NOERROR aa [_ldap._tcp.example.com. 0 IN SRV 1 2 389 hr.test.] extra [hr.test. 0 IN A 192.0.2.1 | hr.test. 0 IN AAAA 2001:db8::1]"},
		{"_ldap._tcp.example.com", dns.TypeA, fwd(fwdA, "_ldap._tcp.example.com")},
		{"_bare._tcp.example.com", dns.TypeSRV, "NOERROR aa [_bare._tcp.example.com. 0 IN SRV 0 0 1 .] extra []"},
		{"txt.test", dns.TypeTXT, `NOERROR aa [txt.test. 0 IN TXT "v=spf1 a" "second"] extra []`},
		{"txt.test", dns.TypeANY, `NOERROR aa [txt.test. 0 IN TXT "v=spf1 a" "second"] extra []`},
		{"txt.test", dns.TypeA, fwd(fwdA, "txt.test")},
		{"mx.test", dns.TypeMX, "NOERROR aa [mx.test. 0 IN MX 5 hr4.test.] extra [hr4.test. 600 IN A 192.0.2.4]"},
		{"ptr.test", dns.TypePTR, "NOERROR aa [ptr.test. 0 IN PTR target.test.] extra []"},
		{"5.2.0.192.in-addr.arpa", dns.TypePTR, "NOERROR aa [5.2.0.192.in-addr.arpa. 0 IN PTR five.test.] extra []"},
		{"naptr.test", dns.TypeNAPTR, `NOERROR aa [naptr.test. 0 IN NAPTR 10 20 "s" "SIP+D2U" "" _sip._udp.test.] extra []`},
		{"caa.test", dns.TypeCAA, `NOERROR aa [caa.test. 0 IN CAA 0 issue "letsencrypt.org"] extra []`},
		{"rr.test", 65280, `NOERROR aa [rr.test. 0 CLASS1 TYPE65280 \# 3 0102ab] extra []`},
		{"rr.test", dns.TypeANY, `NOERROR aa [rr.test. 0 CLASS1 TYPE65280 \# 3 0102ab] extra []`},
		{"rr.test", dns.TypeA, fwd(fwdA, "rr.test")},
		// address=: subdomains, most specific, '#', no address, IPv6.
		{"ads.test", dns.TypeA, "NOERROR aa [ads.test. 0 IN A 10.9.9.9] extra []"},
		{"www.ads.test", dns.TypeA, "NOERROR aa [www.ads.test. 0 IN A 192.168.5.5] extra []"}, // hosts win
		{"www.ads.test", dns.TypeAAAA, fwd(fwdAAAA, "www.ads.test")},
		{"v6only.ads.test", dns.TypeA, "NOERROR aa [v6only.ads.test. 0 IN A 10.9.9.9] extra []"},
		{"v6only.ads.test", dns.TypeAAAA, "NOERROR aa [v6only.ads.test. 0 IN AAAA 2001:db8::55] extra []"},
		{"sub.ads.test", dns.TypeA, "NOERROR aa [sub.ads.test. 0 IN A 10.9.9.9] extra []"},
		{"ads.test", dns.TypeAAAA, fwd(fwdAAAA, "ads.test")},
		{"ads.test", dns.TypeMX, fwd(fwdOther, "ads.test")},
		{"ads.test", dns.TypeANY, "NOERROR aa [ads.test. 0 IN A 10.9.9.9] extra []"},
		{"deep.ads.test", dns.TypeA, "NOERROR aa [deep.ads.test. 0 IN A 10.8.8.8] extra []"},
		{"x.deep.ads.test", dns.TypeA, "NOERROR aa [x.deep.ads.test. 0 IN A 10.8.8.8] extra []"},
		{"notads.test", dns.TypeA, fwd(fwdA, "notads.test")},
		{"blocked.test", dns.TypeA, "NOERROR [] extra []"}, // in.blocked.test is below it
		{"zz.blocked.test", dns.TypeA, "NXDOMAIN [] extra []"},
		{"www.blocked.test", dns.TypeMX, "NXDOMAIN [] extra []"},
		{"in.blocked.test", dns.TypeA, "NOERROR aa [in.blocked.test. 0 IN A 192.168.5.6] extra []"},
		{"in.blocked.test", dns.TypeAAAA, "NOERROR [] extra []"}, // the name exists: NODATA
		{"blocked.test", dns.TypeSOA, "NOERROR [] extra []"},     // a name below exists
		{"null.test", dns.TypeA, "NOERROR aa [null.test. 0 IN A 0.0.0.0] extra []"},
		{"null.test", dns.TypeAAAA, "NOERROR aa [null.test. 0 IN AAAA ::] extra []"},
		{"null.test", dns.TypeMX, fwd(fwdOther, "null.test")},
		{"six.test", dns.TypeAAAA, "NOERROR aa [six.test. 0 IN AAAA 2001:db8::6] extra []"},
		{"six.test", dns.TypeA, fwd(fwdA, "six.test")},
		{"a.one.test", dns.TypeA, "NOERROR aa [a.one.test. 0 IN A 10.1.1.1] extra []"},
		{"one.test", dns.TypeA, fwd(fwdA, "one.test")},
		{"forcednx.test", dns.TypeA, "NOERROR aa [forcednx.test. 0 IN A 1.2.3.4] extra []"},
		{"forcednx.test", dns.TypeAAAA, "NOERROR [] extra []"}, // an address of another type: NODATA
		{"x.wildads.test", dns.TypeA, "NOERROR aa [x.wildads.test. 0 IN A 10.6.6.6] extra []"},
		{"wildads.test", dns.TypeA, fwd(fwdA, "wildads.test")},
		// local=/lan/ with address= and server= for names under it.
		{"router.lan", dns.TypeA, "NOERROR aa [router.lan. 0 IN A 192.168.1.1] extra []"},
		{"router.lan", dns.TypeAAAA, "NXDOMAIN [] extra []"},
		{"x.lan", dns.TypeA, "NOERROR aa [x.lan. 0 IN A 192.168.5.7] extra []"},
		{"x.lan", dns.TypeMX, "NOERROR [] extra []"},
		{"lan", dns.TypeSOA, "NOERROR [] extra []"},
		{"nothere.lan", dns.TypeA, "NXDOMAIN [] extra []"},
		{"sub.x.lan", dns.TypeA, "NXDOMAIN [] extra []"},
		{"fwd.lan", dns.TypeA, "NOERROR aa [fwd.lan. 0 IN A 10.3.3.3] extra []"},
		{"fwd.lan", dns.TypeAAAA, fwd(fwdAAAA, "fwd.lan")},
		// interface-name: its addresses only, before hosts; none: forwarded,
		// NODATA in a local domain.
		{"lo.test", dns.TypeA, "NOERROR aa [lo.test. 0 IN A 127.0.0.1] extra []"},
		{"lo.test", dns.TypeAAAA, "NOERROR aa [lo.test. 0 IN AAAA ::1] extra []"},
		{"1.0.0.127.in-addr.arpa", dns.TypePTR, "NOERROR aa [1.0.0.127.in-addr.arpa. 0 IN PTR lo.test.] extra []"},
		{"lo.test", dns.TypeMX, fwd(fwdOther, "lo.test")},
		{"none.test", dns.TypeA, fwd(fwdA, "none.test")},
		{"none.lan", dns.TypeA, "NOERROR [] extra []"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
			if got := query(t, d, tt.name, tt.qtype).String(); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
