package dnsd

import (
	"math"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// clientAllowed is local-service: with "net", only clients on a directly
// connected network (or loopback) are answered; with "host", only
// loopback clients. Others are dropped without an answer, as dnsmasq
// does, and the first one is logged.
func (s *Server) clientAllowed(st *state, client netip.AddrPort) bool {
	f := &st.cfg.filters
	if f.localService == 0 {
		return true
	}
	a := client.Addr().WithZone("").Unmap()
	if a.IsLoopback() {
		return true
	}
	if f.localService == localServiceNet {
		nets := f.localNets
		if ns := s.filt.net.Load(); ns != nil {
			nets = ns.localNets
		}
		for _, p := range nets {
			if p.Contains(a) {
				return true
			}
		}
	}
	s.filt.nonLocal.Add(1)
	s.filt.warnOnce.Do(func() {
		s.log.printf("ignoring query from non-local network %s (logged only once)", a)
	})
	return false
}

// filterQuery runs the query filters that stop a question from being
// forwarded: filterwin2k, domain-needed and bogus-priv. It runs after
// local data (a name the hosts data knows is answered from there) and
// before the cache, and returns the answer to send, or nil to go on; then
// it also prepares the EDNS0 client options (add-mac, add-subnet) a
// forwarded query will carry.
func (s *Server) filterQuery(req *request) *dns.Msg {
	if m := s.answerFiltered(req); m != nil {
		return m
	}
	s.prepareClientOptions(req)
	return nil
}

func (s *Server) answerFiltered(req *request) *dns.Msg {
	f := &req.st.cfg.filters
	q := req.q
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		return nil
	}
	var m *dns.Msg
	logName := ""
	switch {
	case f.win2k && (q.Qtype == dns.TypeSOA || q.Qtype == dns.TypeSRV ||
		q.Qtype == dns.TypeANY && strings.IndexByte(req.key, '_') >= 0):
		// Windows 2000 clients' dial-on-demand noise: NODATA, as ours.
		m = s.newReply(req, dns.RcodeSuccess)
		m.Authoritative = true
	case f.domainNeeded && req.key != "" && strings.IndexByte(req.key, '.') < 0 &&
		(q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
		// A plain name the local data did not know: "not found".
		m = s.newReply(req, dns.RcodeNameError)
	case f.bogusPriv && (q.Qtype == dns.TypePTR || q.Qtype == dns.TypeANY):
		a, ok := parseArpa(req.key)
		if !ok || !privateAddr(a, true) || coveredByServer(req.st.cfg, req.key) {
			return nil
		}
		m = s.newReply(req, dns.RcodeNameError)
		m.Authoritative = true
		logName = a.String() // dnsmasq logs the address the name stands for
	default:
		return nil
	}
	s.filt.filtered.Add(1)
	if req.st.cfg.logQueries {
		if logName == "" {
			s.logAnswerFor(req, "config", m)
		} else {
			s.logLine(req, "config %s is NXDOMAIN", logName)
		}
	}
	return m
}

// coveredByServer reports whether a server= with an address (or a
// rev-server, or a servers-file line) is configured for key's domain:
// bogus-priv leaves such names to it, as dnsmasq does. server=/dom/#
// and local=/dom/ do not count.
func coveredByServer(cfg *runConfig, key string) bool {
	r, ok, _ := cfg.matchDomain(key)
	return ok && !r.local && len(r.servers) > 0
}

// parseArpa reads a reverse name (lower case, no trailing dot) the way
// dnsmasq's in_arpa_name_2_addr does: for in-addr.arpa, any number of
// all-digit labels, the last four read as the address and missing low
// octets zero (so "168.192.in-addr.arpa" is 192.168.0.0); for ip6.arpa and
// ip6.int, any number of single hex-digit labels. Names over 75 bytes are
// not reverse names.
func parseArpa(key string) (netip.Addr, bool) {
	const maxArpaName = 75
	if len(key) > maxArpaName {
		return netip.Addr{}, false
	}
	if rest, ok := strings.CutSuffix(key, ".in-addr.arpa"); ok {
		var a [4]byte
		for _, label := range strings.Split(rest, ".") {
			if label == "" {
				return netip.Addr{}, false
			}
			v := uint64(0)
			for i := 0; i < len(label); i++ {
				c := label[i]
				if c < '0' || c > '9' {
					return netip.Addr{}, false
				}
				// strtol saturates; atoi's byte is then 0xff.
				if v > (math.MaxInt64-9)/10 {
					v = math.MaxInt64
				} else {
					v = v*10 + uint64(c-'0')
				}
			}
			a[3], a[2], a[1], a[0] = a[2], a[1], a[0], byte(v)
		}
		return netip.AddrFrom4(a), true
	}
	rest, ok := strings.CutSuffix(key, ".ip6.arpa")
	if !ok {
		if rest, ok = strings.CutSuffix(key, ".ip6.int"); !ok {
			return netip.Addr{}, false
		}
	}
	var a [16]byte
	for _, label := range strings.Split(rest, ".") {
		if len(label) != 1 {
			return netip.Addr{}, false
		}
		n, ok := hexDigit(label[0])
		if !ok {
			return netip.Addr{}, false
		}
		for j := 15; j > 0; j-- {
			a[j] = a[j]>>4 | a[j-1]<<4
		}
		a[0] = a[0]>>4 | n<<4
	}
	return netip.AddrFrom16(a), true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Private ranges, as dnsmasq 2.90's private_net and private_net6 list them
// (RFC 6303 and the test networks). banLocal adds 0.0.0.0/8, 127.0.0.0/8,
// :: and ::1.
var (
	privateV4 = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("255.255.255.255/32"),
	}
	localV4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("127.0.0.0/8"),
	}
	privateV6 = []netip.Prefix{
		netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("fec0::/10"),
		netip.MustParsePrefix("fd00::/8"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
)

// privateAddr reports whether a is in a private range; an IPv4-mapped
// IPv6 address is judged by its IPv4 address.
func privateAddr(a netip.Addr, banLocal bool) bool {
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		for _, p := range privateV4 {
			if p.Contains(a) {
				return true
			}
		}
		if banLocal {
			for _, p := range localV4 {
				if p.Contains(a) {
					return true
				}
			}
		}
		return false
	}
	if banLocal && (a.IsUnspecified() || a.IsLoopback()) {
		return true
	}
	for _, p := range privateV6 {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
