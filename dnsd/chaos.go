package dnsd

import (
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// CHAOS-class names. dnsmasq 2.90 never forwards a CHAOS query for a name
// in the bind or server domains: it answers TXT (or ANY) of the names
// below from its statistics and everything else there with NOTIMP, and
// no-ident turns every one into NOTIMP. kube-dns's sidecar reads
// cachesize, insertions, evictions, misses and hits.

// chaosAuthors and chaosCopyright are moat's answers where dnsmasq names
// its author.
const (
	chaosAuthors   = "The moat authors"
	chaosCopyright = "Copyright (c) The moat authors"
)

// answerChaos answers a CHAOS query for *.bind or *.server, or returns nil
// for every other query.
func (s *Server) answerChaos(req *request) *dns.Msg {
	q := req.q
	if q.Qclass != dns.ClassCHAOS || !chaosDomain(req.key) {
		return nil
	}
	f := &req.st.cfg.filters
	var txt []string
	if !f.noIdent && (q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY) {
		txt = s.chaosText(req)
	}
	logq := req.st.cfg.logQueries
	if txt == nil {
		m := s.newReply(req, dns.RcodeNotImplemented)
		if logq {
			s.logLine(req, "config %s is not implemented (EDE: unknown)", logName(q.Name))
		}
		return m
	}
	m := s.newReply(req, dns.RcodeSuccess)
	m.Authoritative = true
	m.Answer = []dns.RR{&dns.TXT{
		Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS, Ttl: 0},
		Txt: txt,
	}}
	if logq {
		s.logLine(req, "config %s is <TXT>", logName(q.Name))
	}
	return m
}

// chaosDomain reports whether key is bind, server or a name below them.
func chaosDomain(key string) bool {
	for _, d := range []string{"bind", "server"} {
		if key == d || strings.HasSuffix(key, "."+d) {
			return true
		}
	}
	return false
}

// chaosText is the TXT data of a known name, nil for an unknown one.
func (s *Server) chaosText(req *request) []string {
	num := func(n uint64) []string { return []string{strconv.FormatUint(n, 10)} }
	switch req.key {
	case "version.bind", "authors.bind", "copyright.bind", "auth.bind":
		s.filt.chaos.Add(1)
	}
	switch req.key {
	case "version.bind":
		return []string{req.st.cfg.filters.version}
	case "authors.bind":
		return []string{chaosAuthors}
	case "copyright.bind":
		return []string{chaosCopyright}
	case "auth.bind":
		return num(0) // moat serves no authoritative zones
	case "cachesize.bind", "insertions.bind", "evictions.bind", "misses.bind", "hits.bind", "servers.bind":
	default:
		return nil
	}
	// Counted before the numbers are read: hits.bind counts itself, as
	// in dnsmasq.
	s.filt.chaos.Add(1)
	snap := s.snapshot()
	switch req.key {
	case "cachesize.bind":
		return num(uint64(snap.cacheSize))
	case "insertions.bind":
		return num(snap.inserts)
	case "evictions.bind":
		return num(snap.liveEvictions)
	case "misses.bind":
		return num(snap.forwarded)
	case "hits.bind":
		return num(snap.answeredLocal)
	}
	servers := chaosServers(snap.servers)
	if len(servers) == 0 {
		return []string{""}
	}
	return servers
}
