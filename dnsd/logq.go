package dnsd

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// logQueueLen bounds the lines waiting for the writer. A slow stderr (the
// master's pipe) then costs dropped log lines, never slower answers.
const logQueueLen = 4096

// asyncLog writes lines to w from its own goroutine. printf never blocks:
// when the queue is full the line is dropped and counted, and the writer
// reports the loss the way dnsmasq's log-async does ("overflow: N log
// entries lost") once it catches up.
type asyncLog struct {
	ch       chan string
	w        io.Writer
	dropped  atomic.Uint64
	reported uint64 // dropped lines already reported; writer goroutine only
	done     chan struct{}
	once     sync.Once
}

func newAsyncLog(w io.Writer) *asyncLog {
	l := &asyncLog{ch: make(chan string, logQueueLen), w: w, done: make(chan struct{})}
	go l.run()
	return l
}

func (l *asyncLog) run() {
	defer close(l.done)
	var buf []byte
	for line := range l.ch {
		buf = append(buf[:0], line...)
		// Gather what is already queued into one write.
	more:
		for len(buf) < 64<<10 {
			select {
			case next, ok := <-l.ch:
				if !ok {
					break more
				}
				buf = append(buf, next...)
			default:
				break more
			}
		}
		if d := l.dropped.Load(); d > l.reported {
			buf = fmt.Appendf(buf, "overflow: %d log entries lost\n", d-l.reported)
			l.reported = d
		}
		_, _ = l.w.Write(buf)
	}
}

func (l *asyncLog) printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...) + "\n"
	select {
	case l.ch <- line:
	default:
		l.dropped.Add(1)
	}
}

// close flushes what is queued and stops the writer. printf must not be
// called after close.
func (l *asyncLog) close() {
	l.once.Do(func() {
		close(l.ch)
		<-l.done
	})
}

// The functions below produce dnsmasq 2.90's log-queries lines (checked
// against `dnsmasq -d --log-queries[=extra] --log-facility=-`): one line
// for the query, one per record of the answer. With log-queries=extra
// every line of a query starts with its serial number and the client's
// address and port: "7 192.0.2.1/40123 query[A] example.com from
// 192.0.2.1".

// logName is a name as dnsmasq logs it: no trailing dot, "." for the root.
func logName(name string) string {
	if name == "." || name == "" {
		return "."
	}
	return strings.TrimSuffix(name, ".")
}

func logType(t uint16) string {
	if s, ok := dnsmasqTypeNames[t]; ok {
		if s == "" {
			return "type=" + strconv.Itoa(int(t))
		}
		return s
	}
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "type=" + strconv.Itoa(int(t))
}

// dnsmasqTypeNames are where dnsmasq 2.90's type table differs from
// miekg/dns's: names only dnsmasq has, one it spells otherwise, and
// numbers it has no name for ("").
var dnsmasqTypeNames = map[uint16]string{
	11: "WKS", 22: "NSAP", 23: "NSAP_PTR", 38: "A6", 40: "SINK", 259: "DOA",
	0: "", 128: "", 65535: "",
}

func logClient(ap netip.AddrPort) string { return ap.Addr().Unmap().WithZone("").String() }

// logPrefix is the log-queries=extra start of req's lines, "" otherwise.
// The first line logged for a request gives it its serial number.
func (s *Server) logPrefix(req *request) string {
	if !req.st.cfg.filters.logExtra {
		return ""
	}
	if req.filt.logID == 0 {
		req.filt.logID = s.filt.logSerial.Add(1)
	}
	return strconv.FormatUint(uint64(req.filt.logID), 10) + " " + logClient(req.client) + "/" +
		strconv.Itoa(int(req.client.Port())) + " "
}

// logLine writes one line about req.
func (s *Server) logLine(req *request, format string, args ...any) {
	if p := s.logPrefix(req); p != "" {
		s.log.printf("%s"+format, append([]any{p}, args...)...)
		return
	}
	s.log.printf(format, args...)
}

// logQueryLine: "query[A] example.com from 127.0.0.1".
func (s *Server) logQueryLine(req *request) {
	s.logLine(req, "query[%s] %s from %s", logType(req.q.Qtype), logName(req.q.Name), logClient(req.client))
}

