package masterd

import (
	"testing"

	"github.com/moatdns/moat/internal/config"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func TestApplyCacheConfig(t *testing.T) {
	cfg := config.Defaults()
	cfg.Cache = config.DNSCache{NoNegCache: true, NegTTL: 1, MinCacheTTL: 2, MaxCacheTTL: 3, MaxTTL: 4, UseStaleCache: true, StaleCacheMax: 5}
	var a, b ipcpb.DNSConfig
	applyCacheConfig(cfg, &a)
	if !a.GetNoNegcache() || a.GetNegTtl() != 1 || a.GetMinCacheTtl() != 2 || a.GetMaxCacheTtl() != 3 ||
		a.GetMaxTtl() != 4 || !a.GetUseStaleCache() || a.GetStaleCacheMax() != 5 {
		t.Errorf("DNSConfig = %v", &a)
	}
	// Every load (start, SIGHUP) clears dnsd's cache, as SIGHUP does in
	// dnsmasq: a new epoch each time.
	applyCacheConfig(cfg, &b)
	if a.GetCacheEpoch() == 0 || b.GetCacheEpoch() == a.GetCacheEpoch() {
		t.Errorf("epochs %d then %d, want two different non-zero ones", a.GetCacheEpoch(), b.GetCacheEpoch())
	}
}

func TestResolvReloadCacheEpoch(t *testing.T) {
	cfg := config.Defaults()
	if got := resolvReloadCacheEpoch(cfg, 41); got != 41 {
		t.Errorf("without clear-on-reload: epoch %d, want the current 41", got)
	}
	cfg.Cache.ClearOnReload = true
	if got := resolvReloadCacheEpoch(cfg, 41); got == 41 {
		t.Error("with clear-on-reload: the epoch did not change")
	}
}
