// Package config owns moat's configuration language, which is dnsmasq's:
// option=value lines in files (conf-file, conf-dir) and the same long and
// short options on the command line. Parsing is pure: it produces an
// immutable, validated Config or an error reading "file:line: option: what
// is wrong". An option moat does not implement is an error that names it.
//
// The option table (Options) is the single source of truth for option
// names, short letters, argument kinds and help text; the man page and
// --help are generated from it.
package config

import "net/netip"

// Server is one server= / local= entry.
type Server struct {
	// Domains the entry applies to (server=/a/b/...); empty = every name.
	// The empty-string element stands for "//" (unqualified names).
	// Domains are lower case, without a trailing dot.
	Domains []string
	// Addr is the upstream; invalid (zero) for local=/dom/ and server=/dom/
	// with no address, which mean "answer from local data only", and for
	// server=/dom/# (see UseStandard).
	Addr netip.AddrPort
	// UseStandard marks server=/dom/#: names under Domains go to the
	// ordinary upstream servers (those without domains and resolv-file's),
	// overriding a more general server=/.../ rule. Addr is invalid.
	UseStandard bool
	// Bind is the @source-ip / @interface part (server.go).
	Bind ServerBind
	// RevPrefix is the prefix of a rev-server= entry, whose Domains are
	// the prefix's reverse zones; invalid for server= and local=.
	RevPrefix netip.Prefix
	// Source is "file:line" or "command line" for messages.
	Source string
}

// Local reports whether the entry means "never forward these domains".
func (s Server) Local() bool { return !s.Addr.IsValid() && !s.UseStandard }

// Config is one parsed and validated configuration. Parse starts from
// Defaults(), so every field holds the value in effect; the comment on each
// field gives the default.
type Config struct {
	Port             int           // port (-p); default 53; 0 disables DNS
	ListenAddresses  []netip.Addr  // listen-address (-a); no zones
	Interfaces       []string      // interface (-i); may end in '*'; "" = "interface=" with no name: loopback only
	ExceptInterfaces []string      // except-interface (-I); may end in '*'
	BindInterfaces   bool          // bind-interfaces (-z)
	Servers          []Server      // server (-S), local: in file order
	NoResolv         bool          // no-resolv (-R)
	ResolvFiles      []string      // resolv-file (-r); default [/etc/resolv.conf]; empty after a bare "resolv-file" (read none)
	CacheSize        int           // cache-size (-c); default 150; 0 disables; at most MaxCacheSize
	NoHosts          bool          // no-hosts (-h)
	AddnHosts        []string      // addn-hosts (-H)
	User             string        // user (-u); default "nobody"; "" after "user" with no value (dnsmasq: do not change user)
	Group            string        // group (-g); default "": the user's group
	KeepInForeground bool          // keep-in-foreground (-k)
	NoDaemon         bool          // no-daemon (-d): foreground, log to stderr
	LogQueries       bool          // log-queries (-q)
	LogQueriesExtra  string        // log-queries=extra or log-queries=proto: "extra", "proto" or ""
	LogFacility      string        // log-facility (-8): facility name (lower case), file path (contains '/') or "-"; default "" (DAEMON)
	PidFile          string        // pid-file (-x); default /run/moatd.pid; "" after "pid-file" with no value = none
	DHCP             DHCPConfig    // dhcp-range, dhcp-host, dhcp-option, ... (dhcp_config.go)
	Filters          DNSFilters    // domain-needed, bogus-priv, filter-*, add-subnet, ... (dns_filters.go)
	Cache            DNSCache      // no-negcache, neg-ttl, min/max-cache-ttl, max-ttl, use-stale-cache, ... (dns_cache.go)
	Upstream         DNSUpstream   // strict-order, all-servers, dns-forward-max, ports, ... (dns_upstream.go)
	Local            LocalData     // hosts, host-record, cname, srv/txt/mx/ptr/naptr/caa/dns-rr, address=, domain, ... (dns_localdata.go)
	Runtime          RunOptions    // bind-dynamic, log-async (runtime_options.go)
	Compat           CompatOptions // enable-dbus, dnssec, ipset, ...: accepted, not acted on, warned about (compat_options.go)

	// Actions: command line only, never printed by String.
	Test         bool // test: check the configuration and exit
	CheckSandbox bool // check-sandbox: start each role, prove its sandbox, exit
	PrintConfig  bool // print-config: print the normalized configuration and exit
	Help         bool // help (-w): print usage and exit; Parse stops reading at it
	Version      bool // version (-v): print the version and exit; Parse stops reading at it

	// moat's own options (not dnsmasq's).
	RunDir string // run-dir: where the master keeps its empty chroot directory; "" = the master's default (DefaultRunDir as root)

	// SocketFilter (socket-filter): auto (""), ebpf, classic or off
	// (sockfilter.go).
	SocketFilter string
	// No0x20Encode (no-0x20-encode) turns dnsd's 0x20 off; Do0x20Encode
	// (do-0x20-encode) is accepted, moat's default (case0x20.go).
	No0x20Encode, Do0x20Encode bool

	// Control (control-socket, control-group, metrics): moatctl's
	// control socket and the metrics endpoint (control.go, issue 6).
	Control ControlOptions

	// Roles (dns-user, dhcp-user): each worker's own user; "" is
	// user='s (role_users.go, issue 7).
	Roles RoleUsers

	// Files lists every configuration file read, in order.
	Files []string
}

// DefaultPort, DefaultCacheSize and friends are dnsmasq's defaults (the pid
// file and run directory are moat's).
const (
	DefaultPort       = 53
	DefaultCacheSize  = 150
	DefaultUser       = "nobody"
	DefaultPidFile    = "/run/moatd.pid"
	DefaultResolvFile = "/etc/resolv.conf"
	DefaultHostsFile  = "/etc/hosts"
	DefaultRunDir     = "/run/moatd"

	// MaxCacheSize is dnsmasq's ceiling (it silently clamps larger values;
	// moat reports them instead).
	MaxCacheSize = 5000000
)

// Defaults returns the configuration in effect when no option is given.
// RunDir stays "": the master picks the directory, which depends on
// whether it runs as root.
func Defaults() *Config {
	return &Config{
		Port:        DefaultPort,
		ResolvFiles: []string{DefaultResolvFile},
		CacheSize:   DefaultCacheSize,
		User:        DefaultUser,
		PidFile:     DefaultPidFile,
		Filters:     DefaultDNSFilters(),
		Upstream:    DefaultDNSUpstream(),
		DHCP:        DefaultDHCPConfig(),
	}
}
