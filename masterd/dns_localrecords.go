package masterd

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/config"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// buildRecords turns the configuration's local records into
// TABLE_LOCAL_RECORDS: resource records in wire format, host-record
// addresses and address= rules. Names are checked by the config parser
// already; a record that still cannot be encoded (a name too long once
// the domain is appended, dns-rr data that is not valid for its type) is
// logged (log may be nil) and left out, as dnsmasq logs and skips bad
// data.
func buildRecords(l *config.LocalData, domain, host string, log *logger) []*ipcpb.LocalRecord {
	b := recordBuilder{log: log, localTTL: l.LocalTTL}
	for _, h := range l.HostRecords {
		ttl := l.LocalTTL
		if h.HasTTL {
			ttl = h.TTL
		}
		for _, a := range []netip.Addr{h.V4, h.V6} {
			if a.IsValid() {
				b.out = append(b.out, &ipcpb.LocalRecord{Source: "config", Host: &ipcpb.LocalHost{
					Kind: ipcpb.LocalHost_KIND_HOST_RECORD, Address: a.AsSlice(), Names: h.Names, Ttl: ttl,
				}})
			}
		}
	}
	for _, c := range l.CNAMEs {
		ttl := l.LocalTTL
		if c.HasTTL {
			ttl = c.TTL
		}
		for _, alias := range c.Aliases {
			b.add(&dns.CNAME{Hdr: b.hdr(alias, dns.TypeCNAME, ttl), Target: fqdn(c.Target)})
		}
	}
	for _, s := range l.SRVs {
		name := s.Name
		// dnsmasq appends the domain to "_service._proto".
		if domain != "" && strings.Count(name, ".") == 1 {
			name += "." + domain
		}
		b.add(&dns.SRV{Hdr: b.hdr(name, dns.TypeSRV, l.LocalTTL), Priority: s.Priority, Weight: s.Weight, Port: s.Port, Target: fqdn(s.Target)})
	}
	for _, t := range l.TXTs {
		b.add(&dns.TXT{Hdr: b.hdr(t.Name, dns.TypeTXT, l.LocalTTL), Txt: txtChunks(t.Strings)})
	}
	b.mx(l, host)
	for _, p := range l.PTRs {
		b.add(&dns.PTR{Hdr: b.hdr(p.Name, dns.TypePTR, l.LocalTTL), Ptr: fqdn(p.Target)})
	}
	for _, n := range l.NAPTRs {
		b.add(&dns.NAPTR{Hdr: b.hdr(n.Name, dns.TypeNAPTR, l.LocalTTL), Order: n.Order, Preference: n.Pref,
			Flags: n.Flags, Service: n.Service, Regexp: n.Regexp, Replacement: fqdn(n.Replacement)})
	}
	for _, c := range l.CAAs {
		b.add(&dns.CAA{Hdr: b.hdr(c.Name, dns.TypeCAA, l.LocalTTL), Flag: c.Flags, Tag: c.Tag, Value: c.Value})
	}
	for _, r := range l.RRs {
		b.rawRR(r)
	}
	for _, a := range l.Addresses {
		for _, d := range a.Domains {
			rule := &ipcpb.AddressRule{Domain: d, NullAddress: a.Null}
			if a.Addr.IsValid() {
				rule.Address = a.Addr.Unmap().AsSlice()
			}
			b.out = append(b.out, &ipcpb.LocalRecord{AddressRule: rule, Source: "config"})
		}
	}
	// domain=dom,subnet,local is local=/dom/ plus local= for the subnet's
	// reverse zones; address=/dom/ means the same.
	for _, r := range l.Domains {
		if !r.Local {
			continue
		}
		for _, d := range append([]string{r.Domain}, reverseZones(r.Prefix)...) {
			b.out = append(b.out, &ipcpb.LocalRecord{AddressRule: &ipcpb.AddressRule{Domain: d}, Source: "config"})
		}
	}
	return b.out
}

// recordBuilder collects packed records.
type recordBuilder struct {
	log      *logger // nil: a rebuild, whose problems were logged at load
	localTTL uint32
	out      []*ipcpb.LocalRecord
}

func (b *recordBuilder) logf(format string, args ...any) {
	if b.log != nil {
		b.log.printf("master", format, args...)
	}
}

