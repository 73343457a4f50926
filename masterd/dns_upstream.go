package masterd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Upstream servers for dnsd (area C). The master reads everything that
// names servers — server=, local=, rev-server= lines, the servers-file,
// the newest resolv-file — and streams the list to dnsd as
// TABLE_UPSTREAMS after each DNSConfig, and alone when a resolv-file
// changes (resolvpoll.go). The list keeps dnsmasq's order: configuration
// lines, then the servers-file, then resolv-file; strict-order follows it.

// upstreamData is area C's part of dnsData.
type upstreamData struct {
	mu     sync.Mutex
	config []*ipcpb.Upstream // server=, local=, rev-server= lines
	file   []*ipcpb.Upstream // servers-file
	resolv []*ipcpb.Upstream // the resolv-file in use
	table  []*ipcpb.Upstream // all of the above, as dnsd gets it
	gen    uint64            // TABLE_UPSTREAMS generation
	poll   resolvPoll        // resolv-file state (resolvpoll.go)

	// sendMu orders table sends, so that dnsd always ends with the
	// newest table whoever sends it (a worker start, a resolv change).
	sendMu sync.Mutex
}

// maxServerLines bounds the "using nameserver" lines logged per change,
// as dnsmasq stops after SERVERS_LOGGED (30).
const maxServerLines = 30

// applyUpstreamPolicy fills dc's upstream policy fields from cfg.
func applyUpstreamPolicy(cfg *config.Config, dc *ipcpb.DNSConfig) {
	u := cfg.Upstream
	dc.StrictOrder = u.StrictOrder
	dc.AllServers = u.AllServers
	n := uint32(u.ForwardMax)
	dc.DnsForwardMax = &n
	if u.QueryPort >= 0 {
		p := uint32(u.QueryPort)
		dc.QueryPort = &p
	}
	dc.MinPort = uint32(u.MinPort)
	dc.MaxPort = uint32(u.MaxPort)
	if u.FastRetry > 0 {
		dc.FastDnsRetryMs = uint32(u.FastRetry)
		dc.FastDnsRetryTotalMs = uint32(u.FastRetryTotal)
	}
	dc.DnsLoopDetect = u.LoopDetect
}

// checkUpstreamConfig reports what dnsmasq refuses at start (and not in
// --test for the ports): max-port below min-port, several resolv-files
// with no-poll.
func checkUpstreamConfig(cfg *config.Config) error {
	if err := cfg.Upstream.CheckPorts(); err != nil {
		return err
	}
	if cfg.Upstream.NoPoll && !cfg.NoResolv && len(cfg.ResolvFiles) > 1 {
		return errors.New("only one resolv.conf file allowed in no-poll mode")
	}
	return nil
}

