package dnsdiff

import (
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// LoopDirective, a line of its own in a zone's text, makes the upstream
// send every loop probe it gets (dnsmasq's dns-loop-detect query, TXT
// "<8 hex digits>.test") back to port 53 of the address it came from, as
// an upstream that forwards to the server itself would. Other questions
// are answered from the zone, so that a server that fails to detect the
// loop cannot make queries circle for ever; each probe name goes back at
// most maxLoopBacks times.
const LoopDirective = "$LOOP"

const maxLoopBacks = 2

var loopProbeName = regexp.MustCompile(`^[0-9a-f]{8}\.test\.$`)

func cutLoopDirective(text string) (string, bool) {
	found := false
	lines := strings.Split(text, "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.TrimSpace(l) == LoopDirective {
			found = true
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n"), found
}

// loopBack sends a loop probe back where it came from and relays the
// reply, if any. It reports false for queries that are not probes.
func (u *Upstream) loopBack(w dns.ResponseWriter, req *dns.Msg) bool {
	if len(req.Question) != 1 || req.Question[0].Qtype != dns.TypeTXT ||
		!loopProbeName.MatchString(strings.ToLower(req.Question[0].Name)) {
		return false
	}
	name := strings.ToLower(req.Question[0].Name)
	u.mu.Lock()
	if u.looped == nil {
		u.looped = map[string]int{}
	}
	u.looped[name]++
	n := u.looped[name]
	u.mu.Unlock()
	if n > maxLoopBacks {
		return true // dropped: the server did not stop the loop
	}
	host, _, err := net.SplitHostPort(w.RemoteAddr().String())
	if err != nil {
		return true
	}
	c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	fwd := req.Copy()
	fwd.Id = dns.Id()
	if r, _, err := c.Exchange(fwd, net.JoinHostPort(host, "53")); err == nil {
		r.Id = req.Id
		_ = w.WriteMsg(r)
	}
	return true
}
