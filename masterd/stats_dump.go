package masterd

import (
	"fmt"
	"time"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// The cache dump dnsmasq 2.90 writes after its SIGUSR1 counters when it
// logs queries: a header, then one line per cached record in fixed
// columns, name (30), data (40), flags (10), expiry as ctime(3) in local
// time (24). dnsd sends the entries (StatsReport.cache_dump); the master
// formats them, as only it knows the local time zone.

const (
	cacheDumpHeader = "Host                           Address                                  Flags      Expires                  Source"
	cacheDumpRule   = "------------------------------ ---------------------------------------- ---------- ------------------------ ------------"
)

// formatCacheDump formats the entries of one report.
func formatCacheDump(entries []*ipcpb.CacheDumpEntry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		expires := time.Unix(e.GetExpires(), 0).Format("Mon Jan _2 15:04:05 2006")
		out = append(out, fmt.Sprintf("%-30.30s %-40.40s %-10.10s %-24.24s", e.GetName(), e.GetData(), e.GetFlags(), expires))
	}
	return out
}

// cacheDumpHead is the header dnsmasq writes before the entries.
func cacheDumpHead() []string { return []string{cacheDumpHeader, cacheDumpRule} }