// logForwarded: "forwarded example.com to 192.0.2.1" ("#port" when it is
// not 53).
func (s *Server) logForwarded(req *request, up upstream) {
	s.logLine(req, "forwarded %s to %s", logName(req.q.Name), forwardLabel(up.label))
}

// forwardLabel is a server's label as dnsmasq's "forwarded" line has it:
// the address and a port other than 53, without the "(via eth0)" the
// "using nameserver" line shows for server=ip@interface.
func forwardLabel(label string) string {
	if i := strings.Index(label, "(via "); i > 0 && strings.HasSuffix(label, ")") {
		return label[:i]
	}
	return label
}

// logAnswerFor logs an answer the way dnsmasq does; source is "reply",
// "cached", "cached-stale" or "config".
func (s *Server) logAnswerFor(req *request, source string, m *dns.Msg) {
	lines := answerLines(source, req.q, m)
	// dnsmasq names the extended error of an error answer:
	// "config error is REFUSED (EDE: not ready)".
	if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError && req.filt.ede != 0 && len(lines) == 1 {
		lines[0] += " (EDE: " + edeText(req.filt.ede) + ")"
	}
	for _, line := range lines {
		s.logLine(req, "%s", line)
	}
}

// edeTexts are dnsmasq 2.90's names of the RFC 8914 extended errors.
var edeTexts = []string{
	"other", "unsupported DNSKEY algorithm", "unsupported DS digest", "stale answer", "forged",
	"DNSSEC indeterminate", "DNSSEC bogus", "DNSSEC signature expired", "DNSSEC sig not yet valid",
	"DNSKEY missing", "RRSIG missing", "no zone key bit set", "NSEC(3) missing", "cached error",
	"not ready", "blocked", "censored", "filtered", "prohibited", "stale NXDOMAIN",
	"not authoritative", "not supported", "no reachable authority", "network error", "invalid data",
}

func edeText(code uint16) string {
	if int(code) < len(edeTexts) {
		return edeTexts[code]
	}
	return "unknown"
}

// answerLines are dnsmasq's lines for an answer to q:
//
//	NXDOMAIN           "reply www.example is NXDOMAIN" (after the chain's
//	                   CNAME lines: the name that does not exist)
//	other errors       "reply error is SERVFAIL" (REFUSED, "not implemented", else the number)
//	addresses          "reply www.example is 192.0.2.1", one line each
//	TXT                one line per string
//	PTR of an address  "reply 192.0.2.1 is host.example"
//	other records      "reply www.example is <CNAME>", "<MX>", ...
//	no data            "reply www.example is NODATA-IPv4" (-IPv6, or NODATA)
//
// Data is shown only for records of the type asked for; in the answer to
// an ANY query every record is "<TYPE>". When a CNAME chain ends without
// data, the NODATA line names its last target.
func answerLines(source string, q dns.Question, m *dns.Msg) []string {
	var out []string
	line := func(name, what string) { out = append(out, source+" "+name+" is "+what) }
	// dnsmasq writes a record whose owner is the question's name in the
	// question's spelling (0x20 case and all), whatever case the answer
	// has; other owners as they are.
	owner := func(name string) string {
		if strings.EqualFold(name, q.Name) {
			return logName(q.Name)
		}
		return logName(name)
	}
	// A truncated reply from upstream is passed on unread: dnsmasq logs
	// no answer lines for it.
	if m.Truncated && len(m.Answer) == 0 && source == "reply" {
		return nil
	}
	switch m.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		// The CNAMEs on the way, then the name that does not exist.
		last := q.Name
		for _, rr := range m.Answer {
			if c, ok := rr.(*dns.CNAME); ok {
				line(owner(c.Hdr.Name), "<CNAME>")
				last = c.Target
			}
		}
		line(negativeName(source, q, m, last), "NXDOMAIN")
		return out
	default:
		return []string{source + " error is " + rcodeWord(m.Rcode)}
	}
	found := false
	last := q.Name
	for _, rr := range m.Answer {
		h := rr.Header()
		if h.Rrtype == dns.TypeCNAME {
			line(owner(h.Name), "<CNAME>")
			last = rr.(*dns.CNAME).Target
			continue
		}
		if q.Qtype != dns.TypeANY && h.Rrtype == q.Qtype {
			found = true
		}
		// An ANY answer shows types, not data, except for the addresses
		// of local answers (config, a hosts file), which dnsmasq logs
		// record by record as for an A or AAAA query.
		localAddr := source != "reply" && source != "cached" && source != "cached-stale" &&
			(h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA)
		if (q.Qtype == dns.TypeANY && !localAddr) || (q.Qtype != dns.TypeANY && h.Rrtype != q.Qtype) {
			line(owner(h.Name), "<"+logType(h.Rrtype)+">")
			continue
		}
		switch rr := rr.(type) {
		case *dns.A:
			line(owner(h.Name), rr.A.String())
		case *dns.AAAA:
			line(owner(h.Name), rr.AAAA.String())
		case *dns.TXT:
			for _, t := range rr.Txt {
				line(owner(h.Name), t)
			}
		case *dns.PTR:
			if a, ok := parseReverseName(h.Name); ok {
				line(a.String(), logName(rr.Ptr))
			} else {
				line(logName(rr.Ptr), "<PTR>")
			}
		default:
			line(owner(h.Name), "<"+logType(h.Rrtype)+">")
		}
	}
	if len(m.Answer) == 0 || (!found && q.Qtype != dns.TypeANY && q.Qtype != dns.TypeCNAME && len(out) > 0 && last != q.Name) {
		name, word := negativeName(source, q, m, last), nodataWord(q.Qtype)
		if a, ok := logReverse(source, q, m, last); ok {
			// dnsmasq words a reverse name's NODATA by the address family.
			word = nodataWord(dns.TypeA)
			if a.Is6() {
				word = nodataWord(dns.TypeAAAA)
			}
		}
		line(name, word)
	}
	return out
}

