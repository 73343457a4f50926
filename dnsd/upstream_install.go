package dnsd

import (
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Installing upstream lists (area C). The master sends the server list as
// TABLE_UPSTREAMS after each DNSConfig, and alone when a resolv-file
// changed; either way dnsd builds a new runConfig (the cache survives, see
// installCache) whose routes hold the DNSConfig's servers followed by the
// table's.

// withUpstreams returns the configuration to install: cfg's DNSConfig
// with the servers of the current upstream table (TABLE_UPSTREAMS; table
// replaces it when replace is set), each server keeping its counters
// across configurations. Then it probes for loops. A nil cfg (no
// DNSConfig yet) only stores the table.
func (s *Server) withUpstreams(cfg *runConfig, table []*ipcpb.Upstream, replace bool) (*runConfig, error) {
	s.up.mu.Lock()
	if replace {
		s.up.table = table
	}
	table = s.up.table
	s.up.mu.Unlock()
	if cfg == nil {
		return nil, nil
	}
	n, err := newRunConfig(cfg.upstream.source)
	if err != nil {
		return nil, err
	}
	if err := n.buildUpstreams(cfg.upstream.source, table, &s.up.reg); err != nil {
		return nil, err
	}
	s.up.reg.commit()
	s.probeLoops(n)
	return n, nil
}
