package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// DNSCache holds the cache options besides cache-size (Config.CacheSize):
// dnsmasq 2.90's no-negcache, neg-ttl, min-cache-ttl, max-cache-ttl,
// max-ttl, use-stale-cache, clear-on-reload and cache-rr. TTLs are in
// seconds; 0 means "not set" for every one of them, as in dnsmasq.
type DNSCache struct {
	NoNegCache  bool   // no-negcache (-N): NXDOMAIN and NODATA are not cached
	NegTTL      uint32 // neg-ttl: lifetime of negative answers without an SOA
	MinCacheTTL uint32 // min-cache-ttl: at most MaxMinCacheTTL
	MaxCacheTTL uint32 // max-cache-ttl
	MaxTTL      uint32 // max-ttl: the largest TTL given to clients
	// UseStaleCache (use-stale-cache[=N]): expired entries are answered
	// with TTL 0 and refreshed, for StaleCacheMax seconds past expiry
	// (default DefaultStaleCacheMax; 0 = no limit).
	UseStaleCache bool
	StaleCacheMax uint32
	ClearOnReload bool // clear-on-reload: a re-read resolv-file clears the cache
	// CacheRR (cache-rr): record types dnsmasq is told to cache besides A,
	// AAAA, CNAME and SRV, in order given (255 = ANY). moat caches every
	// type anyway, so the list only documents the configuration.
	CacheRR []uint16
}

const (
	// MaxMinCacheTTL is dnsmasq's ceiling on min-cache-ttl (TTL_FLOOR_LIMIT);
	// dnsmasq lowers larger values silently, moat reports them.
	MaxMinCacheTTL = 3600
	// DefaultStaleCacheMax is use-stale-cache's limit without a value: a day.
	DefaultStaleCacheMax = 86400
	// maxTTLValue bounds the TTL options (RFC 2181: TTLs are 31-bit).
	maxTTLValue = 1<<31 - 1
)

func parseTTL(v value) (uint32, error) {
	n, err := parseDecimal(v.text, maxTTLValue, "a number of seconds")
	return uint32(n), err
}

func setNoNegCache(p *parser, _ value, _ location) error {
	p.cfg.Cache.NoNegCache = true
	return nil
}

func setNegTTL(p *parser, v value, _ location) error {
	n, err := parseTTL(v)
	p.cfg.Cache.NegTTL = n
	return err
}

func setMinCacheTTL(p *parser, v value, _ location) error {
	n, err := parseTTL(v)
	if err != nil {
		return err
	}
	if n > MaxMinCacheTTL {
		return fmt.Errorf("%d is more than %d, dnsmasq's limit", n, MaxMinCacheTTL)
	}
	p.cfg.Cache.MinCacheTTL = n
	return nil
}

func setMaxCacheTTL(p *parser, v value, _ location) error {
	n, err := parseTTL(v)
	p.cfg.Cache.MaxCacheTTL = n
	return err
}

func setMaxTTL(p *parser, v value, _ location) error {
	n, err := parseTTL(v)
	p.cfg.Cache.MaxTTL = n
	return err
}

// setUseStaleCache: a bare use-stale-cache serves entries up to a day
// past expiry; =0 without limit.
func setUseStaleCache(p *parser, v value, _ location) error {
	limit := uint32(DefaultStaleCacheMax)
	if v.given {
		n, err := parseTTL(v)
		if err != nil {
			return err
		}
		limit = n
	}
	p.cfg.Cache.UseStaleCache = true
	p.cfg.Cache.StaleCacheMax = limit
	return nil
}

func setClearOnReload(p *parser, _ value, _ location) error {
	p.cfg.Cache.ClearOnReload = true
	return nil
}

// setCacheRR reads a comma-separated list of types: names (TXT, mx) or
// decimal numbers, as dnsmasq's cache-rr.
func setCacheRR(p *parser, v value, _ location) error {
	for _, part := range v.split(',') {
		t, err := parseCacheRRType(part.text)
		if err != nil {
			return err
		}
		p.cfg.Cache.CacheRR = append(p.cfg.Cache.CacheRR, t)
	}
	return nil
}

func parseCacheRRType(s string) (uint16, error) {
	if s == "" {
		return 0, errors.New("empty record type")
	}
	if s[0] >= '0' && s[0] <= '9' {
		n, err := parseDecimal(s, 65535, "a record type")
		if err != nil {
			return 0, err
		}
		return uint16(n), nil
	}
	if t, ok := dns.StringToType[strings.ToUpper(s)]; ok {
		return t, nil
	}
	return 0, fmt.Errorf("%q is not a record type", s)
}

// printCache appends the cache options to a printed configuration.
func printCache(c DNSCache, line func(name, val string), flag func(name string, on bool)) {
	flag("no-negcache", c.NoNegCache)
	ttl := func(name string, v uint32) {
		if v != 0 {
			line(name, strconv.FormatUint(uint64(v), 10))
		}
	}
	ttl("neg-ttl", c.NegTTL)
	ttl("min-cache-ttl", c.MinCacheTTL)
	ttl("max-cache-ttl", c.MaxCacheTTL)
	ttl("max-ttl", c.MaxTTL)
	if c.UseStaleCache {
		line("use-stale-cache", strconv.FormatUint(uint64(c.StaleCacheMax), 10))
	}
	flag("clear-on-reload", c.ClearOnReload)
	for _, t := range c.CacheRR {
		name, ok := dns.TypeToString[t]
		if !ok || t == dns.TypeNone {
			name = strconv.Itoa(int(t))
		}
		line("cache-rr", name)
	}
}
