package dnsd

import (
	"fmt"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	"github.com/moatdns/moat/internal/cache"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// The SIGUSR1 cache dump (with log-queries, as dnsmasq 2.90's dump_cache):
// one line per cached record, "name data flags expires". moat caches
// whole answers, dnsmasq single records; the dump turns each answer back
// into the records dnsmasq would hold for it:
//
//	A / AAAA             "4F" / "6F", the address
//	CNAME                "CF", the target
//	PTR of an address    the target name with the address, "4 R" / "6 R"
//	other types          "<TYPE>", "TF" (dnsmasq's cache-rr records)
//	NODATA               the question's type letter, "F", "N"
//	NXDOMAIN             no type letter, "F", "N", "X"
//	SOA of either        "<SOA>", "TF"
//
// Local data (hosts files, host-record, address=) is not in moat's cache,
// so the dump has no "I" (immortal) lines; see docs/compatibility.md.

const (
	// maxDumpEntries bounds the dump of a very large cache.
	maxDumpEntries = 100000
	// dumpChunkBytes keeps every StatsReport well under
	// ipc.MaxMessageSize.
	dumpChunkBytes = 48 << 10
)

// dumpFlags are dnsmasq's ten flag columns: type, F(orward), R(everse),
// I(mmortal), D(HCP), N(egative), X (NXDOMAIN), H(osts), C(onfig),
// V(alidated).
type dumpFlags struct {
	typ                byte
	forward, reverse   bool
	negative, nxdomain bool
}

func (f dumpFlags) String() string {
	b := []byte("          ")
	b[0] = f.typ
	set := func(i int, on bool, c byte) {
		if on {
			b[i] = c
		}
	}
	set(1, f.forward, 'F')
	set(2, f.reverse, 'R')
	set(5, f.negative, 'N')
	set(6, f.nxdomain, 'X')
	return string(b)
}

func typeLetter(t uint16) byte {
	switch t {
	case dns.TypeA:
		return '4'
	case dns.TypeAAAA:
		return '6'
	case dns.TypeCNAME:
		return 'C'
	}
	return 'T'
}

// cacheDump lists the cached records, without duplicates (two answers
// may hold the same record: a name and a CNAME chain ending at it).
func cacheDump(c *cache.Cache) []*ipcpb.CacheDumpEntry {
	if c == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []*ipcpb.CacheDumpEntry
	add := func(name, data string, f dumpFlags, expires time.Time) {
		e := &ipcpb.CacheDumpEntry{Name: logName(name), Data: data, Flags: f.String(), Expires: expires.Unix()}
		key := e.Name + "\x00" + e.Data + "\x00" + e.Flags
		if !seen[key] && len(out) < maxDumpEntries {
			seen[key] = true
			out = append(out, e)
		}
	}
	for _, d := range c.Dump(maxDumpEntries) {
		m := new(dns.Msg)
		if err := m.Unpack(d.Wire); err != nil || len(m.Question) != 1 {
			continue
		}
		q := m.Question[0]
		// The stored TTLs count from when the answer was stored, which
		// is the entry's expiry less its lifetime: records expire at
		// most that late.
		for _, rr := range m.Answer {
			h := rr.Header()
			expires := d.Expires
			switch rr := rr.(type) {
			case *dns.A:
				add(h.Name, rr.A.String(), dumpFlags{typ: '4', forward: true}, expires)
			case *dns.AAAA:
				add(h.Name, rr.AAAA.String(), dumpFlags{typ: '6', forward: true}, expires)
			case *dns.CNAME:
				add(h.Name, logName(rr.Target), dumpFlags{typ: 'C', forward: true}, expires)
			case *dns.PTR:
				if a, ok := parseReverseName(h.Name); ok {
					typ := byte('4')
					if a.Is6() && !a.Is4In6() {
						typ = '6'
					}
					add(rr.Ptr, a.String(), dumpFlags{typ: typ, reverse: true}, expires)
					continue
				}
				add(h.Name, "<PTR>", dumpFlags{typ: 'T', forward: true}, expires)
			default:
				add(h.Name, "<"+logType(h.Rrtype)+">", dumpFlags{typ: 'T', forward: true}, expires)
			}
		}
		// NODATA and NXDOMAIN, directly or at the end of a CNAME chain,
		// are negative entries of the last name.
		if q.Qtype != dns.TypeCNAME && !answersType(m, q.Qtype) {
			last := q.Name
			for _, rr := range m.Answer {
				if c, ok := rr.(*dns.CNAME); ok {
					last = c.Target
				}
			}
			// An NXDOMAIN entry covers every type: no type letter.
			typ := typeLetter(q.Qtype)
			if d.Rcode == dns.RcodeNameError {
				typ = ' '
			}
			add(last, "", dumpFlags{typ: typ, forward: true, negative: true, nxdomain: d.Rcode == dns.RcodeNameError}, d.Expires)
			// dnsmasq keeps the SOA of a negative answer too.
			for _, rr := range m.Ns {
				if rr.Header().Rrtype == dns.TypeSOA {
					add(rr.Header().Name, "<SOA>", dumpFlags{typ: 'T', forward: true}, d.Expires)
				}
			}
		}
	}
	return out
}

// answersType reports whether m's answer holds a record of type t.
func answersType(m *dns.Msg, t uint16) bool {
	for _, rr := range m.Answer {
		if rr.Header().Rrtype == t || t == dns.TypeANY {
			return true
		}
	}
	return false
}

// sendDump sends the cache dump after the report r (which it fills
// first): as many StatsReports with r's id as the size cap needs.
func sendDump(conn *ipc.Conn, r *ipcpb.StatsReport, dump []*ipcpb.CacheDumpEntry) error {
	cur := r
	size := proto.Size(r)
	for _, e := range dump {
		n := proto.Size(e) + 8
		if size+n > dumpChunkBytes && len(cur.CacheDump) > 0 {
			cur.DumpContinues = true
			if err := sendReport(conn, cur); err != nil {
				return err
			}
			cur = &ipcpb.StatsReport{Id: r.GetId(), DumpCache: true}
			size = proto.Size(cur)
		}
		cur.CacheDump = append(cur.CacheDump, e)
		size += n
	}
	return sendReport(conn, cur)
}

func sendReport(conn *ipc.Conn, r *ipcpb.StatsReport) error {
	if err := conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_StatsReport{StatsReport: r}}); err != nil {
		return fmt.Errorf("send stats report: %w", err)
	}
	return nil
}
