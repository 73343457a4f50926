package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// localOf parses args and returns LocalData without Source fields, so it
// can be compared with a literal.
func localOf(t *testing.T, args ...string) LocalData {
	t.Helper()
	return stripSources(mustParse(t, args...).Local)
}

func stripSources(l LocalData) LocalData {
	clear := func(n int, set func(i int)) {
		for i := range n {
			set(i)
		}
	}
	l.Domains = append([]DomainRule(nil), l.Domains...)
	clear(len(l.Domains), func(i int) { l.Domains[i].Source = "" })
	l.HostRecords = append([]HostRecord(nil), l.HostRecords...)
	clear(len(l.HostRecords), func(i int) { l.HostRecords[i].Source = "" })
	l.CNAMEs = append([]CNAME(nil), l.CNAMEs...)
	clear(len(l.CNAMEs), func(i int) { l.CNAMEs[i].Source = "" })
	l.SRVs = append([]SRV(nil), l.SRVs...)
	clear(len(l.SRVs), func(i int) { l.SRVs[i].Source = "" })
	l.TXTs = append([]TXT(nil), l.TXTs...)
	clear(len(l.TXTs), func(i int) { l.TXTs[i].Source = "" })
	l.MXs = append([]MX(nil), l.MXs...)
	clear(len(l.MXs), func(i int) { l.MXs[i].Source = "" })
	l.PTRs = append([]PTR(nil), l.PTRs...)
	clear(len(l.PTRs), func(i int) { l.PTRs[i].Source = "" })
	l.NAPTRs = append([]NAPTR(nil), l.NAPTRs...)
	clear(len(l.NAPTRs), func(i int) { l.NAPTRs[i].Source = "" })
	l.CAAs = append([]CAA(nil), l.CAAs...)
	clear(len(l.CAAs), func(i int) { l.CAAs[i].Source = "" })
	l.RRs = append([]RR(nil), l.RRs...)
	clear(len(l.RRs), func(i int) { l.RRs[i].Source = "" })
	l.InterfaceNames = append([]InterfaceName(nil), l.InterfaceNames...)
	clear(len(l.InterfaceNames), func(i int) { l.InterfaceNames[i].Source = "" })
	l.Addresses = append([]Address(nil), l.Addresses...)
	clear(len(l.Addresses), func(i int) { l.Addresses[i].Source = "" })
	return l
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestLocalDataForms(t *testing.T) {
	tests := []struct {
		arg  string
		want LocalData
	}{
		{"--hostsdir=/etc/hosts.d", LocalData{HostsDirs: []string{"/etc/hosts.d"}}},
		{"--expand-hosts", LocalData{ExpandHosts: true}},
		{"-E", LocalData{ExpandHosts: true}},
		{"--localise-queries", LocalData{LocaliseQueries: true}},
		{"--selfmx", LocalData{SelfMX: true}},
		{"--localmx", LocalData{LocalMX: true}},
		{"--local-ttl=300", LocalData{LocalTTL: 300}},
		{"-T0", LocalData{}},
		{"--dhcp-ttl=60", LocalData{DHCPTTL: 60, HasDHCPTTL: true}},
		{"--dhcp-ttl=0", LocalData{HasDHCPTTL: true}},
		{"--mx-target=Mail.LAN.", LocalData{MXTarget: "mail.lan"}},

		{"--domain=LAN.", LocalData{Domains: []DomainRule{{Domain: "lan"}}}},
		{"--domain-suffix=lan", LocalData{Domains: []DomainRule{{Domain: "lan"}}}},
		{"--domain=#", LocalData{Domains: []DomainRule{{Domain: "#"}}}},
		{"--domain=lan,192.168.1.77/24", LocalData{Domains: []DomainRule{{Domain: "lan", Prefix: netip.MustParsePrefix("192.168.1.0/24")}}}},
		{"--domain=lan,192.168.1.0/24,local", LocalData{Domains: []DomainRule{{Domain: "lan", Prefix: netip.MustParsePrefix("192.168.1.0/24"), Local: true}}}},
		{"--domain=lan,fd00::/64,local", LocalData{Domains: []DomainRule{{Domain: "lan", Prefix: netip.MustParsePrefix("fd00::/64"), Local: true}}}},
		{"--domain=lan,192.168.1.10", LocalData{Domains: []DomainRule{{Domain: "lan", First: ip("192.168.1.10"), Last: ip("192.168.1.10")}}}},
		{"--domain=lan,192.168.1.10,192.168.1.20", LocalData{Domains: []DomainRule{{Domain: "lan", First: ip("192.168.1.10"), Last: ip("192.168.1.20")}}}},
		{"--domain=lan,eth0", LocalData{Domains: []DomainRule{{Domain: "lan", Interface: "eth0"}}}},

		{"--host-record=Router.lan,router,192.0.2.1,2001:db8::1", LocalData{HostRecords: []HostRecord{{Names: []string{"router.lan", "router"}, V4: ip("192.0.2.1"), V6: ip("2001:db8::1")}}}},
		{"--host-record=nas,192.0.2.2,300", LocalData{HostRecords: []HostRecord{{Names: []string{"nas"}, V4: ip("192.0.2.2"), TTL: 300, HasTTL: true}}}},
		{"--host-record=v6,,2001:db8::2", LocalData{HostRecords: []HostRecord{{Names: []string{"v6"}, V6: ip("2001:db8::2")}}}},
		{"--host-record=192.0.2.3,first,second", LocalData{HostRecords: []HostRecord{{Names: []string{"first", "second"}, V4: ip("192.0.2.3")}}}},
		{"--host-record=pi.hole,0.0.0.0,::", LocalData{HostRecords: []HostRecord{{Names: []string{"pi.hole"}, V4: ip("0.0.0.0"), V6: ip("::")}}}},

		{"--cname=a.lan,b.lan", LocalData{CNAMEs: []CNAME{{Aliases: []string{"a.lan"}, Target: "b.lan"}}}},
		{"--cname=a.lan,c.lan,b.lan,60", LocalData{CNAMEs: []CNAME{{Aliases: []string{"a.lan", "c.lan"}, Target: "b.lan", TTL: 60, HasTTL: true}}}},
		// Two fields: the second is the target, even when it is a number.
		{"--cname=a.lan,10", LocalData{CNAMEs: []CNAME{{Aliases: []string{"a.lan"}, Target: "10"}}}},
		{"--cname=*.apps.lan,router.lan", LocalData{CNAMEs: []CNAME{{Aliases: []string{"*.apps.lan"}, Target: "router.lan"}}}},

		{"--srv-host=_ldap._tcp.lan,nas.lan,389,1,2", LocalData{SRVs: []SRV{{Name: "_ldap._tcp.lan", Target: "nas.lan", Port: 389, Priority: 1, Weight: 2}}}},
		{"--srv-host=_x._tcp", LocalData{SRVs: []SRV{{Name: "_x._tcp", Port: 1}}}},
		{"--srv-host=_x._tcp,,5", LocalData{SRVs: []SRV{{Name: "_x._tcp", Port: 5}}}},
		{"--srv-host=_x._tcp,t.lan", LocalData{SRVs: []SRV{{Name: "_x._tcp", Target: "t.lan", Port: 1}}}},

		{"--txt-record=t.lan,one,two", LocalData{TXTs: []TXT{{Name: "t.lan", Strings: []string{"one", "two"}}}}},
		{"--txt-record=t.lan", LocalData{TXTs: []TXT{{Name: "t.lan"}}}},
		{"--txt-record=t.lan,", LocalData{TXTs: []TXT{{Name: "t.lan", Strings: []string{""}}}}},

		{"--mx-host=lan", LocalData{MXs: []MX{{Name: "lan", Pref: 1}}}},
		{"--mx-host=lan,mail.lan", LocalData{MXs: []MX{{Name: "lan", Target: "mail.lan", HasTarget: true, Pref: 1}}}},
		{"--mx-host=lan,mail.lan,10", LocalData{MXs: []MX{{Name: "lan", Target: "mail.lan", HasTarget: true, Pref: 10}}}},
		{"--mx-host=lan,5", LocalData{MXs: []MX{{Name: "lan", Pref: 5}}}},
		{"--mx-host=lan,,7", LocalData{MXs: []MX{{Name: "lan", HasTarget: true, Pref: 7}}}},

		{"--ptr-record=p.lan,t.lan", LocalData{PTRs: []PTR{{Name: "p.lan", Target: "t.lan"}}}},
		{"--ptr-record=p.lan", LocalData{PTRs: []PTR{{Name: "p.lan"}}}},
		{"--ptr-record=1.2.0.192.in-addr.arpa,x.lan", LocalData{PTRs: []PTR{{Name: "1.2.0.192.in-addr.arpa", Target: "x.lan"}}}},

		{"--naptr-record=n.lan,10,20,s,SIP+D2U,,_sip._udp.lan", LocalData{NAPTRs: []NAPTR{{Name: "n.lan", Order: 10, Pref: 20, Flags: "s", Service: "SIP+D2U", Replacement: "_sip._udp.lan"}}}},
		{"--naptr-record=n.lan,1,2,u,E2U+sip,!^.*$!sip:x@y!", LocalData{NAPTRs: []NAPTR{{Name: "n.lan", Order: 1, Pref: 2, Flags: "u", Service: "E2U+sip", Regexp: "!^.*$!sip:x@y!"}}}},

		{"--caa-record=lan,128,issue,ca.example", LocalData{CAAs: []CAA{{Name: "lan", Flags: 128, Tag: "issue", Value: "ca.example"}}}},

		{"--dns-rr=r.lan,99,01:23:45", LocalData{RRs: []RR{{Name: "r.lan", Type: 99, Data: []byte{1, 0x23, 0x45}}}}},
		{"--dns-rr=r.lan,99,0:1:2", LocalData{RRs: []RR{{Name: "r.lan", Type: 99, Data: []byte{0, 1, 2}}}}},
		{"--dns-rr=r.lan,99,01 0203", LocalData{RRs: []RR{{Name: "r.lan", Type: 99, Data: []byte{1, 2, 3}}}}},
		{"--dns-rr=r.lan,99", LocalData{RRs: []RR{{Name: "r.lan", Type: 99}}}},

		{"--interface-name=gw.lan,eth0", LocalData{InterfaceNames: []InterfaceName{{Name: "gw.lan", Interface: "eth0"}}}},
		{"--interface-name=gw.lan,eth0/6", LocalData{InterfaceNames: []InterfaceName{{Name: "gw.lan", Interface: "eth0", Family: 6}}}},

		{"--address=/ads.example/0.0.0.0", LocalData{Addresses: []Address{{Domains: []string{"ads.example"}, Addr: ip("0.0.0.0")}}}},
		{"--address=/a.example/B.example./2001:db8::1", LocalData{Addresses: []Address{{Domains: []string{"a.example", "b.example"}, Addr: ip("2001:db8::1")}}}},
		{"--address=/a.example/#", LocalData{Addresses: []Address{{Domains: []string{"a.example"}, Null: true}}}},
		{"--address=/a.example/", LocalData{Addresses: []Address{{Domains: []string{"a.example"}}}}},
		{"--address=/#/10.0.0.1", LocalData{Addresses: []Address{{Domains: []string{""}, Addr: ip("10.0.0.1")}}}},
		{"--address=10.0.0.1", LocalData{Addresses: []Address{{Domains: []string{""}, Addr: ip("10.0.0.1")}}}},
		{"--address=/.a.example/10.0.0.1", LocalData{Addresses: []Address{{Domains: []string{"a.example"}, Addr: ip("10.0.0.1")}}}},
		{"--address=/*.a.example/*b.example/10.0.0.1", LocalData{Addresses: []Address{{Domains: []string{"*.a.example", "*b.example"}, Addr: ip("10.0.0.1")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			got := localOf(t, tt.arg)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s\n got %+v\nwant %+v", tt.arg, got, tt.want)
			}
			roundTrip(t, mustParse(t, tt.arg))
		})
	}
}

func TestLocalDataErrors(t *testing.T) {
	tests := []struct{ args, want string }{
		{"--hostsdir=", "hostsdir: empty file name"},
		{"--local-ttl=-1", `local-ttl: "-1" is not a number of seconds`},
		{"--local-ttl=1 --local-ttl=2", "local-ttl: given more than once (first at command line)"},
		{"--dhcp-ttl=x", `dhcp-ttl: "x" is not a number of seconds`},
		{"--dhcp-ttl=1 --dhcp-ttl=2", "dhcp-ttl: given more than once (first at command line)"},
		{"--mx-target=a --mx-target=b", "mx-target: given more than once (first at command line)"},
		{"--mx-target=a,b", `mx-target: "a,b" is not a valid host name`},
		{"--domain=a..b", `domain: "a..b" is not a valid domain`},
		{"--domain=lan,192.168.0.0/33", `domain: "192.168.0.0/33" is not an address/prefix-length`},
		{"--domain=lan,192.168.0.0/24,foo", `domain: "foo": only "local" may follow a subnet`},
		{"--domain=lan,192.168.0.1,192.168.0.9,local", `domain: "local" and further fields need the address/prefix-length form`},
		{"--domain=lan,192.168.0.9,192.168.0.1", "domain: range 192.168.0.9-192.168.0.1 ends before it starts"},
		{"--domain=lan,192.168.0.1,fd00::1", `domain: "fd00::1" is not an IP address of the same family as "192.168.0.1"`},
		{"--domain=lan,eth0,eth1", `domain: "eth0" is not an IP address`},
		{"--host-record=foo", "host-record: want name[,name...],[IPv4],[IPv6][,TTL]"},
		{"--host-record=foo,bar", "host-record: no address"},
		{"--host-record=192.0.2.1,60", "host-record: no name"},
		{"--host-record=foo,192.0.2.1,192.0.2.2", `host-record: "192.0.2.2": a second IPv4 address (use another host-record)`},
		{"--host-record=foo,::1,::2", `host-record: "::2": a second IPv6 address (use another host-record)`},
		{"--host-record=foo,192.0.2.1,60,70", `host-record: "70": a second TTL`},
		{"--host-record=a..b,192.0.2.1", `host-record: "a..b" is not a valid host name`},
		{"--host-record=foo,fe80::1%eth0", `host-record: "fe80::1%eth0": no zone allowed`},
		{"--cname=a", "cname: want alias[,alias...],target[,TTL]"},
		{"--cname=a,b --cname=a,c", "cname: duplicate CNAME \"a\" (first at command line)"},
		{"--cname=a,a2,a,b", `cname: duplicate CNAME "a" (first at this line)`},
		{"--cname=a,b --cname=b,a", `cname: CNAME loop involving "b"`},
		{"--cname=a,a", `cname: CNAME loop involving "a"`},
		{"--cname=a,b --cname=b,c --cname=c,a", `cname: CNAME loop involving "c"`},
		{"--cname=a,b,99999999999", `cname: "99999999999" is out of range (0 to 2147483647)`},
		{"--srv-host=_x._tcp,t,70000", `srv-host: invalid port number: "70000" is out of range (0 to 65535)`},
		{"--srv-host=_x._tcp,t,1,x", `srv-host: invalid priority: "x" is not a priority`},
		{"--srv-host=_x._tcp,t,1,2,3,4", "srv-host: too many fields (want name,target,port,priority,weight)"},
		{"--srv-host=,t", `srv-host: "" is not a valid SRV name`},
		{"--txt-record=", `txt-record: "" is not a valid TXT name`},
		{"--mx-host=a,b,c", `mx-host: bad MX preference: "c" is not an MX preference`},
		{"--mx-host=a,b,1,2", "mx-host: too many fields (want name,target,preference)"},
		{"--ptr-record=a,b,c", "ptr-record: too many fields (want name,target)"},
		{"--naptr-record=a,1,2,s,x", "naptr-record: want name,order,preference,flags,service,regexp[,replacement]"},
		{"--naptr-record=a,1,x,s,x,y", `naptr-record: bad NAPTR preference: "x" is not a preference`},
		{"--caa-record=a,0,issue", "caa-record: want name,flags,tag,value"},
		{"--caa-record=a,300,issue,x", `caa-record: bad CAA flags: "300" is out of range (0 to 255)`},
		{"--caa-record=a,0,,x", `caa-record: "": a CAA tag is 1 to 255 bytes`},
		{"--dns-rr=a", "dns-rr: want name,type[,hex data]"},
		{"--dns-rr=a,70000,00", `dns-rr: "70000" is out of range (0 to 65535)`},
		{"--dns-rr=a,0,00", "dns-rr: type 0 is not an RR type"},
		{"--dns-rr=a,99,zz", `dns-rr: "zz" is not hex data`},
		{"--dns-rr=a,99,012", `dns-rr: "012": odd number of hex digits`},
		{"--interface-name=a", "interface-name: want name,interface[/4|/6]"},
		{"--interface-name=a,eth0/5", `interface-name: "eth0/5": only /4 or /6 may follow the interface`},
		{"--interface-name=a,eth*", `interface-name: "eth*" is not an interface name`},
		{"--address=/a/b", `address: "b" is not an IP address, '#' or empty`},
		{"--address=/a/1.2.3.4#53", `address: "1.2.3.4#53" is not an IP address, '#' or empty`},
		{"--address=/a", `address: "/a": missing '/' after the domain`},
		{"--address=/a/1.2.3.4,5.6.7.8", `address: "1.2.3.4,5.6.7.8" is not an IP address, '#' or empty`},
		{"--address=//1.2.3.4", `address: "//" (unqualified names) in address= not supported yet`},
		{"--address=/a*b/1.2.3.4", `address: "a*b": '*' is only allowed at the start`},
		{"--address=/*/1.2.3.4", `address: "*": a wildcard needs a domain after '*'`},
		{"--address=", "address: missing address"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			_, err := Parse(strings.Fields(tt.args), "")
			if got, want := firstLine(err), "command line: "+tt.want; got != want {
				t.Errorf("%s\n got: %s\nwant: %s", tt.args, got, want)
			}
		})
	}
}

// TestLocalDataFileErrors: errors in files name the file and line.
func TestLocalDataFileErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "local.conf")
	text := "# local data\nhost-record=ok.lan,192.0.2.1\n\ncname=x.lan,ok.lan\nsrv-host=_x._tcp,t,notaport\naddress=/ads.example/300.0.0.1\ncname=x.lan,other.lan\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Parse([]string{"-C", path}, "")
	var got []string
	for _, e := range Errors(err) {
		got = append(got, e.Error())
	}
	want := []string{
		path + `:5: srv-host: invalid port number: "notaport" is not a port number`,
		path + `:6: address: "300.0.0.1" is not an IP address, '#' or empty`,
		path + `:7: cname: duplicate CNAME "x.lan" (first at ` + path + `:4)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLocalDataFixtureRoundTrip(t *testing.T) {
	c := mustParse(t, "-C", "testdata/good/localdata.conf")
	l := c.Local
	if len(l.Domains) != 6 || len(l.HostRecords) != 2 || len(l.CNAMEs) != 3 || len(l.SRVs) != 3 ||
		len(l.TXTs) != 2 || len(l.MXs) != 2 || len(l.PTRs) != 1 || len(l.NAPTRs) != 1 || len(l.CAAs) != 1 ||
		len(l.RRs) != 1 || len(l.InterfaceNames) != 1 || len(l.Addresses) != 5 {
		t.Errorf("fixture parsed to %+v", stripSources(l))
	}
	if got := l.TXTs[0].Strings; !reflect.DeepEqual(got, []string{"v=spf1 a -all", "with, comma"}) {
		t.Errorf("quoted TXT strings = %q", got)
	}
	if got := l.PTRs[0].Target; got != "printer._http._tcp.lan" {
		t.Errorf("quoted PTR target = %q", got)
	}
	if got := l.DefaultDomain(); got != "lan" {
		t.Errorf("DefaultDomain = %q", got)
	}
	roundTrip(t, c)
}

func TestLocalDataAwkwardRoundTrip(t *testing.T) {
	c := configWith(func(c *Config) {
		c.Local.TXTs = []TXT{{Name: "t.lan", Strings: []string{"a,b", `q"uote`, " lead", "", `back\slash,`, "#x"}}}
		c.Local.NAPTRs = []NAPTR{{Name: "n.lan", Order: 1, Pref: 2, Flags: "s", Service: "a,b", Regexp: `!^(.*)$!\1!`}}
		c.Local.CAAs = []CAA{{Name: "lan", Tag: "iodef", Value: "mailto:x@y, z"}}
	})
	roundTrip(t, c)
}

func TestDomainRuleContains(t *testing.T) {
	l := localOf(t, "--domain=a,192.168.1.0/24", "--domain=b,10.0.0.5,10.0.0.9", "--domain=c,fd00::/64", "--domain=d", "--domain=e,eth0")
	tests := []struct {
		addr string
		want string
	}{
		{"192.168.1.77", "a"}, {"192.168.2.1", ""}, {"10.0.0.5", "b"}, {"10.0.0.9", "b"},
		{"10.0.0.10", ""}, {"fd00::5", "c"}, {"::ffff:192.168.1.1", "a"},
	}
	for _, tt := range tests {
		got := ""
		for _, r := range l.Domains {
			if r.Contains(ip(tt.addr)) {
				got = r.Domain
				break
			}
		}
		if got != tt.want {
			t.Errorf("%s: domain %q, want %q", tt.addr, got, tt.want)
		}
	}
	if l.DefaultDomain() != "d" {
		t.Errorf("DefaultDomain = %q", l.DefaultDomain())
	}
}
