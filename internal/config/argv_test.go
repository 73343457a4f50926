package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The command lines that libvirt, NetworkManager and LXD/Incus start
// dnsmasq with (issue 6), as their sources build them, with paths pointed
// into a temporary directory (%T%). Each must parse, give the same Config
// as the same options written as a file, and the settings checked.
//
// Sources (public code, read for this test):
//   - libvirt src/network/bridge_driver.c networkBuildDhcpDaemonCommandLine:
//     dnsmasq --conf-file=<net>.conf --leasefile-ro --dhcp-script=<leaseshelper>
//     (the configuration itself is in the file; libvirt's dnsmasq daemonises).
//   - NetworkManager src/core/dnsmasq/nm-dnsmasq-manager.c create_dm_cmd_line
//     ("shared" connections) and src/core/dns/nm-dns-dnsmasq.c
//     _gl_pid_spawn_next_step (the dns=dnsmasq plugin).
//   - Incus internal/server/network/driver_bridge.go (bridge start and
//     startDnsmasq); LXD's is the same code with the domain "lxd".
var argvCases = []struct {
	name string
	argv []string
	// files maps a name under %T% to its content ("/" at the end: a
	// directory).
	files map[string]string
	// equivalent is the same configuration as file lines ("" = do not
	// compare).
	equivalent string
	check      func(t *testing.T, c *Config, tmp string)
	wantErr    string // the error's first line contains this ("" = parses)
}{
	{
		name: "libvirt",
		argv: []string{"--conf-file=%T%/default.conf", "--leasefile-ro", "--dhcp-script=/usr/libexec/libvirt_leaseshelper"},
		files: map[string]string{"default.conf": `##WARNING:  THIS IS AN AUTO-GENERATED FILE.
strict-order
except-interface=lo
bind-dynamic
interface=virbr0
dhcp-range=192.168.122.2,192.168.122.254,255.255.255.0
dhcp-no-override
dhcp-authoritative
dhcp-lease-max=253
dhcp-hostsfile=%T%/default.hostsfile
addn-hosts=%T%/default.addnhosts
`},
		equivalent: "leasefile-ro\ndhcp-script=/usr/libexec/libvirt_leaseshelper\nconf-file=%T%/default.conf\n",
		check: func(t *testing.T, c *Config, tmp string) {
			d := c.DHCP
			expect(t, "leasefile-ro", d.LeaseFileRO, true)
			expect(t, "dhcp-script", d.Script, "/usr/libexec/libvirt_leaseshelper")
			expect(t, "interface", strings.Join(c.Interfaces, ","), "virbr0")
			expect(t, "except-interface", strings.Join(c.ExceptInterfaces, ","), "lo")
			expect(t, "bind-dynamic", c.Runtime.BindDynamic, true)
			expect(t, "strict-order", c.Upstream.StrictOrder, true)
			expect(t, "dhcp-lease-max", d.LeaseMax, 253)
			expect(t, "dhcp-hostsfile", strings.Join(d.HostsFiles, ","), tmp+"/default.hostsfile")
			expect(t, "addn-hosts", strings.Join(c.AddnHosts, ","), tmp+"/default.addnhosts")
			expect(t, "ranges", len(d.Ranges), 1)
			expect(t, "daemonises (no -k, no -d)", c.KeepInForeground || c.NoDaemon, false)
			expect(t, "files read", len(c.Files), 1)
		},
	},
	{
		name: "NetworkManager shared connection",
		argv: []string{"--log-dhcp", "--log-queries", "--conf-file=/dev/null", "--no-hosts", "--keep-in-foreground", "--bind-interfaces",
			"--except-interface=lo", "--clear-on-reload", "--strict-order", "--listen-address=10.42.0.1",
			"--dhcp-range=10.42.0.10,10.42.0.254,60m", "--dhcp-option=option:router,10.42.0.1",
			"--dhcp-option=option:dns-server,10.42.0.1", "--dhcp-option=option:domain-search,example.lan",
			"--dhcp-option-force=43,ANDROID_METERED", "--dhcp-leasefile=%T%/dnsmasq-wlan0.leases",
			"--pid-file=%T%/nm-dnsmasq-wlan0.pid", "--conf-dir=%T%/dnsmasq-shared.d"},
		files: map[string]string{"dnsmasq-shared.d/": ""},
		equivalent: `log-dhcp
log-queries
no-hosts
keep-in-foreground
bind-interfaces
except-interface=lo
clear-on-reload
strict-order
listen-address=10.42.0.1
dhcp-range=10.42.0.10,10.42.0.254,60m
dhcp-option=option:router,10.42.0.1
dhcp-option=option:dns-server,10.42.0.1
dhcp-option=option:domain-search,example.lan
dhcp-option-force=43,ANDROID_METERED
dhcp-leasefile=%T%/dnsmasq-wlan0.leases
pid-file=%T%/nm-dnsmasq-wlan0.pid
conf-dir=%T%/dnsmasq-shared.d
`,
		check: func(t *testing.T, c *Config, tmp string) {
			expect(t, "keep-in-foreground", c.KeepInForeground, true)
			expect(t, "pid-file", c.PidFile, tmp+"/nm-dnsmasq-wlan0.pid")
			expect(t, "dhcp-leasefile", c.DHCP.LeaseFile, tmp+"/dnsmasq-wlan0.leases")
			expect(t, "no-hosts", c.NoHosts, true)
			expect(t, "clear-on-reload", c.Cache.ClearOnReload, true)
			expect(t, "listen-address", len(c.ListenAddresses), 1)
			expect(t, "dhcp options", len(c.DHCP.Options), 4)
			expect(t, "lease time", int(c.DHCP.Ranges[0].Lease), 3600)
			expect(t, "conf-file=/dev/null read", strings.Join(c.Files, ","), "/dev/null")
		},
	},
	{
		name: "NetworkManager dns=dnsmasq plugin",
		argv: []string{"--no-resolv", "--keep-in-foreground", "--no-hosts", "--bind-interfaces", "--pid-file=%T%/dnsmasq.pid",
			"--listen-address=127.0.0.1", "--cache-size=400", "--clear-on-reload", "--conf-file=/dev/null", "--proxy-dnssec",
			"--enable-dbus=org.freedesktop.NetworkManager.dnsmasq", "--conf-dir=%T%/dnsmasq.d"},
		files: map[string]string{"dnsmasq.d/": ""},
		equivalent: "no-resolv\nkeep-in-foreground\nno-hosts\nbind-interfaces\npid-file=%T%/dnsmasq.pid\nlisten-address=127.0.0.1\n" +
			"cache-size=400\nclear-on-reload\nproxy-dnssec\nenable-dbus=org.freedesktop.NetworkManager.dnsmasq\nconf-dir=%T%/dnsmasq.d\n",
		check: func(t *testing.T, c *Config, tmp string) {
			expect(t, "no-resolv", c.NoResolv, true)
			expect(t, "cache-size", c.CacheSize, 400)
			expect(t, "proxy-dnssec", c.Compat.ProxyDNSSEC, true)
			expect(t, "enable-dbus", c.Compat.DBusName, "org.freedesktop.NetworkManager.dnsmasq")
			expect(t, "warnings", len(c.Warnings()), 2)
		},
	},
	{
		name: "Incus bridge, IPv4",
		argv: []string{"--keep-in-foreground", "--strict-order", "--bind-interfaces", "--except-interface=lo", "--pid-file=",
			"--no-ping", "--interface=incusbr0", "--dhcp-rapid-commit", "--no-negcache", "--quiet-dhcp", "--quiet-dhcp6", "--quiet-ra",
			"--listen-address=10.10.10.1", "--dhcp-no-override", "--dhcp-authoritative",
			"--dhcp-leasefile=%T%/dnsmasq.leases", "--dhcp-hostsfile=%T%/dnsmasq.hosts",
			"--dhcp-range", "10.10.10.2,10.10.10.254,1h",
			"-s", "incus", "--interface-name", "_gateway.incus,incusbr0", "-S", "/incus/",
			"--conf-file=%T%/dnsmasq.raw", "-u", "incus", "-g", "incus"},
		files: map[string]string{"dnsmasq.raw": "\n", "dnsmasq.hosts/": ""},
		equivalent: `keep-in-foreground
strict-order
bind-interfaces
except-interface=lo
pid-file=
no-ping
interface=incusbr0
dhcp-rapid-commit
no-negcache
quiet-dhcp
quiet-dhcp6
quiet-ra
listen-address=10.10.10.1
dhcp-no-override
dhcp-authoritative
dhcp-leasefile=%T%/dnsmasq.leases
dhcp-hostsfile=%T%/dnsmasq.hosts
dhcp-range=10.10.10.2,10.10.10.254,1h
domain=incus
interface-name=_gateway.incus,incusbr0
server=/incus/
user=incus
group=incus
conf-file=%T%/dnsmasq.raw
`,
		check: func(t *testing.T, c *Config, tmp string) {
			expect(t, "pid-file= (none)", c.PidFile, "")
			expect(t, "-s", c.Local.Domains[0].Domain, "incus")
			expect(t, "-S /incus/", len(c.Servers) == 1 && c.Servers[0].Local() && c.Servers[0].Domains[0] == "incus", true)
			expect(t, "--interface-name", c.Local.InterfaceNames[0].Name+"@"+c.Local.InterfaceNames[0].Interface, "_gateway.incus@incusbr0")
			expect(t, "-u", c.User, "incus")
			expect(t, "-g", c.Group, "incus")
			expect(t, "no-ping", c.DHCP.NoPing, true)
			expect(t, "dhcp-rapid-commit", c.DHCP.RapidCommit, true)
			expect(t, "quiet-dhcp6, quiet-ra", c.Compat.QuietDHCP6 && c.Compat.QuietRA, true)
			expect(t, "no warnings", len(c.Warnings()), 0)
			expect(t, "dhcp-hostsfile (a directory)", strings.Join(c.DHCP.HostsFiles, ","), tmp+"/dnsmasq.hosts")
		},
	},
	{
		name: "Incus bridge with IPv6: router advertisements are not built",
		argv: []string{"--keep-in-foreground", "--interface=incusbr0", "--listen-address=10.10.10.1",
			"--dhcp-range", "10.10.10.2,10.10.10.254,1h", "--listen-address=fd42:1:2:3::1", "--enable-ra",
			"--dhcp-range", "::,constructor:incusbr0,ra-stateless,ra-names", "-s", "incus"},
		wantErr: "command line: enable-ra: unsupported option: needs IPv6 router advertisements, which moat does not have yet",
	},
}

