// Package dnsdiff is the differential-testing toolkit of moat's end-to-end
// tests: a compact query language ("+tcp www.example.test AAAA"), a
// canonical form of a DNS reply that two servers' answers can be compared
// in (sections as sets, TTLs by rule), the comparison with a side-by-side
// report, and a small programmable upstream server that answers from a
// zone file and records what it was asked. The test package drives moatd
// and dnsmasq with it; the difftool command runs it inside a network
// namespace.
package dnsdiff

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Query is one client query of a scenario, parsed from its spec string.
// The spec is "[+option ...] NAME [TYPE] [CLASS]" in any order of options:
//
//	+tcp            send over TCP (default UDP)
//	+norec          clear RD (default set)
//	+cd, +ad        set CD / AD
//	+qr             set QR (a "response" sent to a server port)
//	+opcode=X       opcode by name (QUERY, IQUERY, STATUS, NOTIFY, UPDATE) or number
//	+edns[=SIZE]    add an OPT record (default size 1232)
//	+ednsver=N      EDNS version N (implies +edns)
//	+do             set the DO bit (implies +edns)
//	+ednsopt=C[:HEX] add EDNS option code C with data HEX (implies +edns)
//	+noquestion     send no question (QDCOUNT 0)
//	+ttl=exact|any|N  how TTLs are compared (default: within 1 second)
//	+noupstream     do not compare what the upstream servers were asked
//	+from=IP        send from this source address (a client on another network)
//	+srcport[=LO-HI]  compare the source port the upstream saw: exactly, or
//	                only whether it lies in LO-HI (query-port, min-port, max-port)
//	+srcaddr        compare the source address the upstream saw (the server's
//	                own listen address reads "self")
//	+copies=N       send N copies at once, from N sockets (in-flight
//	                de-duplication); the first reply is compared, and all
//	                must say the same
//
// TYPE defaults to A and CLASS to IN; both take mnemonics or TYPEnnn /
// CLASSnnn.
type Query struct {
	Spec        string
	Name        string
	Type        uint16
	Class       uint16
	TCP         bool
	NoRD        bool
	CD, AD, QR  bool
	Opcode      int
	EDNS        bool
	UDPSize     uint16
	EDNSVersion uint8
	DO          bool
	EDNSOptions []EDNSOption
	NoQuestion  bool

	// From is the client's source address; zero for the system's choice.
	From netip.Addr

	// Comparison rules; not sent.
	TTL            TTLRule
	IgnoreUpstream bool
	// SourcePort: compare the upstream query's source port, exactly or
	// (PortRange set) only whether it lies in PortRange. SourceAddr:
	// compare its source address.
	SourcePort bool
	PortRange  [2]uint16
	SourceAddr bool
	// Copies > 1 sends that many copies of the query at once.
	Copies int
}

// EDNSOption is a raw EDNS option to send.
type EDNSOption struct {
	Code uint16
	Data []byte
}

// TTLRule says how the TTLs of two replies are compared.
type TTLRule struct {
	Ignore    bool
	Tolerance uint32 // largest accepted difference in seconds
}

// DefaultTTLRule tolerates one second: the two servers are asked a few
// milliseconds apart, and a cached TTL may cross a second boundary
// between the two answers.
var DefaultTTLRule = TTLRule{Tolerance: 1}

// DefaultUDPSize is the EDNS size +edns sends without a value (the DNS
// flag day 2020 figure, and dnsmasq's default edns-packet-max).
const DefaultUDPSize = 1232

var opcodeNames = map[string]int{
	"QUERY": dns.OpcodeQuery, "IQUERY": dns.OpcodeIQuery, "STATUS": dns.OpcodeStatus,
	"NOTIFY": dns.OpcodeNotify, "UPDATE": dns.OpcodeUpdate,
}

// ParseQuery parses a query spec (see Query).
func ParseQuery(spec string) (Query, error) {
	q := Query{Spec: spec, Type: dns.TypeA, Class: dns.ClassINET, TTL: DefaultTTLRule, UDPSize: DefaultUDPSize}
	var words []string
	for _, f := range strings.Fields(spec) {
		opt, isOpt := strings.CutPrefix(f, "+")
		if !isOpt {
			words = append(words, f)
			continue
		}
		if err := q.setOption(opt); err != nil {
			return Query{}, fmt.Errorf("query %q: +%s: %w", spec, opt, err)
		}
	}
	if len(words) == 0 && !q.NoQuestion {
		return Query{}, fmt.Errorf("query %q: no name", spec)
	}
	if len(words) > 3 {
		return Query{}, fmt.Errorf("query %q: want NAME [TYPE] [CLASS], got %d words", spec, len(words))
	}
	if len(words) > 0 {
		q.Name = dns.Fqdn(words[0])
		if _, ok := dns.IsDomainName(q.Name); !ok {
			return Query{}, fmt.Errorf("query %q: %q is not a domain name", spec, words[0])
		}
	}
	for _, w := range words[min(1, len(words)):] {
		if t, ok := parseType(w); ok {
			q.Type = t
		} else if c, ok := parseClass(w); ok {
			q.Class = c
		} else {
			return Query{}, fmt.Errorf("query %q: %q is neither a type nor a class", spec, w)
		}
	}
	return q, nil
}

