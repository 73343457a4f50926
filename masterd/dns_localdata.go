package masterd

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/hosts"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// localData is area A's part of what dnsd is told: the records built from
// the configuration (TABLE_LOCAL_RECORDS, rebuilt on every load) and the
// data the master watches (TABLE_LOCAL_DYNAMIC: hostsdir files, interface
// addresses), which it re-sends on its own when they change. dnsData.mu
// guards it.
type localData struct {
	// TABLE_LOCAL_RECORDS is rebuilt from cfg at each send rather than
	// kept: an address= list of 100,000 lines is 25 MB of messages, and
	// a send happens at start, reload and worker restart only.
	domain, host string
	// The dynamic table is dirRecs (hostsdir files) then ifaceRecs
	// (interface-name, localise-queries subnets), rebuilt separately.
	dirRecs, ifaceRecs []*ipcpb.LocalRecord
	dynGen             uint64

	// What the dynamic table is rebuilt from.
	cfg     *config.LocalData
	domains *domainResolver

	// sendMu orders the dynamic table's sends: a snapshot taken later is
	// never overtaken by an older one.
	sendMu sync.Mutex
}

// dynamic is TABLE_LOCAL_DYNAMIC's content.
func (l *localData) dynamic() []*ipcpb.LocalRecord {
	out := make([]*ipcpb.LocalRecord, 0, len(l.dirRecs)+len(l.ifaceRecs))
	return append(append(out, l.dirRecs...), l.ifaceRecs...)
}

// loadLocal builds area A's part of a new generation: the DNSConfig
// fields, expand-hosts on the hosts entries (in place), and both local
// tables. d.mu is held. Problems dnsmasq logs and skips are logged and
// skipped.
func (d *dnsData) loadLocal(cfg *config.Config, dc *ipcpb.DNSConfig, entries []*ipcpb.HostEntry, log *logger) {
	l := &cfg.Local
	dc.LocalTtl = l.LocalTTL
	dc.LocaliseQueries = l.LocaliseQueries
	dc.SelfMx, dc.LocalMx = l.SelfMX, l.LocalMX
	host := hostName(log)
	if l.LocalMX || l.SelfMX {
		dc.MxTarget = l.MXTarget
		if dc.MxTarget == "" {
			dc.MxTarget = host
		}
	}
	res := newDomainResolver(cfg, log)
	if l.ExpandHosts {
		for _, e := range entries {
			if a, ok := netip.AddrFromSlice(e.GetAddress()); ok {
				e.Names = expandNames(e.GetNames(), res.domainFor(a))
			}
		}
	}
	d.local.cfg, d.local.domains = l, res
	d.local.domain, d.local.host = res.defaultDomain, host
	n := len(buildRecords(l, res.defaultDomain, host, log)) // logs problems once
	d.local.dirRecs = readHostsDirs(l, res, log)
	d.local.ifaceRecs = interfaceRecords(l, log)
	d.local.dynGen++
	if n > bigLocalTable {
		// Parsing a long address= list leaves much garbage; give it back
		// rather than keep it as heap headroom for the whole run.
		go debug.FreeOSMemory()
	}
}

// bigLocalTable is the record count above which a load is followed by
// returning freed memory to the kernel.
const bigLocalTable = 20_000

// sendLocal streams both local tables; dnsd installs them before the
// hosts table that follows, so it never answers with half the data.
func (d *dnsData) sendLocal(conn *ipc.Conn) error {
	d.local.sendMu.Lock()
	defer d.local.sendMu.Unlock()
	d.mu.Lock()
	var recs []*ipcpb.LocalRecord
	if d.local.cfg != nil {
		recs = buildRecords(d.local.cfg, d.local.domain, d.local.host, nil)
	}
	dyn, gen, dynGen := d.local.dynamic(), d.generation, d.local.dynGen
	d.mu.Unlock()
	if err := ipc.SendLocalRecords(conn, ipcpb.Table_TABLE_LOCAL_RECORDS, gen, recs); err != nil {
		return fmt.Errorf("send local records: %w", err)
	}
	if err := ipc.SendLocalRecords(conn, ipcpb.Table_TABLE_LOCAL_DYNAMIC, dynGen, dyn); err != nil {
		return fmt.Errorf("send local dynamic records: %w", err)
	}
	if len(recs) > bigLocalTable {
		go debug.FreeOSMemory() // the table was garbage once sent
	}
	return nil
}

