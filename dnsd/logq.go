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
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "type=" + strconv.Itoa(int(t))
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
	s.logLine(req, "forwarded %s to %s", logName(req.q.Name), up.label)
}

// logAnswerFor logs an answer the way dnsmasq does; source is "reply",
// "cached", "cached-stale" or "config".
func (s *Server) logAnswerFor(req *request, source string, m *dns.Msg) {
	for _, line := range answerLines(source, req.q, m) {
		s.logLine(req, "%s", line)
	}
}

// answerLines are dnsmasq's lines for an answer to q:
//
//	NXDOMAIN           "reply www.example is NXDOMAIN"
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
	switch m.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return []string{source + " " + logName(q.Name) + " is NXDOMAIN"}
	default:
		return []string{source + " error is " + rcodeWord(m.Rcode)}
	}
	var out []string
	line := func(name, what string) { out = append(out, source+" "+name+" is "+what) }
	found := false
	last := q.Name
	for _, rr := range m.Answer {
		h := rr.Header()
		if h.Rrtype == dns.TypeCNAME {
			line(logName(h.Name), "<CNAME>")
			last = rr.(*dns.CNAME).Target
			continue
		}
		if q.Qtype != dns.TypeANY && h.Rrtype == q.Qtype {
			found = true
		}
		if q.Qtype == dns.TypeANY || h.Rrtype != q.Qtype {
			line(logName(h.Name), "<"+logType(h.Rrtype)+">")
			continue
		}
		switch rr := rr.(type) {
		case *dns.A:
			line(logName(h.Name), rr.A.String())
		case *dns.AAAA:
			line(logName(h.Name), rr.AAAA.String())
		case *dns.TXT:
			for _, t := range rr.Txt {
				line(logName(h.Name), t)
			}
		case *dns.PTR:
			if a, ok := parseReverseName(h.Name); ok {
				line(a.String(), logName(rr.Ptr))
			} else {
				line(logName(rr.Ptr), "<PTR>")
			}
		default:
			line(logName(h.Name), "<"+logType(h.Rrtype)+">")
		}
	}
	if len(m.Answer) == 0 || (!found && q.Qtype != dns.TypeANY && q.Qtype != dns.TypeCNAME && len(out) > 0 && last != q.Name) {
		line(logName(last), nodataWord(q.Qtype))
	}
	return out
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
