package masterd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/hosts"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// maxDataFile bounds one hosts or resolv file the master reads for dnsd.
const maxDataFile = 64 << 20

// dnsData is what dnsd is told: its configuration and the hosts table. The
// master reads every file; dnsd opens none.
type dnsData struct {
	mu         sync.Mutex
	generation uint64
	config     *ipcpb.DNSConfig
	hosts      []*ipcpb.HostEntry
}

// load (re)reads resolv-file and the hosts files and builds the next
// generation. Problems that dnsmasq logs and skips are logged and skipped.
func (d *dnsData) load(cfg *config.Config, plan listenPlan, log *logger) error {
	upstreams, locals, err := upstreams(cfg, plan, log)
	if err != nil {
		return err
	}
	entries, err := readAllHosts(cfg, log)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.generation++
	dc := &ipcpb.DNSConfig{
		Upstreams:         upstreams,
		LocalDomains:      locals,
		CacheSize:         uint32(cfg.CacheSize),
		LogQueries:        cfg.LogQueries,
		AllowedIfindexes:  plan.allowedIfs,
		ExcludedIfindexes: plan.excludedIfs,
		Generation:        d.generation,
	}
	if plan.wildcard {
		for _, a := range plan.allowed {
			dc.AllowedAddresses = append(dc.AllowedAddresses, a.WithZone("").String())
		}
	}
	d.config, d.hosts = dc, entries
	return nil
}

// send gives dnsd the current generation: its DNSConfig, then the hosts
// table as a stream.
func (d *dnsData) send(conn *ipc.Conn) error {
	d.mu.Lock()
	dc, entries, gen := d.config, d.hosts, d.generation
	d.mu.Unlock()
	if err := conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: dc}}); err != nil {
		return fmt.Errorf("send dns config: %w", err)
	}
	if err := ipc.SendHosts(conn, gen, entries); err != nil {
		return fmt.Errorf("send hosts: %w", err)
	}
	return nil
}

// upstreams turns server=/local= lines and, unless no-resolv, the
// nameservers of resolv-file into dnsd's upstream list. Like dnsmasq, a
// resolv-file nameserver that is one of our own listening addresses on our
// port is ignored: forwarding to ourselves would loop. server=/dom/# (use
// the standard servers for dom) becomes one entry per standard server
// carrying dom, so that the most specific domain still wins in dnsd.
func upstreams(cfg *config.Config, plan listenPlan, log *logger) ([]*ipcpb.Upstream, []string, error) {
	var ups, standard []*ipcpb.Upstream
	var locals, useStandard []string
	for _, s := range cfg.Servers {
		switch {
		case s.UseStandard:
			useStandard = append(useStandard, s.Domains...)
		case s.Local():
			locals = append(locals, s.Domains...)
		default:
			u := &ipcpb.Upstream{Address: s.Addr.String(), Domains: s.Domains, Source: "server"}
			ups = append(ups, u)
			if len(s.Domains) == 0 {
				standard = append(standard, u)
			}
		}
	}
	if !cfg.NoResolv {
		// An empty list means a bare resolv-file: read none.
		for _, f := range cfg.ResolvFiles {
			servers, err := readResolvConf(f)
			if err != nil {
				// dnsmasq starts without the file and picks it up later.
				log.printf("master", "failed to read %s: %v", f, err)
				continue
			}
			for _, ap := range servers {
				if ap.Port() == uint16(cfg.Port) && isOwnAddress(ap.Addr(), plan) {
					log.printf("master", "ignoring nameserver %s - local interface", ap.Addr())
					continue
				}
				u := &ipcpb.Upstream{Address: ap.String(), Source: f}
				ups = append(ups, u)
				standard = append(standard, u)
			}
		}
	}
	if len(useStandard) > 0 {
		for _, u := range standard {
			ups = append(ups, &ipcpb.Upstream{Address: u.GetAddress(), Domains: useStandard, Source: u.GetSource() + " (server=/.../#)"})
		}
	}
	return ups, locals, nil
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
	var out []netip.AddrPort
	sc := bufio.NewScanner(bytes.NewReader(data))
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
	return out, nil
}

// readAllHosts reads /etc/hosts (unless no-hosts) and every addn-hosts file
// or directory, in order.
func readAllHosts(cfg *config.Config, log *logger) ([]*ipcpb.HostEntry, error) {
	var files []string
	if !cfg.NoHosts {
		files = append(files, config.DefaultHostsFile)
	}
	for _, p := range cfg.AddnHosts {
		fi, err := os.Stat(p)
		if err == nil && fi.IsDir() {
			names, err := os.ReadDir(p)
			if err != nil {
				log.printf("master", "failed to read %s: %v", p, err)
				continue
			}
			var inDir []string
			for _, n := range names {
				if n.Type().IsRegular() {
					inDir = append(inDir, filepath.Join(p, n.Name()))
				}
			}
			sort.Strings(inDir)
			files = append(files, inDir...)
			continue
		}
		files = append(files, p)
	}
	var out []*ipcpb.HostEntry
	for _, f := range files {
		data, err := readBounded(f)
		if err != nil {
			log.printf("master", "failed to load names from %s: %v", f, err)
			continue
		}
		entries, problems := hosts.Parse(f, data)
		for _, p := range problems {
			log.printf("master", "%v", p)
		}
		for _, e := range entries {
			out = append(out, &ipcpb.HostEntry{Address: e.Addr.AsSlice(), Names: e.Names, Source: e.Source})
		}
		log.printf("master", "read %s - %d names", f, countNames(entries))
	}
	return out, nil
}

func countNames(entries []hosts.Entry) int {
	n := 0
	for _, e := range entries {
		n += len(e.Names)
	}
	return n
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDataFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDataFile {
		return nil, fmt.Errorf("larger than %d bytes", maxDataFile)
	}
	return data, nil
}
