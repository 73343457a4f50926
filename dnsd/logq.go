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
// when the queue is full the line is dropped and counted.
type asyncLog struct {
	ch      chan string
	w       io.Writer
	dropped atomic.Uint64
	done    chan struct{}
	once    sync.Once
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

// The helpers below produce dnsmasq 2.90's log-queries lines (checked
// against `dnsmasq -d -q --log-facility=-`).

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

// logQuery: "query[A] example.com from 127.0.0.1".
func (l *asyncLog) logQuery(q dns.Question, client netip.AddrPort) {
	l.printf("query[%s] %s from %s", logType(q.Qtype), logName(q.Name), logClient(client))
}

// logAnswer logs an answer the way dnsmasq does, one line per record:
// prefix is "reply", "cached" or "config"; negative answers are
// "NXDOMAIN", "NODATA-IPv4", "NODATA-IPv6" or "NODATA".
func (l *asyncLog) logAnswer(prefix string, q dns.Question, m *dns.Msg) {
	switch m.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		l.printf("%s %s is NXDOMAIN", prefix, logName(q.Name))
		return
	default:
		l.printf("%s error is %s", prefix, dns.RcodeToString[m.Rcode])
		return
	}
	logged := false
	for _, rr := range m.Answer {
		h := rr.Header()
		switch rr := rr.(type) {
		case *dns.A:
			l.printf("%s %s is %s", prefix, logName(h.Name), rr.A)
		case *dns.AAAA:
			l.printf("%s %s is %s", prefix, logName(h.Name), rr.AAAA)
		case *dns.PTR:
			l.printf("%s %s is %s", prefix, reverseLogName(h.Name), logName(rr.Ptr))
		case *dns.TXT:
			l.printf("%s %s is %s", prefix, logName(h.Name), strings.Join(rr.Txt, ""))
		default:
			l.printf("%s %s is <%s>", prefix, logName(h.Name), logType(h.Rrtype))
		}
		logged = true
	}
	if !logged {
		l.printf("%s %s is %s", prefix, logName(q.Name), nodataWord(q.Qtype))
	}
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

// reverseLogName shows a reverse name as the address it stands for, as
// dnsmasq does ("reply 1.2.3.4 is a.example").
func reverseLogName(name string) string {
	if a, ok := parseReverseName(name); ok {
		return a.String()
	}
	return logName(name)
}
