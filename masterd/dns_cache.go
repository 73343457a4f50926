package masterd

import (
	"sync/atomic"

	"github.com/moatdns/moat/internal/config"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// cacheEpochs numbers the moments dnsd must drop its cache. dnsd keeps its
// cache across new configurations unless the epoch changes.
var cacheEpochs atomic.Uint64

// applyCacheConfig fills dc's cache fields from cfg. dnsData.load runs at
// start and on SIGHUP, and dnsmasq's SIGHUP always clears the cache, so
// every load takes a new epoch.
func applyCacheConfig(cfg *config.Config, dc *ipcpb.DNSConfig) {
	c := cfg.Cache
	dc.NoNegcache = c.NoNegCache
	dc.NegTtl = c.NegTTL
	dc.MinCacheTtl = c.MinCacheTTL
	dc.MaxCacheTtl = c.MaxCacheTTL
	dc.MaxTtl = c.MaxTTL
	dc.UseStaleCache = c.UseStaleCache
	dc.StaleCacheMax = c.StaleCacheMax
	dc.CacheEpoch = cacheEpochs.Add(1)
}

// resolvReloadCacheEpoch is the cache epoch for a DNSConfig sent because
// resolv-file changed outside SIGHUP (polling): with clear-on-reload a new
// one, so dnsd drops its cache as dnsmasq does; without, the current one,
// so the cache survives.
func resolvReloadCacheEpoch(cfg *config.Config, current uint64) uint64 {
	if cfg.Cache.ClearOnReload {
		return cacheEpochs.Add(1)
	}
	return current
}
