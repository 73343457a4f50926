package dhcpserver

import (
	"bytes"
	"encoding/binary"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/dhcpopts"
	"github.com/moatdns/moat/internal/leases"
)

// Tags set by the server itself.
const (
	tagKnown         = "known"
	tagKnownOthernet = "known-othernet"
	tagBOOTP         = "bootp"
	tagCPEWAN        = "cpewan-id"
)

// enterpriseBroadbandForum is BRDBAND_FORUM_IANA, whose TR-069 device
// identity (option 125) dnsmasq marks with the tag cpewan-id.
const enterpriseBroadbandForum = 3561

// tagSets holds the tags of one exchange: base is dnsmasq's netid chain
// (interface, relay and class matches, dhcp-host set:, known), tagif the
// same after tag-if. The maps are the engine's, cleared per request.
type tagSets struct {
	base  leases.TagSet
	tagif leases.TagSet
	// order is every add to base, in turn (repeats too): dnsmasq's chain
	// in reverse, for DNSMASQ_TAGS (txn.go).
	order []string
}

func newTagSets() tagSets {
	return tagSets{base: leases.TagSet{}, tagif: leases.TagSet{}}
}

func (t *tagSets) reset() {
	clear(t.base)
	clear(t.tagif)
	t.order = t.order[:0]
}

// add sets tag, as dnsmasq puts a tag at the front of its netid chain.
func (t *tagSets) add(tag string) {
	t.base[tag] = true
	t.order = append(t.order, tag)
}

// runTagIf recomputes tagif from base (and extra, the range's set: tag,
// when it is known).
func (e *Engine) runTagIf(t *tagSets, extra string) {
	clear(t.tagif)
	for k := range t.base {
		t.tagif[k] = true
	}
	if extra != "" {
		t.tagif[extra] = true
	}
	leases.RunTagIf(e.c.tagIfs, t.tagif)
}

// classTags adds the tags that the request's options earn, in dnsmasq's
// order: the interface, TR-069 identity, relay agent circuit and remote
// ids, dhcp-mac, dhcp-match, then vendor and user classes.
func (e *Engine) classTags(r *request, t *tagSets) {
	t.add(r.in.Interface.Name)
	if r.msgType != 0 {
		if b, ok := r.opt(optVIVendorOpts, 5); ok && hasCPEWANIdentity(b) {
			t.add(tagCPEWAN)
		}
		if r.agentID != nil {
			for _, m := range e.c.classes {
				code := uint8(subCircuitID)
				switch m.Kind {
				case config.CircuitID:
				case config.RemoteID:
					code = subRemoteID
				default:
					continue
				}
				if s, ok := subOption(r.agentID, code, 1); ok && bytes.Equal(s, m.Data) {
					t.add(m.Tag)
				}
			}
		}
	}
	for _, m := range e.c.macs {
		if m.Addr.Matches(r.htype, r.chaddr) {
			t.add(m.Tag)
		}
	}
	for i := range e.c.matches {
		if e.matchOption(r, &e.c.matches[i]) {
			t.base[e.c.matches[i].Tags[0]] = true
		}
	}
	for _, m := range e.c.classes {
		var code uint8
		switch m.Kind {
		case config.VendorClass:
			code = optVendorClass
		case config.UserClass:
			code = optUserClass
		default:
			continue
		}
		b, ok := r.opt(code, 1)
		if !ok {
			continue
		}
		if code == optUserClass {
			b = flattenUserClass(b, e.scratchUC[:0])
			e.scratchUC = b
		}
		if bytes.Contains(b, m.Data) {
			t.add(m.Tag)
		}
	}
}

// hasCPEWANIdentity reports whether option 125 carries the Broadband
// Forum's device OUI (sub-option 1) and serial number (2).
func hasCPEWANIdentity(b []byte) bool {
	for off := 0; off+5 <= len(b); {
		ent := binary.BigEndian.Uint32(b[off:])
		n := int(b[off+4])
		if off+5+n > len(b) {
			return false
		}
		if ent == enterpriseBroadbandForum {
			data := b[off+5 : off+5+n]
			_, oui := subOption(data, 1, 1)
			_, serial := subOption(data, 2, 1)
			return oui && serial
		}
		off += 5 + n
	}
	return false
}

// flattenUserClass is what dnsmasq matches user classes against: an
// RFC 3004 option (counted strings that add up) with its counts zeroed,
// so that they cannot take part in a match; anything else as sent.
func flattenUserClass(b, buf []byte) []byte {
	j := 0
	for j < len(b) {
		j += int(b[j]) + 1
	}
	buf = append(buf, b...)
	if j != len(b) {
		return buf
	}
	for j = 0; j < len(buf); {
		n := int(buf[j]) + 1
		buf[j] = 0
		j += n
	}
	return buf
}

// matchOption is one dhcp-match: the option is present with at least one
// byte (any value matches when none is given), or for "vi-encap:<n>" an
// RFC 3925 vendor class of that enterprise carries a matching class.
func (e *Engine) matchOption(r *request, m *dhcpopts.Spec) bool {
	if m.NoOption {
		b, ok := r.opt(optVIVendor, 5)
		if !ok {
			return false
		}
		for off := 0; off+5 <= len(b); {
			n := int(b[off+4])
			if off+5+n > len(b) {
				return false
			}
			if binary.BigEndian.Uint32(b[off:]) == m.Enterprise {
				data := b[off+5 : off+5+n]
				for i := 0; i < len(data); {
					l := int(data[i])
					if i+1+l > len(data) {
						break
					}
					if m.Encoded.Matches(data[i+1 : i+1+l]) {
						return true
					}
					i += 1 + l
				}
				return false
			}
			off += 5 + n
		}
		return false
	}
	b, ok := r.opt(m.Code, 1)
	return ok && m.Encoded.Matches(b)
}

// matchAny reports whether one of a list of tag filters holds: an empty
// filter always (dhcp-ignore-names, dhcp-generate-names and
// dhcp-broadcast without tags apply to every client).
func matchAny(lists []config.Tags, set leases.TagSet) bool {
	for _, l := range lists {
		if len(l) == 0 || leases.MatchTags(l, set, false) {
			return true
		}
	}
	return false
}

// matchAll is dhcp-ignore's test: one entry whose tags are all set.
func matchAll(lists []config.Tags, set leases.TagSet) bool {
	for _, l := range lists {
		if leases.MatchTags(l, set, false) {
			return true
		}
	}
	return false
}
