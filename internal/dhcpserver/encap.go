package dhcpserver

import (
	"bytes"

	"github.com/moatdns/moat/internal/dhcpopts"
	"github.com/moatdns/moat/internal/leases"
)

// encapOptions sends the encap:<option> and vi-encap:<enterprise> lines:
// for each outer option (in the order of its first line), the lines
// whose tags match (untagged ones too) and that are forced or whose outer
// option the client asked for; encap: as sub-options ending in an END
// byte, vi-encap: in option 125 (RFC 3925).
func (e *Engine) encapOptions(r *request, p *packet, tagif leases.TagSet) {
	opts := e.c.options
	for i := range opts {
		o := &opts[i]
		if o.Context != dhcpopts.Encap && o.Context != dhcpopts.VIEncap || e.groupSeen(i) {
			continue
		}
		outer := uint8(optVIVendorOpts)
		if o.Context == dhcpopts.Encap {
			outer = o.Encap
		}
		e.subs = e.subs[:0]
		for j := i; j < len(opts); j++ {
			s := &opts[j]
			if s.Context != o.Context || s.Encap != o.Encap || s.Enterprise != o.Enterprise {
				continue
			}
			if leases.MatchTags(s.Tags, tagif, true) && (s.force || r.inPRL(outer)) {
				e.subs = append(e.subs, dhcpopts.SubOption{Code: s.Code, Data: e.subData(r, s)})
			}
		}
		if len(e.subs) == 0 {
			continue
		}
		if o.Context == dhcpopts.Encap {
			putEncapsulated(p, outer, e.subs)
			continue
		}
		data := dhcpopts.VIEncapsulate(o.Enterprise, e.subs)
		if len(data)-5 > 250 {
			e.log("cannot send RFC3925 option: too many options for enterprise number %d", o.Enterprise)
			continue
		}
		p.put(optVIVendorOpts, data)
	}
}

// groupSeen reports whether an earlier line has the same outer option
// as line i (its group was sent with that line).
func (e *Engine) groupSeen(i int) bool {
	o := &e.c.options[i]
	for j := 0; j < i; j++ {
		s := &e.c.options[j]
		if s.Context == o.Context && s.Encap == o.Encap && s.Enterprise == o.Enterprise {
			return true
		}
	}
	return false
}

// subData is a sub-option's value: as configured, with a NUL for clients
// that want NUL-terminated strings.
func (e *Engine) subData(r *request, s *option) []byte {
	d := s.Encoded.Data
	if r.borken && s.Encoded.Kind == dhcpopts.KindString && len(d) != 255 {
		d = append(bytes.Clone(d), 0)
	}
	return d
}

// putEncapsulated writes sub-options into option outer as dnsmasq's
// do_encap_opts: as many as fit in 255 bytes per instance of the option,
// and an END byte after the last.
func putEncapsulated(p *packet, outer uint8, subs []dhcpopts.SubOption) {
	start, n := 0, 0
	for i, s := range subs {
		size := len(s.Data) + 2
		if n+size <= 255 {
			n += size
			continue
		}
		writeSubs(p.space(outer, n), subs[start:i], false)
		start, n = i, size
	}
	if n != 0 {
		writeSubs(p.space(outer, n+1), subs[start:], true)
	}
}

func writeSubs(b []byte, subs []dhcpopts.SubOption, end bool) {
	if b == nil {
		return
	}
	i := 0
	for _, s := range subs {
		b[i], b[i+1] = s.Code, byte(len(s.Data))
		i += 2 + copy(b[i+2:], s.Data)
	}
	if end {
		b[i] = optEnd
	}
}

// vendorOptions sends the vendor:<class> lines as option 43: those whose
// class the client's vendor class (option 60, or the one configured for
// it) contains, whose tags match, when one of them is forced or the
// client asks for option 43. Then the client's vendor class goes back in
// option 60 unless a configured one was sent.
func (e *Engine) vendorOptions(r *request, p *packet, tagif leases.TagSet, vendorClass []byte, sentVendorClass bool) {
	if vendorClass == nil {
		return
	}
	e.subs = e.subs[:0]
	force := false
	for i := range e.c.options {
		o := &e.c.options[i]
		if o.Context != dhcpopts.Vendor || !bytes.Contains(vendorClass, []byte(o.VendorClass)) || !leases.MatchTags(o.Tags, tagif, true) {
			continue
		}
		force = force || o.force
		e.subs = append(e.subs, dhcpopts.SubOption{Code: o.Code, Data: e.subData(r, o)})
	}
	if len(e.subs) == 0 || (!force && !r.inPRL(optVendorOpts)) {
		return
	}
	putEncapsulated(p, optVendorOpts, e.subs)
	if !sentVendorClass {
		p.put(optVendorClass, vendorClass)
	}
}