// negativeName is how dnsmasq names a name without data: as it is, or
// (logReverse) as the address a reverse name stands for ("reply
// 192.0.2.9 is NXDOMAIN").
func negativeName(source string, q dns.Question, m *dns.Msg, name string) string {
	if a, ok := logReverse(source, q, m, name); ok {
		return a.String()
	}
	return logName(name)
}

// logReverse reads a PTR query's reverse name as dnsmasq's log does when
// it logs the negative answer as the reverse cache entry it makes of it:
// for answers from upstream or the cache that carry an SOA (which gives
// the entry its lifetime); local answers and answers without SOA keep
// the name. The name is a whole in-addr.arpa or ip6.arpa name, or a
// shorter in-addr.arpa name with the missing bytes zero
// (2.0.192.in-addr.arpa is 192.0.2.0).
func logReverse(source string, q dns.Question, m *dns.Msg, name string) (netip.Addr, bool) {
	if q.Qtype != dns.TypePTR || (source != "reply" && source != "cached" && source != "cached-stale") || !hasSOA(m.Ns) {
		return netip.Addr{}, false
	}
	if a, ok := parseReverseName(name); ok {
		return a, true
	}
	rest, ok := strings.CutSuffix(strings.ToLower(strings.TrimSuffix(name, ".")), ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	labels := strings.Split(rest, ".")
	if len(labels) > 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, l := range labels {
		n, err := strconv.ParseUint(l, 10, 8)
		if err != nil || l == "" || (len(l) > 1 && l[0] == '0') {
			return netip.Addr{}, false
		}
		b[len(labels)-1-i] = byte(n)
	}
	return netip.AddrFrom4(b), true
}

// rcodeWord is how dnsmasq names an error rcode in its log.
func rcodeWord(rcode int) string {
	switch rcode {
	case dns.RcodeServerFailure:
		return "SERVFAIL"
	case dns.RcodeRefused:
		return "REFUSED"
	case dns.RcodeNotImplemented:
		return "not implemented"
	}
	return strconv.Itoa(rcode)
}

func nodataWord(qtype uint16) string {
	switch qtype {
	case dns.TypeA:
		return "NODATA-IPv4"
	case dns.TypeAAAA:
		return "NODATA-IPv6"
	}
	return "NODATA"
}

func hasSOA(rrs []dns.RR) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeSOA {
			return true
		}
	}
	return false
}