func TestRealCommandLines(t *testing.T) {
	for _, tc := range argvCases {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			fill := func(s string) string { return strings.ReplaceAll(s, "%T%", tmp) }
			for name, content := range tc.files {
				path := filepath.Join(tmp, name)
				if strings.HasSuffix(name, "/") {
					if err := os.MkdirAll(path, 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.WriteFile(path, []byte(fill(content)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var argv []string
			for _, a := range tc.argv {
				argv = append(argv, fill(a))
			}
			c, err := Parse(argv, "")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(firstLine(err), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse %q: %v", argv, err)
			}
			if tc.equivalent != "" {
				path := filepath.Join(tmp, "equivalent.conf")
				if err := os.WriteFile(path, []byte(fill(tc.equivalent)), 0o644); err != nil {
					t.Fatal(err)
				}
				want, err := Parse([]string{"-C", path}, "")
				if err != nil {
					t.Fatalf("the equivalent file: %v", err)
				}
				sameConfig(t, c, want)
			}
			tc.check(t, c, tmp)
		})
	}
}

func expect[T interface{ ~bool | ~int | ~string }](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// shortValues holds a valid value for each implemented option whose short
// form takes one (%T% is a temporary directory holding file.conf and
// dir/).
var shortValues = map[string]string{
	"resolv-file": "/etc/resolv.conf.moat", "mx-host": "mail.lan,mx.lan,5", "port": "5353",
	"cache-size": "300", "dhcp-leasefile": "/var/lib/x.leases", "domain": "lan", "interface": "eth0",
	"mx-target": "mx.lan", "user": "dns", "group": "dns", "listen-address": "127.0.0.2",
	"pid-file": "/run/x.pid", "server": "/lan/192.0.2.1", "conf-file": "%T%/file.conf",
	"address": "/ads.test/0.0.0.0", "local-ttl": "60", "addn-hosts": "/etc/hosts.extra",
	"query-port": "5300", "except-interface": "lo", "bogus-nxdomain": "192.0.2.99",
	"dhcp-range": "10.0.0.10,10.0.0.20,1h", "dhcp-host": "00:11:22:33:44:55,10.0.0.15",
	"dhcp-option": "option:router,10.0.0.1", "dhcp-boot": "pxelinux.0", "dhcp-lease-max": "50",
	"dhcp-vendorclass": "set:pxe,PXEClient", "dhcp-userclass": "set:u,class", "edns-packet-max": "1400",
	"dhcp-ignore": "tag:!known", "srv-host": "_ldap._tcp.lan,ldap.lan,389", "txt-record": "t.lan,hello",
	"no-dhcp-interface": "eth1", "dhcp-mac": "set:vm,52:54:00:*:*:*", "dhcp-script": "/usr/local/bin/lease",
	"conf-dir": "%T%/dir", "log-facility": "local3", "dns-forward-max": "300",
}

// TestShortOptions: every short letter of an implemented option gives the
// same configuration as its long form, with the value attached (-p53),
// separate (-p 53) and, for flags, bundled with -k.
func TestShortOptions(t *testing.T) {
	tmp := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmp, "file.conf"), []byte("strict-order\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(tmp, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	tested := 0
	for _, o := range Options() {
		if o.Short == 0 || !o.Implemented || o.CommandLineOnly {
			continue
		}
		short := "-" + string(o.Short)
		var forms [][]string
		var long []string
		if o.ShortArg {
			v, ok := shortValues[o.Name]
			if !ok {
				t.Errorf("%s (%s): no sample value", o.Name, short)
				continue
			}
			v = strings.ReplaceAll(v, "%T%", tmp)
			long = []string{"--" + o.Name + "=" + v}
			forms = [][]string{{short + v}, {short, v}, {"-k" + string(o.Short), v}}
		} else {
			long = []string{"--" + o.Name}
			forms = [][]string{{short}, {"-k" + string(o.Short)}}
		}
		want, err := Parse(long, "")
		if err != nil {
			t.Errorf("%v: %v", long, err)
			continue
		}
		for _, f := range forms {
			got, err := Parse(f, "")
			if err != nil {
				t.Errorf("%q: %v", f, err)
				continue
			}
			if strings.HasPrefix(f[0], "-k") {
				got.KeepInForeground = want.KeepInForeground // -k bundled in front
			}
			sameConfig(t, got, want)
		}
		tested++
	}
	if tested < 45 {
		t.Errorf("only %d short options tested", tested)
	}
}