func (q *Query) setOption(opt string) error {
	key, val, hasVal := strings.Cut(opt, "=")
	switch key {
	case "tcp":
		q.TCP = true
	case "norec":
		q.NoRD = true
	case "cd":
		q.CD = true
	case "ad":
		q.AD = true
	case "qr":
		q.QR = true
	case "noquestion":
		q.NoQuestion = true
	case "noupstream":
		q.IgnoreUpstream = true
	case "from":
		a, err := netip.ParseAddr(val)
		if err != nil {
			return fmt.Errorf("source address: %w", err)
		}
		q.From = a
	case "srcaddr":
		q.SourceAddr = true
	case "copies":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > 100 {
			return fmt.Errorf("want 1 to 100 copies, got %q", val)
		}
		q.Copies = n
	case "srcport":
		q.SourcePort = true
		if hasVal {
			loText, hiText, _ := strings.Cut(val, "-")
			lo, err1 := strconv.ParseUint(loText, 10, 16)
			hi, err2 := strconv.ParseUint(hiText, 10, 16)
			if err1 != nil || err2 != nil || lo > hi {
				return fmt.Errorf("want a port range LO-HI, got %q", val)
			}
			q.PortRange = [2]uint16{uint16(lo), uint16(hi)}
		}
	case "do":
		q.EDNS, q.DO = true, true
	case "edns":
		q.EDNS = true
		if hasVal {
			n, err := strconv.ParseUint(val, 10, 16)
			if err != nil {
				return fmt.Errorf("size: %w", err)
			}
			q.UDPSize = uint16(n)
		}
	case "ednsver":
		n, err := strconv.ParseUint(val, 10, 8)
		if err != nil {
			return fmt.Errorf("version: %w", err)
		}
		q.EDNS, q.EDNSVersion = true, uint8(n)
	case "ednsopt":
		codeText, dataText, _ := strings.Cut(val, ":")
		code, err := strconv.ParseUint(codeText, 10, 16)
		if err != nil {
			return fmt.Errorf("option code: %w", err)
		}
		data, err := hex.DecodeString(dataText)
		if err != nil {
			return fmt.Errorf("option data: %w", err)
		}
		q.EDNS = true
		q.EDNSOptions = append(q.EDNSOptions, EDNSOption{Code: uint16(code), Data: data})
	case "opcode":
		if n, ok := opcodeNames[strings.ToUpper(val)]; ok {
			q.Opcode = n
			return nil
		}
		n, err := strconv.ParseUint(val, 10, 4)
		if err != nil {
			return fmt.Errorf("opcode %q: not a name or a number 0-15", val)
		}
		q.Opcode = int(n)
	case "ttl":
		switch val {
		case "exact":
			q.TTL = TTLRule{}
		case "any":
			q.TTL = TTLRule{Ignore: true}
		default:
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return fmt.Errorf("want exact, any or a number of seconds: %w", err)
			}
			q.TTL = TTLRule{Tolerance: uint32(n)}
		}
	default:
		return fmt.Errorf("unknown option")
	}
	return nil
}

func parseType(s string) (uint16, bool) {
	if t, ok := dns.StringToType[strings.ToUpper(s)]; ok {
		return t, true
	}
	if n, ok := strings.CutPrefix(strings.ToUpper(s), "TYPE"); ok {
		v, err := strconv.ParseUint(n, 10, 16)
		return uint16(v), err == nil
	}
	return 0, false
}

func parseClass(s string) (uint16, bool) {
	if c, ok := dns.StringToClass[strings.ToUpper(s)]; ok {
		return c, true
	}
	if n, ok := strings.CutPrefix(strings.ToUpper(s), "CLASS"); ok {
		v, err := strconv.ParseUint(n, 10, 16)
		return uint16(v), err == nil
	}
	return 0, false
}

// Msg builds the message to send, with the given ID.
func (q Query) Msg(id uint16) *dns.Msg {
	m := &dns.Msg{}
	m.Id = id
	m.Opcode = q.Opcode
	m.RecursionDesired = !q.NoRD
	m.CheckingDisabled = q.CD
	m.AuthenticatedData = q.AD
	m.Response = q.QR
	if !q.NoQuestion {
		m.Question = []dns.Question{{Name: q.Name, Qtype: q.Type, Qclass: q.Class}}
	}
	if q.EDNS {
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		opt.SetUDPSize(q.UDPSize)
		opt.SetVersion(q.EDNSVersion)
		if q.DO {
			opt.SetDo()
		}
		for _, o := range q.EDNSOptions {
			opt.Option = append(opt.Option, &dns.EDNS0_LOCAL{Code: o.Code, Data: o.Data})
		}
		m.Extra = append(m.Extra, opt)
	}
	return m
}
