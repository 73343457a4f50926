package dhcpopts

import (
	"bytes"
	"testing"
)

// FuzzParseSpec feeds arbitrary text (with arbitrary quoting) to the
// option value parser. It must not panic; an accepted value must fit its
// context, and its Literal flag must be right: the same text parsed
// without quotes (or, when Literal, with everything but commas quoted)
// gives the same bytes.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"3,192.168.0.1", "option:router", "tag:a,vendor:PXEClient,1,0.0.0.0", "encap:175,190,iscsi",
		"vi-encap:2,10,text", "200,01:02:03", "200,-5", "200,1500s", "119,a.b,b", "120,x.y", "120,1.2.3.4",
		"121,10.0.0.0/8,1.2.3.4", "58,1h", "200,hello world", "set:a,61,01:*:02", "option6:1,x", "26,1500i",
	} {
		f.Add(s, uint64(0), false)
		f.Add(s, uint64(0xf0f0), true)
	}
	f.Fuzz(func(t *testing.T, text string, quoteMask uint64, match bool) {
		v := Value{Text: text}
		if quoteMask != 0 {
			v.Quoted = make([]bool, len(text))
			for i := range v.Quoted {
				v.Quoted[i] = quoteMask&(1<<(uint(i)%64)) != 0
			}
		}
		s, err := ParseSpec(v, match)
		if err != nil {
			return
		}
		ctx := s.Context
		if s.Encoded.Kind == KindEmpty && len(s.Encoded.Data) != 0 {
			t.Fatalf("empty kind with data %x", s.Encoded.Data)
		}
		if len(s.Encoded.Data) > ctx.MaxLen() {
			t.Fatalf("%d bytes in context %d", len(s.Encoded.Data), ctx)
		}
		if s.Encoded.Wild != nil && len(s.Encoded.Wild) != len(s.Encoded.Data) {
			t.Fatalf("wildcard mask of %d for %d bytes", len(s.Encoded.Wild), len(s.Encoded.Data))
		}
		typ := Unknown
		if s.Name != "" || ctx == TopLevel || ctx == Match {
			typ = TypeOf(s.Code)
		}
		again := PlainValue(s.Value)
		if s.Literal {
			again.Quoted = make([]bool, len(s.Value))
			for i := range again.Quoted {
				again.Quoted[i] = s.Value[i] != ','
			}
		}
		enc, err := Encode(s.Code, typ, ctx, again)
		if err != nil || enc.Kind != s.Encoded.Kind || !bytes.Equal(enc.Data, s.Encoded.Data) {
			t.Fatalf("value %q (literal %v) reads back as %v %x, %v; was %v %x", s.Value, s.Literal, enc.Kind, enc.Data, err, s.Encoded.Kind, s.Encoded.Data)
		}
	})
}
