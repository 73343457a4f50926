package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// parseCacheLines writes lines to a file and parses it, so errors carry
// file:line.
func parseCacheLines(t *testing.T, lines ...string) (*Config, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cache.conf")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]string{"-C", path}, "")
	return c, path, err
}

func TestDNSCacheParse(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  DNSCache
	}{
		{"defaults", nil, DNSCache{}},
		{"no-negcache", []string{"no-negcache"}, DNSCache{NoNegCache: true}},
		{"ttls", []string{"neg-ttl=60", "min-cache-ttl=3600", "max-cache-ttl=86400", "max-ttl=0"},
			DNSCache{NegTTL: 60, MinCacheTTL: 3600, MaxCacheTTL: 86400}},
		{"largest ttl", []string{"max-ttl=2147483647"}, DNSCache{MaxTTL: 1<<31 - 1}},
		{"use-stale-cache bare is a day", []string{"use-stale-cache"}, DNSCache{UseStaleCache: true, StaleCacheMax: 86400}},
		{"use-stale-cache value", []string{"use-stale-cache=3600"}, DNSCache{UseStaleCache: true, StaleCacheMax: 3600}},
		{"use-stale-cache 0 is unlimited", []string{"use-stale-cache=0"}, DNSCache{UseStaleCache: true}},
		{"clear-on-reload", []string{"clear-on-reload"}, DNSCache{ClearOnReload: true}},
		{"cache-rr names numbers any", []string{"cache-rr=TXT,mx", "cache-rr=65280", "cache-rr=ANY"},
			DNSCache{CacheRR: []uint16{dns.TypeTXT, dns.TypeMX, 65280, dns.TypeANY}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := parseCacheLines(t, tt.lines...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Cache, tt.want) {
				t.Errorf("Cache = %+v, want %+v", c.Cache, tt.want)
			}
			roundTrip(t, c)
		})
	}
}

func TestDNSCacheShortOption(t *testing.T) {
	c := mustParse(t, "-N", "--neg-ttl=30", "--use-stale-cache=5")
	want := DNSCache{NoNegCache: true, NegTTL: 30, UseStaleCache: true, StaleCacheMax: 5}
	if !reflect.DeepEqual(c.Cache, want) {
		t.Errorf("Cache = %+v, want %+v", c.Cache, want)
	}
}

func TestDNSCacheErrors(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string // after "file:line: "
	}{
		{"neg-ttl sign", []string{"neg-ttl=-1"}, `neg-ttl: "-1" is not a number of seconds`},
		{"neg-ttl empty", []string{"neg-ttl="}, "neg-ttl: empty value"},
		{"max-ttl too large", []string{"max-ttl=2147483648"}, `max-ttl: "2147483648" is out of range (0 to 2147483647)`},
		{"min-cache-ttl above dnsmasq's limit", []string{"min-cache-ttl=3601"}, "min-cache-ttl: 3601 is more than 3600, dnsmasq's limit"},
		{"max-cache-ttl word", []string{"max-cache-ttl=1h"}, `max-cache-ttl: "1h" is not a number of seconds`},
		{"use-stale-cache word", []string{"use-stale-cache=day"}, `use-stale-cache: "day" is not a number of seconds`},
		{"neg-ttl twice", []string{"neg-ttl=1", "neg-ttl=2"}, "neg-ttl"},
		{"cache-rr unknown", []string{"cache-rr=BOGUS"}, `cache-rr: "BOGUS" is not a record type`},
		{"cache-rr empty element", []string{"cache-rr=TXT,"}, "cache-rr: empty record type"},
		{"cache-rr too big", []string{"cache-rr=65536"}, `cache-rr: "65536" is out of range (0 to 65535)`},
		{"no-negcache with value", []string{"no-negcache=1"}, "no-negcache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := parseCacheLines(t, tt.lines...)
			if err == nil {
				t.Fatal("no error")
			}
			line := len(tt.lines)
			prefix := path + ":" + string(rune('0'+line)) + ": "
			got := firstLine(err)
			if !strings.HasPrefix(got, prefix) || !strings.Contains(got, tt.want) {
				t.Errorf("error %q, want %q%s...", got, prefix, tt.want)
			}
		})
	}
}

func TestDNSCachePrintFormat(t *testing.T) {
	c := mustParse(t, "--no-negcache", "--neg-ttl=5", "--max-ttl=60", "--use-stale-cache", "--clear-on-reload", "--cache-rr=txt,65280")
	got := c.String()
	for _, want := range []string{
		"cache-size=150\nno-negcache\nneg-ttl=5\nmax-ttl=60\nuse-stale-cache=86400\nclear-on-reload\ncache-rr=TXT\ncache-rr=65280\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("String():\n%s\nwant it to contain:\n%s", got, want)
		}
	}
}