// hostName is the machine's name, the default MX target as in dnsmasq.
func hostName(log *logger) string {
	h, err := os.Hostname()
	if err != nil {
		log.printf("master", "cannot get host-name: %v", err)
		return ""
	}
	name, ok := hosts.CanonicalName(h)
	if !ok {
		return ""
	}
	return name
}

// expandNames is expand-hosts for one hosts line: every name without a
// dot also gets name.domain, listed before it (so that PTR answers the
// qualified name, as in dnsmasq).
func expandNames(names []string, domain string) []string {
	if domain == "" {
		return names
	}
	out := make([]string, 0, 2*len(names))
	for _, n := range names {
		if !strings.Contains(n, ".") && len(n)+1+len(domain) <= hosts.MaxNameLen && len(out) < maxLocalNames-1 {
			out = append(out, n+"."+domain)
		}
		if len(out) < maxLocalNames {
			out = append(out, n)
		}
	}
	return out
}

// maxLocalNames is ipc's limit of names per hosts line.
const maxLocalNames = 256

// domainResolver answers dnsmasq's get_domain(): the domain= rule whose
// range holds an address (the last such line wins), else the default.
type domainResolver struct {
	rules         []config.DomainRule
	ifaceNets     map[int][]netip.Prefix // rule index -> subnets of its interface
	defaultDomain string
}

func newDomainResolver(cfg *config.Config, log *logger) *domainResolver {
	r := &domainResolver{rules: cfg.Local.Domains, ifaceNets: map[int][]netip.Prefix{}}
	r.defaultDomain = cfg.Local.DefaultDomain()
	if r.defaultDomain == "#" {
		r.defaultDomain = resolvSearchDomain(cfg, log)
	}
	for i, rule := range r.rules {
		if rule.Interface == "" {
			continue
		}
		nets, err := interfacePrefixes(rule.Interface)
		if err != nil {
			log.printf("master", "domain=%s,%s: %v", rule.Domain, rule.Interface, err)
		}
		r.ifaceNets[i] = nets
	}
	return r
}

func (r *domainResolver) domainFor(a netip.Addr) string {
	a = a.Unmap()
	for i := len(r.rules) - 1; i >= 0; i-- {
		rule := r.rules[i]
		if rule.Contains(a) {
			return rule.Domain
		}
		for _, p := range r.ifaceNets[i] {
			if p.Contains(a) {
				return rule.Domain
			}
		}
	}
	return r.defaultDomain
}

// resolvSearchDomain is domain=#: the first search directive of the only
// resolv-file.
func resolvSearchDomain(cfg *config.Config, log *logger) string {
	if cfg.NoResolv || len(cfg.ResolvFiles) != 1 {
		log.printf("master", "domain=#: must have exactly one resolv.conf to read domain from")
		return ""
	}
	data, err := readBounded(cfg.ResolvFiles[0])
	if err != nil {
		log.printf("master", "domain=#: failed to read %s: %v", cfg.ResolvFiles[0], err)
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "search" {
			if d, ok := hosts.CanonicalName(f[1]); ok {
				return d
			}
		}
	}
	log.printf("master", "domain=#: no search directive found in %s", cfg.ResolvFiles[0])
	return ""
}

