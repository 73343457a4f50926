package dnsd

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/moatdns/moat/internal/cache"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// maxMinCacheTTL is dnsmasq's ceiling on min-cache-ttl (TTL_FLOOR_LIMIT).
const maxMinCacheTTL = 3600

// cacheConfig is the cache part of a runConfig.
type cacheConfig struct {
	opts cache.Options
	// epoch: a change drops the cache (SIGHUP, clear-on-reload).
	epoch uint64
	// fastPath: nothing in the configuration stops cached answers from
	// being written straight from their templates (see fastPathAllowed).
	fastPath bool
}

// newCacheConfig reads and checks the cache fields of a DNSConfig.
func newCacheConfig(dc *ipcpb.DNSConfig) (cacheConfig, error) {
	c := cacheConfig{
		opts: cache.Options{
			Size:         int(dc.GetCacheSize()),
			NoNegCache:   dc.GetNoNegcache(),
			NegTTL:       dc.GetNegTtl(),
			MinCacheTTL:  dc.GetMinCacheTtl(),
			MaxCacheTTL:  dc.GetMaxCacheTtl(),
			MaxClientTTL: dc.GetMaxTtl(),
			Stale:        dc.GetUseStaleCache(),
			StaleMax:     dc.GetStaleCacheMax(),
		},
		epoch: dc.GetCacheEpoch(),
	}
	if dc.GetCacheSize() > maxCacheSize {
		return c, fmt.Errorf("dns config: cache_size %d, at most %d", dc.GetCacheSize(), maxCacheSize)
	}
	if c.opts.MinCacheTTL > maxMinCacheTTL {
		return c, fmt.Errorf("dns config: min_cache_ttl %d, at most %d", c.opts.MinCacheTTL, maxMinCacheTTL)
	}
	c.fastPath = fastPathAllowed(dc)
	return c, nil
}

// fastPathNeutral lists the DNSConfig fields (by number) above the
// name-based ranges that do not make an answer depend on who asks or on
// how the query was sent, so the fast path may stay on when they are set.
// An area adding such an option lists it here; any other set field there
// turns the fast path off (safe, only slower).
var fastPathNeutral = map[protoreflect.FieldNumber]bool{
	// Area D: question-only query filters (answered before the cache,
	// never cached), reply filters (applied before an answer is cached),
	// the client options (their answers are not cached when they depend
	// on the client), CHAOS names and the log format. local-service (90)
	// and its networks (91) look at the client: the fast path applies
	// clientAllowed itself before answering (udpLoop.process).
	80: true, 81: true, 83: true, 84: true, 85: true, 86: true, 87: true, 88: true, 89: true,
	90: true, 91: true,
	92: true, 93: true, 94: true, 95: true, 96: true, 97: true, 98: true,
	// Issue 5: socket-filter= (110) changes which datagrams reach dnsd,
	// never an answer. no-0x20-encode (111) changes the spelling of
	// upstream queries, which the cache never sees.
	110: true, 111: true,
}

// fastPathAllowed decides whether cached answers may skip the pipeline.
// Every stage in front of the cache that depends only on the question
// (local data, routes, name filters) is covered by Confirm and the state
// stamp. What depends on the client (its address, interface) or on the
// log is not: log-queries logs every answer, and fields of the filter
// range (80 and up) may look at the client, so they turn the fast path
// off unless listed in fastPathNeutral.
func fastPathAllowed(dc *ipcpb.DNSConfig) bool {
	if dc.GetLogQueries() {
		return false
	}
	ok := true
	dc.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if n := fd.Number(); n >= 80 && !fastPathNeutral[n] {
			ok = false
		}
		return ok
	})
	return ok
}