// loadUpstreams (re)builds the whole list, as at start and on SIGHUP:
// configuration lines, the servers-file (read again), and resolv-file
// (read again when no-poll is set or nothing was read yet; otherwise
// polling keeps it current, as in dnsmasq).
func (d *dnsData) loadUpstreams(cfg *config.Config, plan listenPlan, log *logger) error {
	if err := checkUpstreamConfig(cfg); err != nil {
		return err
	}
	u := &d.upstream
	conf := serverEntries(cfg.Servers, "")
	var file []*ipcpb.Upstream
	if path := cfg.Upstream.ServersFile; path != "" {
		data, err := readBounded(path)
		if err != nil {
			log.printf("master", "cannot read %s: %v", path, err)
		} else {
			servers, err := config.ParseServersFile(path, data)
			for _, e := range config.Errors(err) {
				log.printf("master", "%v", e)
			}
			file = serverEntries(servers, path)
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.config, u.file = conf, file
	if !cfg.NoResolv && (cfg.Upstream.NoPoll || !u.poll.started) {
		u.resolv = u.poll.read(cfg, true, log)
	}
	if cfg.NoResolv {
		u.resolv = nil
	}
	u.rebuild(cfg, plan, log)
	return nil
}

// rebuild makes the table from its parts. Called with u.mu held.
func (u *upstreamData) rebuild(cfg *config.Config, plan listenPlan, log *logger) {
	all := make([]*ipcpb.Upstream, 0, len(u.config)+len(u.file)+len(u.resolv))
	for _, part := range [][]*ipcpb.Upstream{u.config, u.file, u.resolv} {
		for _, e := range part {
			if e.GetAddress() != "" {
				ap, err := netip.ParseAddrPort(e.GetAddress())
				if err == nil && int(ap.Port()) == cfg.Port && isOwnAddress(ap.Addr(), plan) {
					log.printf("master", "ignoring nameserver %s - local interface", ap.Addr())
					continue
				}
				if err == nil && ap.Addr().Zone() != "" {
					numeric, err := numericZone(ap)
					if err != nil {
						log.printf("master", "ignoring nameserver %s: %v", ap, err)
						continue
					}
					e = cloneWithAddress(e, numeric.String())
				}
			}
			all = append(all, e)
		}
	}
	u.table = all
	u.gen++
	logServers(log, all)
}

// serverEntries turns parsed server lines into table entries. source
// names the servers-file, or "" for the configuration (each entry then
// names its file:line).
func serverEntries(servers []config.Server, source string) []*ipcpb.Upstream {
	out := make([]*ipcpb.Upstream, 0, len(servers))
	for _, s := range servers {
		e := &ipcpb.Upstream{Domains: s.Domains, Source: s.Source}
		switch {
		case s.UseStandard:
			e.UseStandard = true
		case s.Local():
			e.Local = true
		default:
			e.Address = s.Addr.String()
			if s.Bind.Addr.IsValid() {
				e.SourceAddress = s.Bind.Addr.String()
			}
			e.SourcePort = uint32(s.Bind.Port)
			e.Interface = s.Bind.Interface
		}
		if (e.Local || e.UseStandard) && len(e.Domains) == 0 {
			continue // the parser never makes one; dnsd would refuse it
		}
		out = append(out, e)
	}
	return out
}

func cloneWithAddress(e *ipcpb.Upstream, addr string) *ipcpb.Upstream {
	c := proto.Clone(e).(*ipcpb.Upstream)
	c.Address = addr
	return c
}

// numericZone gives a link-local server's zone as an interface index:
// dnsd cannot look interface names up.
func numericZone(ap netip.AddrPort) (netip.AddrPort, error) {
	zone := ap.Addr().Zone()
	if _, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return ap, nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return ap, fmt.Errorf("interface %s: %w", zone, err)
	}
	return netip.AddrPortFrom(ap.Addr().WithZone(strconv.Itoa(ifi.Index)), ap.Port()), nil
}

// logServers logs the list as dnsmasq's check_servers does.
func logServers(log *logger, table []*ipcpb.Upstream) {
	logged, more := 0, 0
	for _, e := range table {
		if logged >= maxServerLines {
			more++
			continue
		}
		logged++
		for _, line := range serverLines(e) {
			log.printf("master", "%s", line)
		}
	}
	if more > 0 {
		log.printf("master", "using %d more nameservers", more)
	}
}

// serverLines are dnsmasq's start-up lines for one entry.
func serverLines(e *ipcpb.Upstream) []string {
	var label string
	if e.GetAddress() != "" {
		ap, _ := netip.ParseAddrPort(e.GetAddress())
		label = ap.Addr().String() + "#" + strconv.Itoa(int(ap.Port()))
		if e.GetInterface() != "" {
			label += "(via " + e.GetInterface() + ")"
		}
	}
	if len(e.GetDomains()) == 0 {
		return []string{"using nameserver " + label}
	}
	var out []string
	for _, d := range e.GetDomains() {
		switch {
		case e.GetLocal():
			out = append(out, "using only locally-known addresses for "+d)
		case e.GetUseStandard():
			out = append(out, "using standard nameservers for "+d)
		case d == "":
			out = append(out, "using nameserver "+label+" for unqualified names")
		case d == config.EveryDomain:
			out = append(out, "using nameserver "+label)
		default:
			out = append(out, "using nameserver "+label+" for domain "+d)
		}
	}
	return out
}

// sendUpstreams streams the current table to dnsd.
func (d *dnsData) sendUpstreams(conn *ipc.Conn) error {
	u := &d.upstream
	u.sendMu.Lock()
	defer u.sendMu.Unlock()
	u.mu.Lock()
	table, gen := u.table, u.gen
	u.mu.Unlock()
	if err := ipc.SendUpstreams(conn, gen, table); err != nil {
		return fmt.Errorf("send upstreams: %w", err)
	}
	return nil
}

// isOwnAddress reports whether queries to a would reach our own sockets.
func isOwnAddress(a netip.Addr, plan listenPlan) bool {
	if a.IsUnspecified() {
		return true
	}
	if plan.wildcard && len(plan.allowed) == 0 && len(plan.allowedIfs) == 0 {
		// Serving every interface: any local address is ours.
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, ia := range addrs {
				if ipn, ok := ia.(*net.IPNet); ok && ipn.IP.Equal(net.IP(a.AsSlice())) {
					return true
				}
			}
		}
	}
	for _, b := range plan.binds {
		if b.Addr().WithZone("") == a.WithZone("") {
			return true
		}
	}
	for _, b := range plan.allowed {
		if b.WithZone("") == a.WithZone("") {
			return true
		}
	}
	return false
}

// readResolvConf returns the nameserver lines of a resolv.conf file.
func readResolvConf(path string) ([]netip.AddrPort, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	return parseResolvConf(data), nil
}

// parseResolvConf returns the nameservers of a resolv.conf text, port 53,
// in order. Lines other than "nameserver <address>" are ignored, as
// dnsmasq ignores them.
func parseResolvConf(data []byte) []netip.AddrPort {
	var out []netip.AddrPort
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		out = append(out, netip.AddrPortFrom(a, 53))
	}
	return out
}
