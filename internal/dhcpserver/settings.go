package dhcpserver

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/dhcpopts"
	"github.com/moatdns/moat/internal/leases"
)

// Settings is what an Engine is built from.
type Settings struct {
	// Config is the DHCP part of the configuration, read in New. The
	// engine shares its lists: like every Config, it must not change.
	Config *config.DHCPConfig
	// Hosts are dhcp-host entries from files (dhcp-hostsfile,
	// /etc/ethers) that the master read; they come after Config.Hosts.
	Hosts []config.DHCPHost
	// Domain returns the DHCP domain of an address (dnsmasq's
	// get_domain: the domain= line whose range holds it, else the
	// default domain), "" for none. nil: no domain. DomainsFromConfig
	// builds one.
	Domain func(netip.Addr) string
	// LookupHost returns the address of a name in the local hosts data,
	// for dhcp-boot's TFTP server given by name; nil or an invalid
	// result: siaddr stays 0.0.0.0, as dnsmasq leaves it.
	LookupHost func(name string) netip.Addr
	// NoDNSOption: this server's DNS does not answer on port 53, so do not
	// offer it as the DNS server (option 6) by default, as dnsmasq does
	// when port is not 53.
	NoDNSOption bool
	// MaxProbes bounds the pings in flight. Past it the engine offers
	// without pinging, as dnsmasq does under load. 0: DefaultMaxProbes.
	MaxProbes int
	// Seed seeds the T1/T2 jitter of renewals (dnsmasq's rand16); tests
	// fix it.
	Seed uint64
	// Logf receives one line per exchange, like dnsmasq's DHCP log
	// (nil: none). quiet-dhcp and log-dhcp shape what is logged.
	Logf func(format string, args ...any)
}

// DefaultMaxProbes is the default bound on pings in flight. An echo
// request to an address nobody answers holds an incomplete entry in the
// kernel's neighbour (ARP) table for the whole wait, and that table is
// shared by every network namespace and full at 1024 entries by default
// (net.ipv4.neigh.default.gc_thresh3): past it the kernel drops packets
// to neighbours it must resolve again, replies to relays included. Half
// of it leaves room for the host's real neighbours; at dnsmasq's 3 s
// wait that is about 170 probed offers a second, and offers beyond go
// out unprobed at once.
const DefaultMaxProbes = 512

// rangeInfo is one dhcp-range and its allocation state.
type rangeInfo struct {
	cfg config.DHCPRange
	// pool is what the allocator sees; its Netmask is set per request
	// to the network's (dnsmasq too adjusts a range's netmask when it
	// learns it from the interface).
	pool  leases.Pool
	lease uint32 // seconds, or 0xffffffff
}

// hostInfo is what a dhcp-host holds besides what leases.Host has.
type hostInfo struct {
	lease   uint32 // 0: the range's
	setTags []string
	name    string
	domain  string
	noClid  bool // id:*
}

// option is one dhcp-option or dhcp-option-force line.
type option struct {
	dhcpopts.Spec
	force bool
}

// compiled is the configuration in the shape the engine uses. dnsmasq
// keeps dhcp-option and dhcp-boot lines newest first (a later duplicate
// wins, configured options go out in that order), so these lists are
// reversed; ranges and tag-if keep the configuration's order.
type compiled struct {
	ranges    []*rangeInfo
	hosts     []leases.Host
	hostIndex *leases.HostIndex // finds a client's host among hosts
	hostInfo  []hostInfo
	options   []option
	matches   []dhcpopts.Spec
	classes   []config.DHCPClassMatch
	macs      []config.DHCPMACMatch
	names     []config.DHCPNameMatch
	tagIfs    []leases.TagIf
	boots     []config.DHCPBoot
	ignore    []config.Tags
	ignoreNm  []config.Tags
	genNames  []config.Tags
	bcast     []config.Tags
	noIfaces  []string
	flags     config.DHCPConfig // the scalar settings (lists unused)
}

