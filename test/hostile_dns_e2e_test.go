package test

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The hostile-input battery (issue 5): malformed datagrams and TCP frames
// sent to the real, sandboxed moatd, each followed by a normal query that
// must still be answered; at the end dnsd is the same process (nothing
// crashed and was restarted behind the test's back).

// hostileQueries are malformed or odd UDP queries, built from a good one.
func hostileQueries(t *testing.T) map[string][]byte {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion("forwarded.test.", dns.TypeA)
	good, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(qd, an, ns, ar uint16) []byte {
		b := append([]byte(nil), good[:12]...)
		binary.BigEndian.PutUint16(b[4:], qd)
		binary.BigEndian.PutUint16(b[6:], an)
		binary.BigEndian.PutUint16(b[8:], ns)
		binary.BigEndian.PutUint16(b[10:], ar)
		return b
	}
	with := func(b []byte, tail ...byte) []byte { return append(append([]byte(nil), b...), tail...) }
	question := good[12:]
	longName := hdr(1, 0, 0, 0)
	for range 5 { // five labels of 63 bytes: a 320-byte name
		longName = append(longName, 63)
		longName = append(longName, strings.Repeat("a", 63)...)
	}
	longName = append(longName, 0, 0, 1, 0, 1)
	edns := new(dns.Msg)
	edns.SetQuestion("forwarded.test.", dns.TypeA)
	edns.SetEdns0(1232, false)
	ednsWire, _ := edns.Pack()
	// The OPT record ends with RDLEN 0: claim 200 bytes of options.
	ednsLie := append([]byte(nil), ednsWire...)
	binary.BigEndian.PutUint16(ednsLie[len(ednsLie)-2:], 200)
	oddOpcode := append([]byte(nil), good...)
	oddOpcode[2] = oddOpcode[2]&^0x78 | 5<<3
	reply := append([]byte(nil), good...)
	reply[2] |= 0x80
	unknownClass := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(unknownClass[len(unknownClass)-2:], 300)
	unknownType := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(unknownType[len(unknownType)-4:], 65000)
	return map[string][]byte{
		"empty datagram":                {},
		"one byte":                      {0x12},
		"truncated header":              good[:11],
		"header only, qdcount 1":        hdr(1, 0, 0, 0),
		"compression pointer loop":      with(hdr(1, 0, 0, 0), 0xc0, 12, 0, 1, 0, 1),
		"forward pointer out of packet": with(hdr(1, 0, 0, 0), 0xc0, 200, 0, 1, 0, 1),
		"label past the end":            with(hdr(1, 0, 0, 0), 40, 'a', 'b'),
		"name over 255 bytes":           longName,
		"qdcount lies (5)":              with(hdr(5, 0, 0, 0), question...),
		"ancount lies (3)":              with(hdr(1, 3, 0, 0), question...),
		"arcount lies (2)":              with(hdr(1, 0, 0, 2), question...),
		"EDNS option length overruns":   ednsLie,
		"question cut after the name":   good[:len(good)-4],
		"unknown opcode":                oddOpcode,
		"a reply (QR set)":              reply,
		"unknown class":                 unknownClass,
		"unknown type":                  unknownType,
		"600 zero bytes":                make([]byte, 600),
		"64 KiB of 0xff":                []byte(strings.Repeat("\xff", 65000)),
	}
}

func TestHostileDNSInput(t *testing.T) {
	n, m := startStack(t, baseConf)
	m.waitReady(t)
	before := m.workers(t)["dnsd"]
	if before == 0 {
		t.Fatal("no dnsd")
	}
	answers := func(t *testing.T, what string) {
		t.Helper()
		if got := strings.TrimSpace(n.dig("@127.0.0.1", "+short", "+tries=2", "+time=2", "forwarded.test")); got != "192.0.2.55" {
			t.Fatalf("after %s: dig answered %q, want 192.0.2.55", what, got)
		}
	}
	answers(t, "start")
	udp := udpInNetns(t, n, "127.0.0.1:0")
	server := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	for name, pkt := range hostileQueries(t) {
		t.Run("udp/"+name, func(t *testing.T) {
			if _, err := udp.WriteToUDP(pkt, server); err != nil && len(pkt) < 65000 {
				t.Fatalf("send: %v", err)
			}
			answers(t, name)
		})
	}
	frames := map[string][]byte{
		"length 0":                   {0, 0},
		"length beyond what is sent": append([]byte{0xff, 0xff}, make([]byte, 10)...),
		"length 5, junk":             {0, 5, 1, 2, 3, 4, 5},
		"half a length prefix":       {0},
		"a reply in a frame":         nil, // filled below
	}
	q := new(dns.Msg)
	q.SetQuestion("forwarded.test.", dns.TypeA)
	q.Response = true
	rb, _ := q.Pack()
	frames["a reply in a frame"] = append([]byte{byte(len(rb) >> 8), byte(len(rb))}, rb...)
	for name, frame := range frames {
		t.Run("tcp/"+name, func(t *testing.T) {
			c, err := connInNetns(n, func() (net.Conn, error) { return net.DialTimeout("tcp", "127.0.0.1:53", 5*time.Second) })
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			if _, err := c.Write(frame); err != nil {
				t.Fatalf("send: %v", err)
			}
			answers(t, name)
			if !strings.Contains(n.dig("@127.0.0.1", "+tcp", "+short", "forwarded.test"), "192.0.2.55") {
				t.Fatalf("after %s: no answer over TCP", name)
			}
		})
	}
	if after := m.workers(t)["dnsd"]; after != before {
		t.Errorf("dnsd was pid %d, now %d: it died and was restarted\n%s", before, after, m.out.String())
	}
	if strings.Contains(m.out.String(), "panic") {
		t.Errorf("the log mentions a panic:\n%s", m.out.String())
	}
}
