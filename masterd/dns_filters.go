package masterd

import (
	"fmt"
	"net"
	"net/netip"
	"sort"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/internal/config"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// minEDNSPacket is where dnsmasq raises a smaller edns-packet-max to (the
// classic 512-byte limit).
const minEDNSPacket = 512

// applyFilters fills dc's area D fields from cfg: the query and reply
// filters, local-service with the local networks, the client options, the
// version for CHAOS version.bind and the log-queries format.
func applyFilters(cfg *config.Config, dc *ipcpb.DNSConfig, log *logger) {
	f := cfg.Filters
	dc.EdnsPacketMax = uint32(max(f.EDNSPacketMax, minEDNSPacket))
	dc.DomainNeeded = f.DomainNeeded
	dc.BogusPriv = f.BogusPriv
	dc.BogusNxdomain = prefixStrings(f.BogusNXDomain)
	dc.IgnoreAddress = prefixStrings(f.IgnoreAddress)
	dc.StopDnsRebind = f.StopDNSRebind
	dc.RebindLocalhostOk = f.RebindLocalhostOK
	dc.RebindDomainOk = f.RebindDomainOK
	dc.Filterwin2K = f.FilterWin2k
	dc.FilterRr = filterTypes(f)
	dc.LocalService = localServiceMode(cfg)
	if dc.LocalService == ipcpb.LocalService_LOCAL_SERVICE_NET {
		nets, err := localNetworks()
		if err != nil {
			// Loopback clients are still answered; the refresher
			// (stats.go) tries again.
			log.printf("master", "local-service: %v", err)
		}
		dc.LocalNetworks = nets
	}
	dc.AddMac, dc.AddMacBase64, dc.AddMacText = f.AddMAC, f.AddMACBase64, f.AddMACText
	if f.AddSubnet.Enabled {
		dc.AddSubnet = &ipcpb.ClientSubnet{V4: subnetSource(f.AddSubnet.V4), V6: subnetSource(f.AddSubnet.V6)}
	}
	dc.NoIdent = f.NoIdent
	dc.LogExtra = cfg.LogQueries && cfg.LogQueriesExtra == "extra"
	dc.Version = "moat-" + Version
}

// localServiceMode is local-service as dnsmasq applies it: only when no
// interface, except-interface or listen-address option says where to
// listen.
func localServiceMode(cfg *config.Config) ipcpb.LocalService {
	if len(cfg.Interfaces) > 0 || len(cfg.ExceptInterfaces) > 0 || len(cfg.ListenAddresses) > 0 {
		return ipcpb.LocalService_LOCAL_SERVICE_OFF
	}
	switch cfg.Filters.LocalService {
	case "net":
		return ipcpb.LocalService_LOCAL_SERVICE_NET
	case "host":
		return ipcpb.LocalService_LOCAL_SERVICE_HOST
	}
	return ipcpb.LocalService_LOCAL_SERVICE_OFF
}

func prefixStrings(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// filterTypes merges filter-rr, filter-A and filter-AAAA.
func filterTypes(f config.DNSFilters) []uint32 {
	var out []uint32
	add := func(t uint16) {
		for _, x := range out {
			if x == uint32(t) {
				return
			}
		}
		out = append(out, uint32(t))
	}
	for _, t := range f.FilterRR {
		add(t)
	}
	if f.FilterA {
		add(dns.TypeA)
	}
	if f.FilterAAAA {
		add(dns.TypeAAAA)
	}
	return out
}

func subnetSource(s config.SubnetSource) *ipcpb.SubnetSource {
	if !s.Set {
		return nil
	}
	out := &ipcpb.SubnetSource{Bits: uint32(s.Bits)}
	if s.Addr.IsValid() {
		out.Address = s.Addr.AsSlice()
	}
	return out
}

// localNetworks lists the networks of every address of every interface
// that is up ("192.168.1.0/24", "fe80::/64"): the clients local-service
// answers. dnsd cannot list interfaces itself (netlink is not in its
// seccomp allow-list).
func localNetworks() ([]string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	seen := map[netip.Prefix]bool{}
	var out []string
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ones, _ := ipn.Mask.Size()
			ip = ip.Unmap()
			if ip.Is4() && ones > 32 {
				ones -= 96
			}
			p, err := ip.Prefix(ones)
			if err != nil || seen[p] {
				continue
			}
			seen[p] = true
			out = append(out, p.String())
		}
	}
	sort.Strings(out)
	return out, nil
}
