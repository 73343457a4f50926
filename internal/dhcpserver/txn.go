package dhcpserver

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"

	"github.com/moatdns/moat/internal/leases"
)

// Transaction is what one request carried beyond its lease: the data
// dnsmasq 2.90 keeps for its dhcp-script (rfc2131.c, the "extradata" of
// a lease) and passes on the "add" of a new lease and on the "old" of a
// client that asks anew for the lease it holds. The client's strings are
// its bytes, each cut at the first NUL as dnsmasq cuts them, and at most
// maxTxnText long; the caller owns every slice.
type Transaction struct {
	Addr      netip.Addr // the lease the request made or asked for again
	Interface string     // where the request arrived (a relay's too)
	// Tags are the tags of the exchange in dnsmasq's order (its netid
	// chain after tag-if, front first, each once).
	Tags             []string
	SuppliedHostname []byte   // option 12 as sent
	VendorClass      []byte   // option 60
	UserClasses      [][]byte // option 77, split as dnsmasq splits it
	RequestedOptions []byte   // option 55 as sent (every byte)
	RelayAddr        netip.Addr
	// Relay agent sub-options of option 82: circuit id (1), remote id
	// (2), subscriber id (6).
	CircuitID, RemoteID, SubscriberID []byte
	MUDURL                            []byte // option 161
	// The TR-069 identity in option 125 (enterprise 3561): device OUI,
	// serial number and product class.
	CPEWANOUI, CPEWANSerial, CPEWANClass []byte
}

// Bounds that keep a Transaction within what the master accepts
// (ipc/validate_txn.go): one option's worth per string.
const (
	maxTxnText    = 255
	maxTxnTags    = 256
	maxTxnClasses = 128
)

const (
	optMUDURL     = 161
	subSubscriber = 6 // RFC 3993
)

// wantsTxn is dnsmasq's do_classes: a REQUEST that names its address
// (SELECTING or INIT-REBOOT: option 50), or any grant that makes a new
// lease. A renewal (ciaddr only) of the lease the client holds has
// none, and dnsmasq calls no script for it.
func wantsTxn(r *request, yiaddr netip.Addr, a ackArgs) bool {
	return (!a.rapid && r.hasRequested) || !r.ownsAt(yiaddr)
}

// transaction collects the request's data for the script. setTag is the
// address range's set: tag (dnsmasq puts it in front of the chain).
func (e *Engine) transaction(r *request, yiaddr netip.Addr, setTag string) *Transaction {
	t := &Transaction{
		Addr: yiaddr, Interface: r.in.Interface.Name, Tags: e.scriptTags(setTag),
		SuppliedHostname: r.txnOpt(optHostname), VendorClass: r.txnOpt(optVendorClass),
		RelayAddr: r.giaddr, MUDURL: r.txnOpt(optMUDURL),
	}
	if b, ok := r.opt(optPRL, 1); ok {
		// Every byte, 0 and 255 too: dnsmasq prints the whole option.
		t.RequestedOptions = bytes.Clone(b[:min(len(b), maxTxnText)])
	}
	if b, ok := r.opt(optUserClass, 1); ok {
		t.UserClasses = userClasses(b)
	}
	if r.agentID != nil {
		t.CircuitID = subText(r.agentID, subCircuitID)
		t.RemoteID = subText(r.agentID, subRemoteID)
		t.SubscriberID = subText(r.agentID, subSubscriber)
	}
	if b, ok := r.opt(optVIVendorOpts, 5); ok {
		if data, ok := cpewanData(b); ok {
			t.CPEWANOUI, t.CPEWANSerial, t.CPEWANClass = subText(data, 1), subText(data, 2), subText(data, 3)
		}
	}
	return t
}

// txnOpt is an option's data as dnsmasq keeps it: up to the first NUL;
// nil when absent or empty.
func (r *request) txnOpt(code uint8) []byte {
	b, _ := r.opt(code, 1)
	return txnText(b)
}

func subText(b []byte, code uint8) []byte {
	s, _ := subOption(b, code, 1)
	return txnText(s)
}

// txnText cuts b at its first NUL (dnsmasq's lease_add_extradata) and
// at maxTxnText bytes (dnsmasq reads one option, which holds no more),
// and copies it.
func txnText(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b[:min(len(b), maxTxnText)])
}

// userClasses splits option 77 as dnsmasq does for the script: an
// RFC 3004 option (counted strings that add up) has its counts turned
// into NULs, a leading NUL is dropped, and the rest splits at every NUL
// into the classes DNSMASQ_USER_CLASS0..n (an empty one sets no
// variable but keeps its number).
func userClasses(b []byte) [][]byte {
	flat := flattenUserClass(b[:min(len(b), maxTxnText)], nil)
	if len(flat) > 0 && flat[0] == 0 {
		flat = flat[1:]
	}
	parts := bytes.Split(flat, []byte{0})
	if len(parts) > maxTxnClasses {
		parts = parts[:maxTxnClasses]
	}
	return parts // flat is a copy: the parts are the caller's
}

// cpewanData is the Broadband Forum's part of option 125, as dnsmasq
// finds it (the first enterprise 3561 entry).
func cpewanData(b []byte) ([]byte, bool) {
	for off := 0; off+5 <= len(b); {
		n := int(b[off+4])
		if off+5+n > len(b) {
			return nil, false
		}
		if binary.BigEndian.Uint32(b[off:]) == enterpriseBroadbandForum {
			return b[off+5 : off+5+n], true
		}
		off += 5 + n
	}
	return nil, false
}

// scriptTags is DNSMASQ_TAGS's list in dnsmasq's order. dnsmasq puts
// every tag at the front of a chain: the request's tags as they were
// set, the range's set: tag, then tag-if's, rule by rule; of a tag on
// the chain twice it keeps the one further back (set first). So: the
// first setting of each tag, newest first.
func (e *Engine) scriptTags(setTag string) []string {
	seq := slices.Clone(e.tags.order)
	set := leases.TagSet{}
	for _, tag := range seq {
		set[tag] = true
	}
	if setTag != "" {
		seq = append(seq, setTag)
		set[setTag] = true
	}
	for _, rule := range e.c.tagIfs {
		if leases.MatchTagsWild(rule.If, set) {
			for _, s := range rule.Set {
				seq = append(seq, s)
				set[s] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	seen := make(map[string]bool, len(set))
	for _, tag := range seq {
		// A tag the master could not take (ipc/validate_txn.go) is left
		// out rather than cost the client its ACK.
		if seen[tag] || tag == "" || len(tag) > maxTxnText || strings.IndexByte(tag, 0) >= 0 {
			continue
		}
		seen[tag] = true
		out = append(out, tag)
	}
	slices.Reverse(out)
	if len(out) > maxTxnTags {
		out = out[:maxTxnTags]
	}
	return out
}