func compile(s *Settings) (*compiled, error) {
	d := s.Config
	if d == nil {
		return nil, errors.New("no DHCP configuration")
	}
	c := &compiled{flags: *d}
	c.flags.Ranges, c.flags.Hosts, c.flags.Options = nil, nil, nil
	if c.flags.LeaseMax <= 0 {
		c.flags.LeaseMax = config.DefaultLeaseMax
	}
	for _, r := range d.Ranges {
		if !r.Start.Is4() || !r.End.Is4() {
			return nil, fmt.Errorf("dhcp-range %s-%s: not IPv4", r.Start, r.End)
		}
		ri := &rangeInfo{cfg: r, lease: uint32(r.LeaseOrDefault())}
		ri.pool = leases.Pool{Start: r.Start, End: r.End, Netmask: r.Netmask, Tags: r.Tags, Static: r.Static}
		c.ranges = append(c.ranges, ri)
	}
	c.compileHosts(d.Hosts, s.Hosts)
	for i := len(d.Options) - 1; i >= 0; i-- {
		c.options = append(c.options, option{Spec: d.Options[i].Spec, force: d.Options[i].Force})
	}
	for i := len(d.Boot) - 1; i >= 0; i-- {
		c.boots = append(c.boots, d.Boot[i])
	}
	c.matches = d.Matches
	c.classes = d.Classes
	c.macs = d.MACs
	c.names = d.NameMatches
	for _, t := range d.TagIfs {
		c.tagIfs = append(c.tagIfs, leases.TagIf{Set: t.Set, If: t.Tags})
	}
	c.ignore, c.ignoreNm, c.genNames, c.bcast = d.Ignore, d.IgnoreNames, d.GenerateNames, d.Broadcast
	c.noIfaces = d.NoInterfaces
	return c, nil
}

// compileHosts gives the allocator its view of the configuration's
// dhcp-host lines, then of the hosts from files, in that order. A
// hosts file may hold 100,000 hosts or more, built at start and on
// every SIGHUP: the lists are not concatenated first (a copy of every
// host), and the hosts' hardware addresses share one slice. The index
// built here spares every request a walk of all the hosts.
func (c *compiled) compileHosts(lists ...[]config.DHCPHost) {
	n, hws := 0, 0
	for _, l := range lists {
		n += len(l)
		for i := range l {
			hws += len(l[i].HWAddrs)
		}
	}
	c.hosts = make([]leases.Host, n)
	c.hostInfo = make([]hostInfo, n)
	hwAddrs := make([]leases.HWAddr, hws)
	i := 0
	for _, l := range lists {
		for j := range l {
			h := &l[j]
			out := &c.hosts[i]
			*out = leases.Host{ClientID: h.ClientID, IgnoreClientID: h.IgnoreClientID, Name: h.Name,
				Addr: h.Addr, Tags: h.Tags, Ignore: h.Ignore}
			if k := len(h.HWAddrs); k > 0 {
				// Full slice expression: an append to one host's list
				// must not overwrite the next host's.
				out.HWAddrs, hwAddrs = hwAddrs[:k:k], hwAddrs[k:]
				for m, hw := range h.HWAddrs {
					out.HWAddrs[m] = leases.HWAddr{Type: hw.Type, Addr: hw.Addr, Wild: hw.Wild}
				}
			}
			c.hostInfo[i] = hostInfo{lease: uint32(h.Lease), setTags: h.SetTags, name: h.Name, domain: h.Domain, noClid: h.IgnoreClientID}
			i++
		}
	}
	c.hostIndex = leases.NewHostIndex(c.hosts)
}

// SettingsFromConfig fills the Settings that the configuration decides:
// the DHCP options, the DHCP domain of addresses, and whether this
// server's DNS is on port 53 (and so offered as option 6).
func SettingsFromConfig(cfg *config.Config) Settings {
	return Settings{Config: &cfg.DHCP, Domain: DomainsFromConfig(&cfg.Local), NoDNSOption: cfg.Port != config.DefaultPort}
}

// DomainsFromConfig returns dnsmasq's get_domain for the domain= lines
// of local: the domain of the last line whose subnet or address range
// holds the address, else the default domain. Lines that name an
// interface, and "#" (resolv-file's search domain), the master has to
// resolve: they give no domain here.
func DomainsFromConfig(local *config.LocalData) func(netip.Addr) string {
	rules := slices.Clone(local.Domains)
	def := local.DefaultDomain()
	if def == "#" {
		def = ""
	}
	return func(a netip.Addr) string {
		for i := len(rules) - 1; i >= 0; i-- {
			if r := rules[i]; !r.Plain() && r.Domain != "#" && r.Contains(a) {
				return r.Domain
			}
		}
		return def
	}
}

// ifaceExcluded reports whether no-dhcp-interface names the interface
// (a final '*' matches any suffix).
func (c *compiled) ifaceExcluded(name string) bool {
	for _, n := range c.noIfaces {
		if p, wild := strings.CutSuffix(n, "*"); wild && strings.HasPrefix(name, p) || n == name {
			return true
		}
	}
	return false
}

// newRand returns the engine's jitter source.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
