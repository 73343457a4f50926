package masterd

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// dhcpData is what dhcpd is told: the DHCP part of the configuration as
// option text (config.DHCPText), which dhcpd parses again with
// config.ParseText, and the text of the dhcp-hostsfile files and
// /etc/ethers, which the master reads. dhcpd opens none of them.
//
// It is streamed to dhcpd (ipc.SendDHCPConfig: begin, chunks, end), so
// the texts together may be up to ipc.MaxDHCPConfigBytes (64 MiB, a few
// hundred thousand dhcp-host lines); a configuration over it is refused
// at start (and on SIGHUP the old data is kept), with a message saying so.
type dhcpData struct {
	mu         sync.Mutex
	generation uint64
	config     *ipcpb.DHCPConfig
	hosts      []config.DHCPHost // every dhcp-host: configuration, then files
	hostAddrs  map[netip.Addr]bool
}

// hasHostAddr says whether a dhcp-host of the current generation has
// address a: the master accepts such a lease outside every dhcp-range.
func (d *dhcpData) hasHostAddr(a netip.Addr) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hostAddrs[a]
}

// load (re)reads the hosts files and /etc/ethers and builds the next
// generation. A file that cannot be read is logged and left out, and so
// are bad lines, as dnsmasq does.
func (d *dhcpData) load(cfg *config.Config, log *logger) error {
	text := cfg.DHCPText()
	// dhcpd will parse this text; a printer bug must stop the master at
	// start, not crash-loop the worker.
	if _, err := config.ParseText("dhcp", text); err != nil {
		return fmt.Errorf("dhcp configuration for dhcpd does not parse back: %w", err)
	}
	dc := &ipcpb.DHCPConfig{Options: text}
	var files []config.DHCPFileText
	for _, p := range cfg.DHCP.HostsFiles {
		data, err := readBounded(p)
		if err != nil {
			log.printf("master", "failed to read dhcp-hostsfile %s: %v", p, err)
			continue
		}
		files = append(files, config.DHCPFileText{Name: p, Text: string(data)})
		dc.HostsFiles = append(dc.HostsFiles, &ipcpb.NamedText{Name: p, Text: string(data)})
	}
	var ethers *config.DHCPFileText
	if cfg.DHCP.ReadEthers {
		data, err := readBounded(config.DefaultEthersFile)
		if err != nil {
			log.printf("master", "failed to read %s: %v", config.DefaultEthersFile, err)
		} else {
			ethers = &config.DHCPFileText{Name: config.DefaultEthersFile, Text: string(data)}
			dc.Ethers = &ipcpb.NamedText{Name: ethers.Name, Text: ethers.Text}
		}
	}
	hosts, problems := config.DHCPFileHosts(cfg.DHCP.Hosts, files, ethers)
	for _, p := range problems {
		log.printf("master", "%v", p)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	dc.Generation = d.generation + 1
	if err := ipc.CheckDHCPConfig(dc); err != nil {
		return fmt.Errorf("dhcp configuration and hosts files for dhcpd: %w", err)
	}
	d.generation++
	d.config = dc
	d.hosts = append(slices.Clone(cfg.DHCP.Hosts), hosts...)
	d.hostAddrs = map[netip.Addr]bool{}
	for _, h := range d.hosts {
		if h.Addr.IsValid() {
			d.hostAddrs[h.Addr] = true
		}
	}
	log.printf("master", "dhcp configuration generation %d: %d hosts from files", d.generation, len(hosts))
	return nil
}

// send gives dhcpd the current generation, streamed: dhcpd swaps it in
// when the stream's end arrives.
func (d *dhcpData) send(conn *ipc.Conn) error {
	d.mu.Lock()
	dc := d.config
	d.mu.Unlock()
	if err := ipc.SendDHCPConfig(conn, dc); err != nil {
		return fmt.Errorf("send dhcp config: %w", err)
	}
	return nil
}
