package dnsd

import (
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/workerproc"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Helpers for the local-data tests (area A).

// rrRecord packs one record given in zone-file form, as the master does.
func rrRecord(t testing.TB, text string) *ipcpb.LocalRecord {
	t.Helper()
	rr, err := dns.NewRR(text)
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	buf := make([]byte, dns.Len(rr)+64)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	return &ipcpb.LocalRecord{Rr: buf[:n], Source: "config"}
}

func hostRecord(kind ipcpb.LocalHost_Kind, addr string, ttl uint32, source string, names ...string) *ipcpb.LocalRecord {
	var b []byte
	if addr != "" {
		b = netip.MustParseAddr(addr).AsSlice()
	}
	return &ipcpb.LocalRecord{Source: source, Host: &ipcpb.LocalHost{Kind: kind, Address: b, Names: names, Ttl: ttl}}
}

func addressRule(domain, addr string) *ipcpb.LocalRecord {
	r := &ipcpb.AddressRule{Domain: domain}
	switch addr {
	case "#":
		r.NullAddress = true
	case "":
	default:
		r.Address = netip.MustParseAddr(addr).AsSlice()
	}
	return &ipcpb.LocalRecord{AddressRule: r, Source: "config"}
}

// localData is what a test hands dnsd besides the hosts file.
type localData struct {
	records, dynamic []*ipcpb.LocalRecord
}

// startLocalDNSD is startDNSD with the local tables sent between the
// configuration and the hosts table, as the master sends them.
func startLocalDNSD(t *testing.T, cfg *ipcpb.DNSConfig, hostsText string, ld localData, sockets ...workerproc.Socket) *dnsdInstance {
	t.Helper()
	return startDNSD(t, cfg, hostsText, instanceOptions{sockets: sockets, local: &ld})
}

func (d *dnsdInstance) sendLocal(t testing.TB, table ipcpb.Table, recs []*ipcpb.LocalRecord) {
	t.Helper()
	if err := ipc.SendLocalRecords(d.master, table, 1, recs); err != nil {
		t.Fatal(err)
	}
}

// result is a reply in a form tests compare: rcode, the AA flag, and the
// answer and additional sections as sorted, whitespace-normalised lines.
type result struct {
	rcode  string
	aa     bool
	answer []string
	extra  []string
}

func resultOf(m *dns.Msg) result {
	r := result{rcode: dns.RcodeToString[m.Rcode], aa: m.Authoritative}
	for _, rr := range m.Answer {
		r.answer = append(r.answer, strings.Join(strings.Fields(rr.String()), " "))
	}
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			r.extra = append(r.extra, strings.Join(strings.Fields(rr.String()), " "))
		}
	}
	sort.Strings(r.answer)
	sort.Strings(r.extra)
	return r
}

func (r result) String() string {
	aa := ""
	if r.aa {
		aa = " aa"
	}
	return r.rcode + aa + " [" + strings.Join(r.answer, " | ") + "] extra [" + strings.Join(r.extra, " | ") + "]"
}

// query asks d one question over UDP.
func query(t *testing.T, d *dnsdInstance, name string, qtype uint16) result {
	t.Helper()
	return resultOf(ask(t, d, newQuery(dns.Fqdn(name), qtype), "udp"))
}

// waitAnswer polls until name/qtype gives want (a table swap is
// asynchronous to the test).
func waitAnswer(t *testing.T, d *dnsdInstance, name string, qtype uint16, want string) {
	t.Helper()
	var got string
	for range 500 {
		if got = query(t, d, name, qtype).String(); got == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s %s: %s, want %s", name, dns.TypeToString[qtype], got, want)
}