func (b *recordBuilder) hdr(name string, t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: fqdn(name), Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

// add packs rr (uncompressed) and checks that it unpacks again, which is
// what dnsd will do with it.
func (b *recordBuilder) add(rr dns.RR) {
	buf := make([]byte, dns.Len(rr)+64)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err == nil {
		_, _, err = dns.UnpackRR(buf[:n], 0)
	}
	if err != nil {
		b.logf("%s %s: cannot encode the record (%v); left out", rr.Header().Name, dns.TypeToString[rr.Header().Rrtype], err)
		return
	}
	b.out = append(b.out, &ipcpb.LocalRecord{Rr: buf[:n:n], Source: "config"})
}

// rawRR is dns-rr: the rdata as given. A type miekg/dns knows must hold
// valid rdata for that type, or dnsd could not parse it.
func (b *recordBuilder) rawRR(r config.RR) {
	rr := &dns.RFC3597{Hdr: b.hdr(r.Name, r.Type, b.localTTL)}
	rr.Rdata = fmt.Sprintf("%x", r.Data)
	buf := make([]byte, len(r.Name)+2+10+len(r.Data)+8)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err == nil {
		_, _, err = dns.UnpackRR(buf[:n], 0)
	}
	if err != nil {
		b.logf("dns-rr=%s,%d: the data is not a valid %s record (%v); left out", r.Name, r.Type, dns.Type(r.Type), err)
		return
	}
	b.out = append(b.out, &ipcpb.LocalRecord{Rr: buf[:n:n], Source: "config"})
}

// mx adds mx-host records and, as dnsmasq does when mx-target or localmx
// is given without an mx-host for this machine's name, an MX record for
// the host name (preference 0). An mx-host without a target points at
// mx-target, else at the host name.
func (b *recordBuilder) mx(l *config.LocalData, host string) {
	target := l.MXTarget
	if target == "" {
		target = host
	}
	haveHost := false
	for _, m := range l.MXs {
		t := m.Target
		if !m.HasTarget {
			t = target
		}
		haveHost = haveHost || m.Name == host
		b.add(&dns.MX{Hdr: b.hdr(m.Name, dns.TypeMX, l.LocalTTL), Preference: m.Pref, Mx: fqdn(t)})
	}
	if (l.MXTarget != "" || l.LocalMX) && !haveHost && host != "" {
		b.add(&dns.MX{Hdr: b.hdr(host, dns.TypeMX, l.LocalTTL), Preference: 0, Mx: fqdn(target)})
	}
}

// txtChunks splits TXT strings into the 255-byte character-strings DNS
// carries; no strings at all is one empty string (dnsmasq's txt-record=name).
func txtChunks(strs []string) []string {
	if len(strs) == 0 {
		return []string{""}
	}
	var out []string
	for _, s := range strs {
		if s == "" {
			out = append(out, "")
		}
		for len(s) > 0 {
			n := min(len(s), 255)
			out = append(out, txtEscape(s[:n]))
			s = s[n:]
		}
	}
	return out
}

// txtEscape writes a raw byte string in the escaped form miekg/dns's TXT
// packer reads (it unescapes \" \\ and \DDD).
func txtEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// fqdn turns a stored name ("" for the root) into a fully qualified one.
func fqdn(name string) string {
	if name == "" {
		return "."
	}
	return name + "."
}

// reverseZones lists the in-addr.arpa or ip6.arpa zones covering a prefix,
// as dnsmasq's domain=...,local does: whole octets (nibbles) name one zone,
// a partial one names a zone per value it can take.
func reverseZones(p netip.Prefix) []string {
	if !p.IsValid() {
		return nil
	}
	a := p.Masked().Addr()
	bits := p.Bits()
	if a.Is4() {
		b := a.As4()
		whole, rest := bits/8, bits%8
		var zones []string
		count := 1
		if rest != 0 {
			count = 1 << (8 - rest)
		}
		for i := 0; i < count; i++ {
			labels := []string{}
			n := whole
			if rest != 0 {
				n = whole + 1
			}
			for j := n - 1; j >= 0; j-- {
				v := int(b[j])
				if j == whole && rest != 0 {
					v += i
				}
				labels = append(labels, fmt.Sprint(v))
			}
			zones = append(zones, strings.Join(append(labels, "in-addr.arpa"), "."))
		}
		return zones
	}
	b := a.As16()
	nibble := func(k int) int {
		if k%2 == 0 {
			return int(b[k/2] >> 4)
		}
		return int(b[k/2] & 0xf)
	}
	whole, rest := bits/4, bits%4
	count := 1
	if rest != 0 {
		count = 1 << (4 - rest)
	}
	var zones []string
	for i := 0; i < count; i++ {
		n := whole
		if rest != 0 {
			n = whole + 1
		}
		labels := []string{}
		for k := n - 1; k >= 0; k-- {
			v := nibble(k)
			if k == whole && rest != 0 {
				v += i
			}
			labels = append(labels, fmt.Sprintf("%x", v))
		}
		zones = append(zones, strings.Join(append(labels, "ip6.arpa"), "."))
	}
	return zones
}
