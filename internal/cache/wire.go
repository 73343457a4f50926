package cache

import (
	"encoding/binary"
)

// Wire-format helpers: the lookup key of a raw query, and the parse of a
// query simple enough for the fast path. Nothing here allocates.

const (
	headerLen = 12
	// optLen is the OPT record dnsd adds to a reply for an EDNS client:
	// root name, type, class (UDP size), TTL (extended rcode, version,
	// flags), empty rdata.
	optLen = 11
	// MaxKeyLen is the longest lookup key: a 255-byte name, type, class.
	MaxKeyLen = 255 + 4
)

// Shape is the form of a query the fast path answers: without EDNS, or
// with a plain OPT record (version 0, no flags, no options). Each shape is
// confirmed separately, because the pipeline treats them differently.
type Shape int

const (
	ShapePlain Shape = iota
	ShapeEDNS
	numShapes
)

// Query is a parsed client query the fast path can answer. ParseQuery
// fills everything but MaxSize and EDNSSize, which are the server's
// decisions.
type Query struct {
	// Key is the question in wire form with the name folded to lower
	// case: labels, type, class. It points into KeyBuf.
	Key []byte
	// Name is the client's question name, as sent (its case is kept in
	// the reply). It points into the query.
	Name []byte
	ID   uint16
	// Flags holds the two header flag bytes of the query.
	Flags [2]byte
	EDNS  bool
	// UDPSize is the client's OPT payload size (EDNS only).
	UDPSize uint16
	// MaxSize is the largest reply the client takes; EDNSSize the payload
	// size dnsd advertises in its OPT record.
	MaxSize  int
	EDNSSize uint16

	KeyBuf [MaxKeyLen]byte
}

// Shape is the query's shape.
func (q *Query) Shape() Shape {
	if q.EDNS {
		return ShapeEDNS
	}
	return ShapePlain
}

