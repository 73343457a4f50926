package cache

import (
	"bytes"
	"testing"

	"github.com/miekg/dns"
)

// FuzzParseQuery: the fast path's parser never panics, and whatever it
// accepts is a query miekg/dns reads the same way: one question whose
// folded wire form is the key, and an OPT record exactly when it says so.
func FuzzParseQuery(f *testing.F) {
	for _, edit := range []func(m *dns.Msg){
		nil,
		func(m *dns.Msg) { m.SetEdns0(1232, false) },
		func(m *dns.Msg) { m.SetEdns0(4096, true) },
		func(m *dns.Msg) { m.Question[0].Name = "MiXeD.ExAmPlE." },
	} {
		f.Add(packQuery(f, "www.example.com.", dns.TypeA, edit))
	}
	f.Add([]byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var q Query
		if !ParseQuery(raw, &q) {
			return
		}
		m := new(dns.Msg)
		if err := m.Unpack(raw); err != nil {
			t.Fatalf("accepted what miekg/dns rejects: %v", err)
		}
		if len(m.Question) != 1 || len(m.Answer) != 0 || len(m.Ns) != 0 || m.Response || m.Opcode != dns.OpcodeQuery {
			t.Fatalf("accepted %v", m)
		}
		if (m.IsEdns0() != nil) != q.EDNS || len(m.Extra) > 1 {
			t.Fatalf("EDNS %v, miekg/dns extra %v", q.EDNS, m.Extra)
		}
		key, ok := questionKey(m.Question[0], nil)
		if !ok || !bytes.Equal(key, q.Key) {
			t.Fatalf("key %q, from the parsed question %q", q.Key, key)
		}
	})
}
