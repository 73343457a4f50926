package dnsd

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// rawBytesUpstream answers each query with the datagrams script returns,
// byte for byte, so that tests can send what no packer would write.
func rawBytesUpstream(t *testing.T, script func(q *dns.Msg) [][]byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil || len(q.Question) != 1 {
				continue
			}
			for _, b := range script(q) {
				_, _ = pc.WriteTo(b, from)
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// aWire is aReply packed without compression, and where its one answer
// starts and its rdlength field is.
func aWire(t *testing.T, q *dns.Msg, ip string) (wire []byte, answer, rdlength int) {
	t.Helper()
	wire, err := aReply(q, ip).Pack()
	if err != nil {
		t.Fatal(err)
	}
	nameLen := 0
	for wire[12+nameLen] != 0 {
		nameLen += 1 + int(wire[12+nameLen])
	}
	nameLen++
	answer = 12 + nameLen + 4
	return wire, answer, answer + nameLen + 8
}

// withOwner replaces the answer's owner name of an aWire by owner.
func withOwner(wire []byte, answer, rdlength int, owner ...byte) []byte {
	out := append([]byte(nil), wire[:answer]...)
	out = append(out, owner...)
	return append(out, wire[rdlength-8:]...)
}

// TestHostileUpstreamReplies: each malformed or unmatched reply is
// dropped and counted, the real reply after it is taken, and the worker
// goes on answering.
func TestHostileUpstreamReplies(t *testing.T) {
	type counted int
	const (
		bad counted = iota
		mismatch
	)
	tests := []struct {
		name  string
		kind  counted
		forge func(t *testing.T, q *dns.Msg) []byte
	}{
		{"empty datagram", bad, func(*testing.T, *dns.Msg) []byte { return []byte{} }},
		{"short header", bad, func(_ *testing.T, q *dns.Msg) []byte { return []byte{byte(q.Id >> 8), byte(q.Id), 0x81} }},
		{"header only", mismatch, func(_ *testing.T, q *dns.Msg) []byte {
			return []byte{byte(q.Id >> 8), byte(q.Id), 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0}
		}},
		{"wrong ID", mismatch, func(t *testing.T, q *dns.Msg) []byte {
			w, _, _ := aWire(t, q, "6.6.6.6")
			binary.BigEndian.PutUint16(w, q.Id+1)
			return w
		}},
		{"wrong question", mismatch, func(t *testing.T, q *dns.Msg) []byte {
			f := q.Copy()
			f.Question[0].Name = "victim.example."
			w, _, _ := aWire(t, f, "6.6.6.6")
			return w
		}},
		{"wrong type", mismatch, func(t *testing.T, q *dns.Msg) []byte {
			f := q.Copy()
			f.Question[0].Qtype = dns.TypeMX
			w, _, _ := aWire(t, f, "6.6.6.6")
			return w
		}},
		{"two questions", mismatch, func(t *testing.T, q *dns.Msg) []byte {
			f := aReply(q, "6.6.6.6")
			f.Question = append(f.Question, dns.Question{Name: "victim.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
			w, err := f.Pack()
			if err != nil {
				t.Fatal(err)
			}
			return w
		}},
		{"QR clear", bad, func(t *testing.T, q *dns.Msg) []byte {
			w, _, _ := aWire(t, q, "6.6.6.6")
			w[2] &^= 0x80
			return w
		}},
		{"opcode not QUERY", bad, func(t *testing.T, q *dns.Msg) []byte {
			w, _, _ := aWire(t, q, "6.6.6.6")
			w[2] |= dns.OpcodeStatus << 3
			return w
		}},
		{"rdlength past the end", bad, func(t *testing.T, q *dns.Msg) []byte {
			w, _, rd := aWire(t, q, "6.6.6.6")
			binary.BigEndian.PutUint16(w[rd:], 200)
			return w
		}},
		{"rdlength short of the data", bad, func(t *testing.T, q *dns.Msg) []byte {
			w, _, rd := aWire(t, q, "6.6.6.6")
			binary.BigEndian.PutUint16(w[rd:], 3)
			return w
		}},
		{"rdlength short, packet cut there", bad, func(t *testing.T, q *dns.Msg) []byte {
			w, _, rd := aWire(t, q, "6.6.6.6")
			binary.BigEndian.PutUint16(w[rd:], 3)
			return w[:len(w)-1]
		}},
		{"cut inside a record", bad, func(t *testing.T, q *dns.Msg) []byte {
			w, _, _ := aWire(t, q, "6.6.6.6")
			return w[:len(w)-3]
		}},
		{"answer count lies", bad, func(t *testing.T, q *dns.Msg) []byte {
			w, _, _ := aWire(t, q, "6.6.6.6")
			binary.BigEndian.PutUint16(w[6:], 3)
			return w
		}},
		{"compression loop", bad, func(t *testing.T, q *dns.Msg) []byte {
			w, an, rd := aWire(t, q, "6.6.6.6")
			return withOwner(w, an, rd, 0xc0|byte(an>>8), byte(an))
		}},
		{"two-pointer loop", bad, func(t *testing.T, q *dns.Msg) []byte {
			w, an, rd := aWire(t, q, "6.6.6.6")
			return withOwner(w, an, rd, 0xc0|byte((an+2)>>8), byte(an+2), 0xc0|byte(an>>8), byte(an))
		}},
		{"pointer past the end", bad, func(t *testing.T, q *dns.Msg) []byte {
			w, an, rd := aWire(t, q, "6.6.6.6")
			return withOwner(w, an, rd, 0xc0|0x3f, 0xff)
		}},
		{"label past the end", bad, func(t *testing.T, q *dns.Msg) []byte {
			w, an, _ := aWire(t, q, "6.6.6.6")
			return append(w[:an:an], 63, 'a', 'b')
		}},
		{"oversized name", bad, func(t *testing.T, q *dns.Msg) []byte {
			w, an, rd := aWire(t, q, "6.6.6.6")
			var owner []byte
			for range 5 { // 5 labels of 63: 320 bytes, over 255
				owner = append(owner, 63)
				owner = append(owner, []byte(strings.Repeat("x", 63))...)
			}
			return withOwner(w, an, rd, append(owner, 0)...)
		}},
		{"empty SOA rdata", bad, func(t *testing.T, q *dns.Msg) []byte {
			w, _, rd := aWire(t, q, "6.6.6.6")
			out := append([]byte(nil), w[:rd-8]...) // up to the owner's end
			out = binary.BigEndian.AppendUint16(out, dns.TypeSOA)
			return append(out, 0, 1, 0, 0, 0, 60, 0, 0) // class IN, TTL 60, rdlength 0
		}},
	}
	byName := map[string]int{}
	for i := range tests {
		byName["h"+strconv.Itoa(i)+".example."] = i
	}
	addr := rawBytesUpstream(t, func(q *dns.Msg) [][]byte {
		real, _, _ := aWire(t, q, "7.7.7.7")
		i, ok := byName[strings.ToLower(q.Question[0].Name)]
		if !ok {
			return [][]byte{real}
		}
		return [][]byte{tests[i].forge(t, q), real}
	})
	d := startDNSD(t, policyCfg(func(c *ipcpb.DNSConfig) { c.CacheSize = 0 }, addr), "", instanceOptions{})
	s := d.server
	for i, tc := range tests {
		badBefore, mismatchBefore := s.stats.upstreamBad.Load(), s.stats.upstreamMismatch.Load()
		r := ask(t, d, newQuery("h"+strconv.Itoa(i)+".example.", dns.TypeA), "udp")
		if firstA(r) != "7.7.7.7" || len(r.Answer) != 1 {
			t.Errorf("%s: answer %v, want the real reply's 7.7.7.7 alone", tc.name, r.Answer)
		}
		gotBad, gotMismatch := s.stats.upstreamBad.Load()-badBefore, s.stats.upstreamMismatch.Load()-mismatchBefore
		want := [2]uint64{1, 0}
		if tc.kind == mismatch {
			want = [2]uint64{0, 1}
		}
		if [2]uint64{gotBad, gotMismatch} != want {
			t.Errorf("%s: counted %d bad, %d mismatched; want %v", tc.name, gotBad, gotMismatch, want)
		}
		if r := ask(t, d, newQuery("after.example.", dns.TypeA), "udp"); firstA(r) != "7.7.7.7" {
			t.Fatalf("after %s: %v", tc.name, r)
		}
	}
}

// TestForeignRecordsNotCached: records for other names in a reply's
// answer, authority and additional sections do not answer those names
// later: the cache keeps a reply under its question only.
func TestForeignRecordsNotCached(t *testing.T) {
	victimA := func(ip string) dns.RR {
		return &dns.A{Hdr: dns.RR_Header{Name: "victim.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 3600}, A: net.ParseIP(ip)}
	}
	u := startRecUpstream(t, "127.0.0.1", func(q *dns.Msg) *dns.Msg {
		if strings.EqualFold(q.Question[0].Name, "victim.example.") {
			if q.Question[0].Qtype != dns.TypeA {
				return new(dns.Msg).SetReply(q) // no data
			}
			return aReply(q, "10.5.5.5")
		}
		m := aReply(q, "7.7.7.7")
		m.Answer = append(m.Answer, victimA("6.6.6.1"))
		m.Ns = []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: "victim.example.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 3600}, Ns: "ns.evil."}}
		m.Extra = []dns.RR{victimA("6.6.6.2")}
		return m
	})
	d := startDNSD(t, upstreamCfg(u.addr), "", instanceOptions{})
	for _, qtype := range []uint16{dns.TypeA, dns.TypeMX} {
		ask(t, d, newQuery("carrier.example.", qtype), "udp")
	}
	for _, tc := range []struct {
		qtype uint16
		want  string
	}{{dns.TypeA, "10.5.5.5"}, {dns.TypeNS, ""}} {
		before := u.count()
		r := ask(t, d, newQuery("victim.example.", tc.qtype), "udp")
		if u.count() != before+1 {
			t.Errorf("victim.example %s answered without asking upstream: %v", dns.TypeToString[tc.qtype], r)
		}
		if firstA(r) != tc.want {
			t.Errorf("victim.example %s: %v, want %q", dns.TypeToString[tc.qtype], r.Answer, tc.want)
		}
	}
}

// TestReplyFromElsewhereIgnored: a perfect forgery (right ID, right
// question and case) from another port or address than the server's is
// not taken, on a random port (the connected socket) or a fixed one (the
// shared socket's match on the source).
func TestReplyFromElsewhereIgnored(t *testing.T) {
	freePort := func() uint32 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return uint32(pc.LocalAddr().(*net.UDPAddr).Port)
	}
	tests := []struct {
		name      string
		fixedPort bool
		forger    string
	}{
		{"random port, other port", false, "127.0.0.1"},
		{"random port, other address", false, "127.0.0.2"},
		{"query-port, other port", true, "127.0.0.1"},
		{"query-port, other address", true, "127.0.0.2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forger, err := net.ListenPacket("udp4", tc.forger+":0")
			if err != nil {
				t.Fatal(err)
			}
			defer forger.Close()
			pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			forged := make(chan struct{}, 8)
			go func() {
				buf := make([]byte, 65535)
				for {
					n, from, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					q := new(dns.Msg)
					if q.Unpack(buf[:n]) != nil {
						continue
					}
					if b, err := aReply(q, "6.6.6.6").Pack(); err == nil {
						_, _ = forger.WriteTo(b, from)
						forged <- struct{}{}
					}
					time.Sleep(50 * time.Millisecond) // the forgery is there first
					if b, err := aReply(q, "7.7.7.7").Pack(); err == nil {
						_, _ = pc.WriteTo(b, from)
					}
				}
			}()
			up := pc.LocalAddr().(*net.UDPAddr).AddrPort()
			cfg := upstreamCfg(up)
			if tc.fixedPort {
				port := freePort()
				cfg.QueryPort = &port
			}
			d := startDNSD(t, cfg, "", instanceOptions{})
			r := ask(t, d, newQuery("forged.example.", dns.TypeA), "udp")
			if firstA(r) != "7.7.7.7" {
				t.Fatalf("answer %v, want the server's 7.7.7.7", r.Answer)
			}
			select {
			case <-forged:
			default:
				t.Fatal("no forgery was sent")
			}
			if tc.fixedPort && d.server.stats.upstreamMismatch.Load() != 1 {
				t.Errorf("mismatches %d, want 1 (the shared socket matches the source)", d.server.stats.upstreamMismatch.Load())
			}
		})
	}
}