// ParseQuery reads a query the fast path may answer: QR clear, opcode
// QUERY, exactly one question with an uncompressed name, no answer or
// authority records, and at most one additional record, which must be a
// plain OPT (root owner, version 0, no flags, no options) ending the
// message. Anything else reports false and goes to the full pipeline.
func ParseQuery(raw []byte, q *Query) bool {
	if len(raw) < headerLen+5 || raw[2]&0xf8 != 0 { // QR, opcode
		return false
	}
	qd := binary.BigEndian.Uint16(raw[4:])
	an := binary.BigEndian.Uint16(raw[6:])
	ns := binary.BigEndian.Uint16(raw[8:])
	ar := binary.BigEndian.Uint16(raw[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return false
	}
	off := headerLen
	for {
		if off >= len(raw) {
			return false
		}
		l := int(raw[off])
		if l == 0 {
			off++
			break
		}
		if l > 63 || off+1+l > len(raw) {
			return false // a pointer, an extended label type or short
		}
		off += 1 + l
		if off-headerLen > 254 { // the name with its root byte > 255
			return false
		}
	}
	nameEnd := off
	if off+4 > len(raw) {
		return false
	}
	off += 4
	keyLen := off - headerLen
	copy(q.KeyBuf[:keyLen], raw[headerLen:off])
	foldASCII(q.KeyBuf[:nameEnd-headerLen])
	q.Key = q.KeyBuf[:keyLen]
	q.Name = raw[headerLen:nameEnd]
	q.ID = binary.BigEndian.Uint16(raw)
	q.Flags = [2]byte{raw[2], raw[3]}
	q.EDNS, q.UDPSize = false, 0
	if ar == 0 {
		return off == len(raw)
	}
	// The OPT record: 0 | 0x0029 | size | ext-rcode version flags(2) | 0x0000.
	if len(raw)-off != optLen || raw[off] != 0 || raw[off+1] != 0 || raw[off+2] != 41 {
		return false
	}
	for _, b := range raw[off+5 : off+11] {
		if b != 0 {
			return false
		}
	}
	q.EDNS = true
	q.UDPSize = binary.BigEndian.Uint16(raw[off+3:])
	return true
}

// foldASCII lower-cases A-Z in place; other bytes (binary labels) stay.
func foldASCII(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// ttlSlot is one record's TTL field in a template and the TTL stored.
// ownerIsQName marks an answer record whose owner name equals the
// question name (case-insensitively): a hit writes it in the case of the
// question being answered, as dnsmasq 2.90 does (it points such owners at
// the question). The owner is the len(question name) bytes ending 4
// bytes (type, class) before off.
type ttlSlot struct {
	off          uint16
	ownerIsQName bool
	ttl          uint32
}

// render writes e's reply for q into dst (reusing its storage) at clock
// second now. It reports false when the reply does not fit q.MaxSize
// uncompressed: the full pipeline then compresses or truncates.
func (e *entry) render(dst []byte, q *Query, now, maxClientTTL uint32) ([]byte, bool) {
	n := len(e.wire)
	if q.EDNS {
		n += optLen
	}
	if n > q.MaxSize {
		return dst, false
	}
	out := append(dst[:0], e.wire...)
	binary.BigEndian.PutUint16(out, q.ID)
	out[2] |= q.Flags[0] & 0x01 // RD
	out[3] |= q.Flags[1] & 0x10 // CD
	copy(out[headerLen:], q.Name)
	e.patchOwners(out, q.Name)
	e.patchTTLs(out, now, maxClientTTL)
	if q.EDNS {
		out = append(out, 0, 0, 41, byte(q.EDNSSize>>8), byte(q.EDNSSize), 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
	}
	return out, true
}

// patchOwners writes name, the question name as the client spelled it
// (wire form, equal to the stored one but for case), over every answer
// owner name that equals the question name.
func (e *entry) patchOwners(out, name []byte) {
	for _, s := range e.ttls {
		if s.ownerIsQName {
			copy(out[int(s.off)-4-len(name):], name)
		}
	}
}

// patchTTLs writes every record's remaining TTL: the stored TTL less the
// time since storing, never below 0, capped at max-ttl; 0 once the entry
// expired (use-stale-cache serves it so, as dnsmasq).
func (e *entry) patchTTLs(out []byte, now, maxClientTTL uint32) {
	elapsed := now - e.stored
	stale := now >= e.expires
	for _, s := range e.ttls {
		ttl := uint32(0)
		if s.ttl > elapsed && !stale {
			ttl = s.ttl - elapsed
		}
		if maxClientTTL != 0 && ttl > maxClientTTL {
			ttl = maxClientTTL
		}
		binary.BigEndian.PutUint32(out[s.off:], ttl)
	}
}

// recordTTLSlots walks a packed, uncompressed message with one question
// and returns a slot for every record's TTL field (answer, authority,
// additional), the TTLs left as they are, or false if the message does
// not parse. Answer records whose owner equals the question name
// (case-insensitively) are marked ownerIsQName.
func recordTTLSlots(msg []byte) ([]ttlSlot, bool) {
	if len(msg) < headerLen || binary.BigEndian.Uint16(msg[4:]) != 1 {
		return nil, false
	}
	an := int(binary.BigEndian.Uint16(msg[6:]))
	rrs := an + int(binary.BigEndian.Uint16(msg[8:])) + int(binary.BigEndian.Uint16(msg[10:]))
	qname := msg[headerLen:]
	off, ok := skipName(msg, headerLen)
	if !ok || off+4 > len(msg) {
		return nil, false
	}
	qname = qname[:off-headerLen]
	off += 4
	out := make([]ttlSlot, 0, rrs)
	for i := range rrs {
		start := off
		if off, ok = skipName(msg, off); !ok || off+10 > len(msg) {
			return nil, false
		}
		owner := msg[start:off]
		out = append(out, ttlSlot{
			off:          uint16(off + 4),
			ownerIsQName: i < an && sameNameFolded(owner, qname),
			ttl:          binary.BigEndian.Uint32(msg[off+4:]),
		})
		rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
		off += 10 + rdlen
		if off > len(msg) {
			return nil, false
		}
	}
	return out, off == len(msg)
}

// sameNameFolded reports whether two uncompressed wire names are equal
// with A-Z folded. Length bytes (at most 63) never fold, so a byte-wise
// comparison is a label-wise one.
func sameNameFolded(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// skipName steps over a name; a compression pointer ends it.
func skipName(msg []byte, off int) (int, bool) {
	for off < len(msg) {
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xc0 == 0xc0:
			return off + 2, off+2 <= len(msg)
		case l > 63:
			return 0, false
		}
		off += 1 + l
	}
	return 0, false
}
