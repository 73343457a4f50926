// Package dhcpopts owns the DHCPv4 option vocabulary of dnsmasq's
// configuration language: the table of option names, numbers and value
// types that dhcp-option, dhcp-option-force and dhcp-match use (what
// `dnsmasq --help dhcp` lists, plus the options dnsmasq sets itself), and
// the encoders that turn dnsmasq's textual option values into the bytes a
// DHCP server puts on the wire. It is pure: no I/O, no networking.
package dhcpopts

import "strings"

// Type is how dnsmasq reads the value of a known option (the size and
// OT_* flags of its opttab).
type Type uint8

const (
	// Unknown options (numbers not in the table, and every sub-option
	// given by number inside vendor:, encap: and vi-encap:) have no fixed
	// type: dnsmasq looks at the value to decide (see Encode).
	Unknown Type = iota
	Addrs        // one or more IPv4 addresses
	Name         // a text string (the value is never read as a number or address)
	Domains      // a list of domain names in RFC 1035 wire format (RFC 3397)
	Time         // a 4-byte count of seconds: 3600, 45m, 1h, 2d, 1w
	Byte         // 1 byte: flags and small enumerations (0/1 booleans)
	Uint8        // 1-byte unsigned decimal
	Uint16       // 2-byte unsigned decimal
	Uint32       // 4-byte unsigned decimal
	Int32        // 4-byte signed decimal (time-offset)
)

var typeNames = [...]string{"unknown", "addresses", "name", "domains", "time", "byte", "uint8", "uint16", "uint32", "int32"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(?)"
}

// Size is the fixed length in bytes of a numeric type, 0 for the others.
func (t Type) Size() int {
	switch t {
	case Byte, Uint8:
		return 1
	case Uint16:
		return 2
	case Uint32, Int32, Time:
		return 4
	}
	return 0
}

// Option is one row of dnsmasq's DHCPv4 option table.
type Option struct {
	Code uint8
	Name string // dnsmasq's name, as "option:<name>" takes it (matched without regard to case)
	Type Type
	// Internal options are ones dnsmasq fills in itself: dhcp-option may
	// not set them by name, dhcp-match may test them, and --help dhcp
	// does not list them.
	Internal bool
}

// table is dnsmasq 2.90's opttab (dhcp-common.c), in its order.
var table = []Option{
	{1, "netmask", Addrs, false},
	{2, "time-offset", Int32, false},
	{3, "router", Addrs, false},
	{6, "dns-server", Addrs, false},
	{7, "log-server", Addrs, false},
	{9, "lpr-server", Addrs, false},
	{12, "hostname", Name, true},
	{13, "boot-file-size", Uint16, false},
	{15, "domain-name", Name, false},
	{16, "swap-server", Addrs, false},
	{17, "root-path", Name, false},
	{18, "extension-path", Name, false},
	{19, "ip-forward-enable", Byte, false},
	{20, "non-local-source-routing", Byte, false},
	{21, "policy-filter", Addrs, false},
	{22, "max-datagram-reassembly", Uint16, false},
	{23, "default-ttl", Uint8, false},
	{26, "mtu", Uint16, false},
	{27, "all-subnets-local", Byte, false},
	{28, "broadcast", Addrs, true},
	{31, "router-discovery", Byte, false},
	{32, "router-solicitation", Addrs, false},
	{33, "static-route", Addrs, false},
	{34, "trailer-encapsulation", Byte, false},
	{35, "arp-timeout", Uint32, false},
	{36, "ethernet-encap", Byte, false},
	{37, "tcp-ttl", Byte, false},
	{38, "tcp-keepalive", Uint32, false},
	{40, "nis-domain", Name, false},
	{41, "nis-server", Addrs, false},
	{42, "ntp-server", Addrs, false},
	{43, "vendor-encap", Unknown, true},
	{44, "netbios-ns", Addrs, false},
	{45, "netbios-dd", Addrs, false},
	{46, "netbios-nodetype", Byte, false},
	{47, "netbios-scope", Unknown, false},
	{48, "x-windows-fs", Addrs, false},
	{49, "x-windows-dm", Addrs, false},
	{50, "requested-address", Addrs, true},
	{51, "lease-time", Time, true},
	{52, "option-overload", Unknown, true},
	{53, "message-type", Uint8, true},
	{54, "server-identifier", Addrs, true},
	{55, "parameter-request", Unknown, true},
	{56, "message", Unknown, true},
	{57, "max-message-size", Unknown, true},
	{58, "T1", Time, false},
	{59, "T2", Time, false},
	{60, "vendor-class", Unknown, false},
	{61, "client-id", Unknown, true},
	{64, "nis+-domain", Name, false},
	{65, "nis+-server", Addrs, false},
	{66, "tftp-server", Name, false},
	{67, "bootfile-name", Name, false},
	{68, "mobile-ip-home", Addrs, false},
	{69, "smtp-server", Addrs, false},
	{70, "pop3-server", Addrs, false},
	{71, "nntp-server", Addrs, false},
	{74, "irc-server", Addrs, false},
	{77, "user-class", Unknown, false},
	{80, "rapid-commit", Unknown, false},
	{81, "FQDN", Unknown, true},
	{82, "agent-id", Unknown, true},
	{93, "client-arch", Uint16, false},
	{94, "client-interface-id", Unknown, false},
	{97, "client-machine-id", Unknown, false},
	{100, "posix-timezone", Name, false},
	{101, "tzdb-timezone", Name, false},
	{108, "ipv6-only", Uint32, false},
	{118, "subnet-select", Unknown, true},
	{119, "domain-search", Domains, false},
	{120, "sip-server", Unknown, false},
	{121, "classless-static-route", Unknown, false},
	{125, "vendor-id-encap", Unknown, false},
	{150, "tftp-server-address", Addrs, false},
	// 255 is not an option on the wire: dnsmasq uses it to set the
	// BOOTP siaddr field (next server).
	{255, "server-ip-address", Addrs, false},
}

// Codes with a meaning of their own in dnsmasq's option handling.
const (
	CodeDomainSearch    = 119 // RFC 3397 name list, compressed
	CodeSIPServer       = 120 // RFC 3361: an encoding byte, then names or addresses
	CodeServerIPAddress = 255 // not sent: sets siaddr
)

var (
	byCode [256]*Option
	byName = map[string]*Option{}
)

func init() {
	for i := range table {
		o := &table[i]
		byCode[o.Code] = o
		byName[strings.ToLower(o.Name)] = o
	}
}

// Table returns every option dnsmasq knows, internal ones included, in
// dnsmasq's order.
func Table() []Option { return append([]Option(nil), table...) }

// Listed returns the options `dnsmasq --help dhcp` prints: the table
// without the internal ones.
func Listed() []Option {
	var out []Option
	for _, o := range table {
		if !o.Internal {
			out = append(out, o)
		}
	}
	return out
}

// ByCode finds an option by number.
func ByCode(code uint8) (Option, bool) {
	if o := byCode[code]; o != nil {
		return *o, true
	}
	return Option{}, false
}

// ByName finds an option by dnsmasq's name, without regard to case, as
// dnsmasq's strcasecmp does.
func ByName(name string) (Option, bool) {
	if o := byName[strings.ToLower(name)]; o != nil {
		return *o, true
	}
	return Option{}, false
}

// TypeOf is the type dnsmasq gives a known option number, Unknown for
// the others.
func TypeOf(code uint8) Type {
	if o := byCode[code]; o != nil {
		return o.Type
	}
	return Unknown
}
