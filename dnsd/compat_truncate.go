package dnsd

import "github.com/miekg/dns"

// packForClient packs m, a complete reply (OPT record included), to fit
// in maxSize bytes, the most the client takes. It is sent uncompressed
// when it fits so (the form the fast path's templates have, so that the
// cache can confirm it byte for byte), compressed when only that fits.
// A reply that does not fit at all, or one truncated upstream, goes out
// with TC set and empty sections (the OPT record kept), as dnsmasq 2.90
// relays it: never part of an RRset, which a client that ignores TC
// would take as the whole of it (RFC 2181 9); the client asks again over
// TCP and gets everything. m's sections are left as they are: the
// waiters of one upstream query share its records, and a client with a
// larger buffer gets them all.
func packForClient(m *dns.Msg, maxSize int) ([]byte, error) {
	if m.Truncated {
		// Records that came with TC from upstream are a part of the
		// answer at best.
		m = withEmptySections(m)
	}
	m.Compress = false
	if m.Len() > maxSize {
		m.Compress = true
		if m.Len() > maxSize {
			m = withEmptySections(m)
			m.Truncated = true
		}
	}
	return m.Pack()
}

// withEmptySections returns a copy of m's header and question with its
// OPT record but no other record.
func withEmptySections(m *dns.Msg) *dns.Msg {
	out := &dns.Msg{MsgHdr: m.MsgHdr, Compress: m.Compress, Question: m.Question}
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			out.Extra = append(out.Extra, rr)
		}
	}
	return out
}
