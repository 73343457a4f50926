package dnsd

import (
	"fmt"

	"github.com/moatdns/moat/internal/hosts"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// localConfig is area A's part of DNSConfig: the switches of local-data
// answering (the records themselves come as tables; see local_zone.go).
type localConfig struct {
	localise bool   // localise-queries
	selfMX   bool   // selfmx
	localMX  bool   // localmx
	mxTarget string // localmx's target (lookup key form)
}

func newLocalConfig(dc *ipcpb.DNSConfig) (localConfig, error) {
	c := localConfig{localise: dc.GetLocaliseQueries(), selfMX: dc.GetSelfMx(), localMX: dc.GetLocalMx()}
	if t := dc.GetMxTarget(); t != "" {
		key, ok := hosts.CanonicalName(t)
		if !ok {
			return c, fmt.Errorf("dns config: mx_target %q is not a name", t)
		}
		c.mxTarget = key
	}
	if c.localMX && c.mxTarget == "" {
		return c, fmt.Errorf("dns config: local_mx without mx_target")
	}
	return c, nil
}
