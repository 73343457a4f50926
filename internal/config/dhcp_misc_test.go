package config

import (
	"reflect"
	"testing"
)

func TestDHCPMiscOptions(t *testing.T) {
	c, err := parseConfText(t, `dhcp-boot=pxelinux.0
dhcp-boot=pxeboot.img,,10.20.30.40
dhcp-boot=tag:efi,net:x,boot.efi,srv,TFTP.example.com
dhcp-hostsfile=/etc/hosts.d
dhcp-hostsfile=/var/lib/libvirt/dnsmasq/default&quot;with&quot;quotes&quot;.hostsfile
read-ethers
no-dhcp-interface=eth1,eth2*
no-dhcp-interface=eth3
dhcp-lease-max=253
dhcp-leasefile=/tmp/dhcp.leases
leasefile-ro
dhcp-script=/usr/local/bin/hook
dhcp-scriptuser=dnsmasq
dhcp-ignore-clid
dhcp-authoritative
dhcp-rapid-commit
dhcp-no-override
dhcp-sequential-ip
no-ping
log-dhcp
quiet-dhcp
`)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultDHCPConfig()
	want.Boot = []DHCPBoot{
		{File: "pxelinux.0"},
		{File: "pxeboot.img", NextServer: dhcpIP("10.20.30.40")},
		{Tags: Tags{"efi", "x"}, File: "boot.efi", ServerName: "srv", TFTPServerName: "tftp.example.com"},
	}
	want.HostsFiles = []string{"/etc/hosts.d", "/var/lib/libvirt/dnsmasq/default&quot;with&quot;quotes&quot;.hostsfile"}
	want.ReadEthers = true
	want.NoInterfaces = []string{"eth1", "eth2*", "eth3"}
	want.LeaseMax, want.LeaseFile, want.LeaseFileRO = 253, "/tmp/dhcp.leases", true
	want.Script, want.ScriptUser = "/usr/local/bin/hook", "dnsmasq"
	want.IgnoreClientID, want.Authoritative, want.RapidCommit, want.NoOverride = true, true, true, true
	want.Sequential, want.NoPing, want.Log, want.Quiet = true, true, true, true
	if !reflect.DeepEqual(c.DHCP, want) {
		t.Errorf("got  %+v\nwant %+v", c.DHCP, want)
	}
	roundTrip(t, c)

	// Defaults; a bare dhcp-leasefile keeps the default; the alias.
	d := mustParse(t, "--dhcp-leasefile").DHCP
	if d.LeaseMax != DefaultLeaseMax || d.LeaseFile != DefaultLeaseFile || d.ScriptUser != "" {
		t.Errorf("defaults: %+v", d)
	}
	if got := mustParse(t, "--dhcp-lease=/x/l").DHCP.LeaseFile; got != "/x/l" {
		t.Errorf("dhcp-lease: %q", got)
	}
	if got := mustParse(t, "-l", "/x/l", "-X", "7", "-K", "-5").DHCP; got.LeaseFile != "/x/l" || got.LeaseMax != 7 || !got.Authoritative || !got.NoPing {
		t.Errorf("short options: %+v", got)
	}
}

func TestDHCPMiscErrors(t *testing.T) {
	checkDHCPErrors(t, []dhcpErrCase{
		{"dhcp-boot=", "dhcp-boot: needs a boot file name"},
		{"dhcp-boot=tag:a", "dhcp-boot: needs a boot file name"},
		{"dhcp-boot=a,b,c,d", `dhcp-boot: "a,b,c,d": too many fields`},
		{"dhcp-boot=a,b,-c", `dhcp-boot: "-c" is neither an IPv4 address nor a host name`},
		{"dhcp-boot=a,b,::1", "dhcp-boot: ::1: the boot server must be an IPv4 address or a name"},
		{"no-dhcp-interface=", "no-dhcp-interface: empty interface name"},
		{"no-dhcp-interface=a*b", `no-dhcp-interface: "a*b": '*' is only allowed at the end`},
		{"dhcp-lease-max=0", "dhcp-lease-max: 0 leases: the server could give none"},
		{"dhcp-lease-max=-1", `dhcp-lease-max: "-1" is not a number`},
		{"dhcp-lease-max=99999999999", `dhcp-lease-max: "99999999999" is out of range`},
		{"dhcp-script=hook.sh", `dhcp-script: "hook.sh" is not an absolute path`},
		{"dhcp-scriptuser=", "dhcp-scriptuser: empty user name"},
		{"dhcp-scriptuser=a:b", `dhcp-scriptuser: "a:b" is not a user or group name`},
		{"dhcp-leasefile=/a\ndhcp-leasefile=/b", "dhcp.conf:2: dhcp-leasefile: given more than once"},
		{"read-ethers=x", `read-ethers: takes no value (got "x")`},
	})
}
