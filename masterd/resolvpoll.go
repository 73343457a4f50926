package masterd

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// resolv-file polling (area C), dnsmasq 2.90's poll_resolv: every second
// the master looks at each resolv-file; when one changed (or appeared, or
// went away), it reads the newest of those that changed and gives dnsd
// the new server list, without SIGHUP. With several files, the one that
// changed last wins ("automatic switching between DNS servers"). A file
// with no nameserver lines leaves dnsd without its servers and is read
// again at the next poll ("no servers found in ..., will retry").
// no-poll turns this off: resolv-file is read at start and on SIGHUP.

// resolvPollInterval is dnsmasq's: it checks once a second.
const resolvPollInterval = time.Second

// resolvFile is what the last look saw of one file.
type resolvFile struct {
	seen         bool // stat succeeded
	mtime        time.Time
	ino          uint64
	size         int64
	loggedAccess bool // "failed to access" logged since it went away
	retry        bool // read it again at the next poll (no servers found)
}

// resolvPoll is the polling state; guarded by upstreamData.mu.
type resolvPoll struct {
	started bool
	files   map[string]*resolvFile
	current string // the file whose servers are in use
}

// read looks at every resolv-file and, when force is set or something
// changed, returns the servers of the file that changed last; changed
// reports whether it read one (the list may be empty).
func (p *resolvPoll) check(cfg *config.Config, force bool, log *logger) (entries []*ipcpb.Upstream, changed bool) {
	if p.files == nil {
		p.files = map[string]*resolvFile{}
	}
	p.started = true
	latest, latestTime := "", time.Time{}
	vanished := false
	for _, path := range cfg.ResolvFiles {
		st := p.files[path]
		if st == nil {
			st = &resolvFile{}
			p.files[path] = st
		}
		fi, err := os.Stat(path)
		if err != nil {
			if st.seen {
				vanished = vanished || path == p.current
				st.seen = false
			}
			if !force && !st.loggedAccess {
				log.printf("master", "failed to access %s: %v", path, errors.Unwrap(err))
				st.loggedAccess = true
			}
			continue
		}
		st.loggedAccess = false
		ino := uint64(0)
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = sys.Ino
		}
		moved := !st.seen || !fi.ModTime().Equal(st.mtime) || ino != st.ino || fi.Size() != st.size
		st.seen, st.mtime, st.ino, st.size = true, fi.ModTime(), ino, fi.Size()
		if force || moved || st.retry || vanished {
			if latest == "" || fi.ModTime().After(latestTime) {
				latest, latestTime = path, fi.ModTime()
			}
		}
	}
	if vanished && !force {
		// dnsmasq: an existing file evaporated, so choose again among all
		// that exist; if none does, the servers stay as they are.
		return p.check(cfg, true, log)
	}
	if latest == "" {
		return nil, false
	}
	return p.readFile(latest, log), true
}

// readFile reads one resolv-file's servers.
func (p *resolvPoll) readFile(path string, log *logger) []*ipcpb.Upstream {
	st := p.files[path]
	data, err := readBounded(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			log.printf("master", "failed to read %s: %v", path, err)
		}
		st.retry = true
		return nil
	}
	servers := parseResolvConf(data)
	p.current = path
	if len(servers) == 0 {
		log.printf("master", "no servers found in %s, will retry", path)
		st.retry = true
		return nil
	}
	st.retry = false
	log.printf("master", "reading %s", path)
	out := make([]*ipcpb.Upstream, 0, len(servers))
	for _, ap := range servers {
		out = append(out, &ipcpb.Upstream{Address: ap.String(), Source: path})
	}
	return out
}

// read is check for loadUpstreams: at start (and with no-poll on SIGHUP)
// every file counts; with no-poll there is only one file.
func (p *resolvPoll) read(cfg *config.Config, force bool, log *logger) []*ipcpb.Upstream {
	entries, _ := p.check(cfg, force, log)
	return entries
}

// pollResolv checks resolv-files every second until ctx ends and pushes
// a changed server list to dnsd.
func (m *master) pollResolv(ctx context.Context) {
	cfg := m.cfg
	if cfg.Port == 0 || cfg.NoResolv || cfg.Upstream.NoPoll || len(cfg.ResolvFiles) == 0 {
		return
	}
	everyTick(ctx, resolvPollInterval, func() {
		if m.dns.pollResolvOnce(cfg, m.plan, m.log) {
			m.pushUpstreams()
		}
	})
}

// pollResolvOnce is one look; it reports whether the server list changed.
func (d *dnsData) pollResolvOnce(cfg *config.Config, plan listenPlan, log *logger) bool {
	u := &d.upstream
	u.mu.Lock()
	defer u.mu.Unlock()
	entries, changed := u.poll.check(cfg, false, log)
	if !changed || sameUpstreams(entries, u.resolv) {
		return false
	}
	u.resolv = entries
	u.rebuild(cfg, plan, log)
	return true
}

func sameUpstreams(a, b []*ipcpb.Upstream) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// pushUpstreams gives a running dnsd the new server list. With
// clear-on-reload it first gets its DNSConfig again with a new cache
// epoch, so that it drops its cache as dnsmasq does.
func (m *master) pushUpstreams() {
	d := &m.dns
	var dc *ipcpb.DNSConfig
	if m.cfg.Cache.ClearOnReload {
		d.mu.Lock()
		if d.config != nil {
			dc = proto.Clone(d.config).(*ipcpb.DNSConfig)
			dc.CacheEpoch = resolvReloadCacheEpoch(m.cfg, d.config.GetCacheEpoch())
			d.config = dc
		}
		d.mu.Unlock()
	}
	err := m.withRole("dnsd", func(c *ipc.Conn) error {
		if dc != nil {
			if err := c.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: dc}}); err != nil {
				return err
			}
		}
		return d.sendUpstreams(c)
	})
	if err != nil {
		m.log.printf("master", "resolv-file change: send to dnsd: %v", err)
	}
}
