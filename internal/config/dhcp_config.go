package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/moatdns/moat/internal/dhcpopts"
)

// DHCPConfig holds the DHCPv4 server options (files dhcp_*.go). Lists
// keep the order of the configuration. dnsmasq keeps dhcp-option and
// dhcp-boot lines newest first, so of two lines for the same option the
// later one wins (internal/dhcpserver applies that); tag-if lines see the
// tags set by earlier ones.
type DHCPConfig struct {
	Ranges        []DHCPRange      // dhcp-range (-F); DHCP is on when there is one
	Hosts         []DHCPHost       // dhcp-host (-G)
	HostsFiles    []string         // dhcp-hostsfile: files or directories of dhcp-host lines (ReadDHCPHosts), re-read on SIGHUP
	ReadEthers    bool             // read-ethers (-Z): /etc/ethers (ReadEthers), re-read on SIGHUP
	Options       []DHCPOption     // dhcp-option (-O) and dhcp-option-force
	Matches       []dhcpopts.Spec  // dhcp-match: Tags[0] is the tag to set
	Classes       []DHCPClassMatch // dhcp-vendorclass (-U), dhcp-userclass (-j), dhcp-circuitid, dhcp-remoteid
	MACs          []DHCPMACMatch   // dhcp-mac (-4)
	NameMatches   []DHCPNameMatch  // dhcp-name-match
	TagIfs        []DHCPTagIf      // tag-if
	Ignore        []Tags           // dhcp-ignore (-J): ignore clients that have all the tags of one entry
	IgnoreNames   []Tags           // dhcp-ignore-names: ignore client-supplied names; an empty entry: always
	GenerateNames []Tags           // dhcp-generate-names: name nameless clients after their MAC; empty: always
	Broadcast     []Tags           // dhcp-broadcast: always broadcast replies; empty: always
	Boot          []DHCPBoot       // dhcp-boot (-M)
	NoInterfaces  []string         // no-dhcp-interface (-2): DNS only there; may end in '*'

	IgnoreClientID bool // dhcp-ignore-clid: identify clients by MAC only
	Authoritative  bool // dhcp-authoritative (-K)
	RapidCommit    bool // dhcp-rapid-commit (RFC 4039)
	NoOverride     bool // dhcp-no-override: never move boot data into the sname/file fields
	Sequential     bool // dhcp-sequential-ip: lowest free address instead of a hash of the MAC
	NoPing         bool // no-ping (-5): no ICMP check before offering an address
	Log            bool // log-dhcp: log options and tags of each exchange
	Quiet          bool // quiet-dhcp: do not log routine exchanges

	LeaseMax    int    // dhcp-lease-max (-X); default DefaultLeaseMax
	LeaseFile   string // dhcp-leasefile (-l), alias dhcp-lease; default DefaultLeaseFile, or beside pid-file with leasefile-ro (instanceLeaseFile)
	LeaseFileRO bool   // leasefile-ro (-9): keep no lease file (the journal is still kept)
	Script      string // dhcp-script (-6): absolute path run on lease changes; "" none
	// ScriptUser is dhcp-scriptuser. dnsmasq runs the script as root by
	// default; moat never does unless ScriptUser is "root": "" means the
	// master picks an unprivileged user.
	ScriptUser string
}

// DHCP defaults. The lease file is moat's own, so that moat and dnsmasq
// can be installed side by side; dnsmasq's is /var/lib/misc/dnsmasq.leases.
const (
	DefaultLeaseMax  = 1000
	DefaultLeaseFile = "/var/lib/misc/moatd.leases"
	// DefaultLeaseTime applies to a dhcp-range without a lease time.
	DefaultLeaseTime LeaseTime = 3600
	// MinLeaseTime: dnsmasq raises shorter leases to two minutes, because
	// shorter ones confuse some clients.
	MinLeaseTime LeaseTime = 120
	// maxLeaseMax bounds dhcp-lease-max to what a lease table can hold.
	maxLeaseMax = 1 << 24
)

// DefaultDHCPConfig is the DHCP configuration in effect with no DHCP option.
func DefaultDHCPConfig() DHCPConfig {
	return DHCPConfig{LeaseMax: DefaultLeaseMax, LeaseFile: DefaultLeaseFile}
}

// Enabled reports whether any dhcp-range asks for a DHCP server.
func (d *DHCPConfig) Enabled() bool { return len(d.Ranges) > 0 }

// LeaseTime is a lease length in seconds. 0 means "not given" (the
// range's, or the default, applies); LeaseInfinite never expires.
type LeaseTime uint32

// LeaseInfinite is dnsmasq's "infinite".
const LeaseInfinite LeaseTime = 0xffffffff

// String prints the time as dnsmasq reads it: "infinite", or a number
// with the largest unit that divides it.
func (l LeaseTime) String() string {
	if l == LeaseInfinite {
		return "infinite"
	}
	for _, u := range []struct {
		secs LeaseTime
		unit string
	}{{7 * 86400, "w"}, {86400, "d"}, {3600, "h"}, {60, "m"}} {
		if l != 0 && l%u.secs == 0 {
			return strconv.FormatUint(uint64(l/u.secs), 10) + u.unit
		}
	}
	return strconv.FormatUint(uint64(l), 10)
}

// parseLeaseTime reads a lease time: "infinite", or seconds with an
// optional unit (45m, 1h, 2d, 1w). Times under two minutes become two
// minutes, as in dnsmasq.
func parseLeaseTime(s string) (LeaseTime, error) {
	if s == "infinite" {
		return LeaseInfinite, nil
	}
	n, err := dhcpopts.ParseSeconds(s)
	if err != nil {
		return 0, fmt.Errorf("bad lease time: %w", err)
	}
	return max(LeaseTime(n), MinLeaseTime), nil
}

// Tags is a list of tag names. In a filter (tag:<tag>) a leading '!'
// means "not set"; tag-if filters may end in '*'.
type Tags []string

// checkTag accepts a tag name: printable ASCII without spaces, commas or
// quotes (dnsmasq's tags are "alphanumeric labels"). set is true for a
// tag to set, which may not start with '!' (it could never be tested).
func checkTag(name string, set bool) error {
	if name == "" {
		return errors.New("empty tag")
	}
	if set && name[0] == '!' {
		return fmt.Errorf("tag %q: a tag to set cannot start with '!'", name)
	}
	if name == "!" {
		return errors.New(`empty tag after "!"`)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == ',' || c == '"' {
			return fmt.Errorf("tag %q: character %q is not allowed", name, c)
		}
	}
	return nil
}

// cutPrefix removes an unquoted prefix p from v (dnsmasq matches these
// keywords with case and only where they are not quoted).
func cutPrefix(v value, p string) (value, bool) {
	if !strings.HasPrefix(v.text, p) {
		return v, false
	}
	for i := range p {
		if v.isQuoted(i) {
			return v, false
		}
	}
	return v.slice(len(p), len(v.text)), true
}

// hasUnquoted reports whether c appears in v outside quotes.
func hasUnquoted(v value, c byte) bool {
	for i := 0; i < len(v.text); i++ {
		if v.text[i] == c && !v.isQuoted(i) {
			return true
		}
	}
	return false
}

// parseIPv4 accepts a dotted quad (inet_pton's syntax: no leading zeros).
func parseIPv4(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// onlyDigitsAndDots reports whether s looks like an attempt at an IPv4
// address (dnsmasq would read a bad one as a host name: "1.2.3" is host
// "1" in domain "2.3").
func onlyDigitsAndDots(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
