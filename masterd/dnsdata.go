package masterd

import (
	"fmt"
	"io"
	"os"
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
	local      localData // area A: local records and hostsdir (dns_localdata.go)
	// leaseNames is the DHCP lease name table (issue 4, dhcpnames.go).
	leaseNames leaseNameTable

	// upstream is the server list and resolv-file polling (area C,
	// dns_upstream.go).
	upstream upstreamData
}

// load (re)reads resolv-file and the hosts files and builds the next
// generation. Problems that dnsmasq logs and skips are logged and skipped.
func (d *dnsData) load(cfg *config.Config, plan listenPlan, log *logger) error {
	if err := d.loadUpstreams(cfg, plan, log); err != nil { // area C (dns_upstream.go)
		return err
	}
	entries, err := readAllHosts(cfg, log)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.generation++
	allowed, allowedIfs, excludedIfs := plan.allowLists() // as the interfaces are now (listen_follow.go)
	dc := &ipcpb.DNSConfig{
		CacheSize:         uint32(cfg.CacheSize),
		LogQueries:        cfg.LogQueries,
		AllowedIfindexes:  allowedIfs,
		ExcludedIfindexes: excludedIfs,
		Generation:        d.generation,
	}
	applyCacheConfig(cfg, dc)          // area B: cache options and epoch
	applyUpstreamPolicy(cfg, dc)       // area C: strict-order, forward-max, ports (dns_upstream.go)
	applyFilters(cfg, dc, log)         // area D: filters, client options, CHAOS, log format
	d.loadLocal(cfg, dc, entries, log) // area A: local-data fields, expand-hosts, local tables
	// issue 5: the socket-filter mode (sockfilter.go)
	dc.SocketFilter = socketFilterMode(cfg)
	dc.NoCaseRandomization = cfg.No0x20Encode // issue 5: no-0x20-encode
	if plan.wildcard {
		for _, a := range allowed {
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
	if err := d.sendUpstreams(conn); err != nil { // area C: the server list (dns_upstream.go)
		return err
	}
	if err := d.sendLocal(conn); err != nil { // area A: local tables before hosts (dns_localdata.go)
		return err
	}
	if err := d.sendLeaseNames(conn); err != nil { // issue 4: lease names before hosts (dhcpnames.go)
		return err
	}
	if err := ipc.SendHosts(conn, gen, entries); err != nil {
		return fmt.Errorf("send hosts: %w", err)
	}
	return nil
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
			// dnsmasq's filter: no dotfiles, "name~" or "#name#" (dns_hostsdir.go).
			files = append(files, hostsDirFiles(p, log)...)
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