// interfacePrefixes lists the addresses of an interface with their prefix
// lengths.
func interfacePrefixes(name string) ([]netip.Prefix, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if p, ok := prefixOf(a); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// prefixOf turns an interface address into address/prefix-length.
func prefixOf(a net.Addr) (netip.Prefix, bool) {
	ipn, ok := a.(*net.IPNet)
	if !ok {
		return netip.Prefix{}, false
	}
	addr, ok := netip.AddrFromSlice(ipn.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := ipn.Mask.Size()
	addr = addr.Unmap()
	return netip.PrefixFrom(addr, ones), true
}

// readHostsDirs reads every hostsdir's files, in order.
func readHostsDirs(l *config.LocalData, res *domainResolver, log *logger) []*ipcpb.LocalRecord {
	var out []*ipcpb.LocalRecord
	for _, dir := range l.HostsDirs {
		for _, f := range hostsDirFiles(dir, log) {
			out = append(out, readHostsDirFile(f, l.ExpandHosts, res, log)...)
		}
	}
	return out
}

// interfaceRecords lists what the master learns from the interfaces:
// interface-name addresses and, for localise-queries, every local IPv4
// address with its prefix length. log is nil when polling, so that a
// missing interface is reported once per load, not every poll.
func interfaceRecords(l *config.LocalData, log *logger) []*ipcpb.LocalRecord {
	var out []*ipcpb.LocalRecord
	for _, in := range l.InterfaceNames {
		out = append(out, interfaceNameRecords(in, log)...)
	}
	if l.LocaliseQueries {
		out = append(out, localPrefixRecords(log)...)
	}
	return out
}

func readHostsDirFile(path string, expand bool, res *domainResolver, log *logger) []*ipcpb.LocalRecord {
	data, err := readBounded(path)
	if err != nil {
		log.printf("master", "failed to load names from %s: %v", path, err)
		return nil
	}
	entries, problems := hosts.Parse(path, data)
	for _, p := range problems {
		log.printf("master", "%v", p)
	}
	out := make([]*ipcpb.LocalRecord, 0, len(entries))
	n := 0
	for _, e := range entries {
		names := e.Names
		if expand {
			names = expandNames(names, res.domainFor(e.Addr))
		}
		if len(names) > maxLocalNames {
			names = names[:maxLocalNames]
		}
		n += len(names)
		out = append(out, &ipcpb.LocalRecord{Source: path, Host: &ipcpb.LocalHost{
			Kind: ipcpb.LocalHost_KIND_HOSTS_DIR, Address: e.Addr.AsSlice(), Names: names,
		}})
	}
	log.printf("master", "read %s - %d names", path, n)
	return out
}

// interfaceNameRecords gives interface-name's name the interface's
// addresses (link-local IPv6 excluded, as dnsmasq does); an interface
// with none still names the name, with no address.
func interfaceNameRecords(in config.InterfaceName, log *logger) []*ipcpb.LocalRecord {
	var out []*ipcpb.LocalRecord
	add := func(addr []byte) {
		out = append(out, &ipcpb.LocalRecord{Source: "config", Host: &ipcpb.LocalHost{
			Kind: ipcpb.LocalHost_KIND_INTERFACE_NAME, Address: addr, Names: []string{in.Name},
		}})
	}
	prefixes, err := interfacePrefixes(in.Interface)
	if err != nil && log != nil {
		log.printf("master", "interface-name=%s,%s: %v", in.Name, in.Interface, err)
	}
	for _, p := range prefixes {
		a := p.Addr()
		switch {
		case a.Is6() && a.IsLinkLocalUnicast():
		case a.Is4() && in.Family == 6, a.Is6() && in.Family == 4:
		default:
			add(a.AsSlice())
		}
	}
	if len(out) == 0 {
		add(nil)
	}
	return out
}

// localPrefixRecords lists every local IPv4 address with its prefix
// length: localise-queries answers with the addresses in the subnet of the
// address a query was sent to (dnsmasq does this for IPv4 only).
func localPrefixRecords(log *logger) []*ipcpb.LocalRecord {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		if log != nil {
			log.printf("master", "localise-queries: list addresses: %v", err)
		}
		return nil
	}
	var out []*ipcpb.LocalRecord
	for _, a := range addrs {
		if p, ok := prefixOf(a); ok && p.Addr().Is4() {
			out = append(out, &ipcpb.LocalRecord{LocalPrefix: p.String()})
		}
	}
	return out
}
