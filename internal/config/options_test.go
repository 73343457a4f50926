package config

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// testdata/dnsmasq-2.90-options.txt is dnsmasq 2.90's long-option table
// (name, has_arg, short letter or LOPT number), read out of the installed
// binary's struct option array.
func readDnsmasqTable(t *testing.T) map[string][2]string {
	t.Helper()
	f, err := os.Open("testdata/dnsmasq-2.90-options.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][2]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			t.Fatalf("bad line %q", sc.Text())
		}
		out[fields[0]] = [2]string{fields[1], fields[2]}
	}
	return out
}

func TestTableMatchesDnsmasq(t *testing.T) {
	dnsmasq := readDnsmasqTable(t)
	if len(dnsmasq) != 189 {
		t.Fatalf("dnsmasq table has %d options, want 189", len(dnsmasq))
	}
	seen := map[string]bool{}
	for _, o := range Options() {
		if o.Moat {
			if _, clash := dnsmasq[o.Name]; clash {
				t.Errorf("moat option %s is a dnsmasq name", o.Name)
			}
			continue
		}
		d, ok := dnsmasq[o.Name]
		if !ok {
			t.Errorf("%s is not a dnsmasq 2.90 option", o.Name)
			continue
		}
		seen[o.Name] = true
		if want := map[string]ArgKind{"0": ArgNone, "1": ArgRequired, "2": ArgOptional}[d[0]]; o.Arg != want {
			t.Errorf("%s: Arg %v, dnsmasq %v", o.Name, o.Arg, want)
		}
		// Aliases (dhcp-lease, domain-suffix) leave the letter to the
		// main name.
		if len(d[1]) == 1 && o.Short != rune(d[1][0]) && o.Short != 0 {
			t.Errorf("%s: short %q, dnsmasq %q", o.Name, o.Short, d[1])
		}
		if len(d[1]) > 1 && o.Short != 0 {
			t.Errorf("%s: short %q, dnsmasq has none", o.Name, o.Short)
		}
		if o.Help == "" {
			t.Errorf("%s: no help", o.Name)
		}
	}
	for name := range dnsmasq {
		if !seen[name] {
			t.Errorf("dnsmasq option %s missing from the table", name)
		}
	}
}

func TestShortLetters(t *testing.T) {
	letters := map[rune]bool{}
	for _, c := range dnsmasqShortOptions {
		if c != ':' {
			letters[c] = true
		}
	}
	for c := range letters {
		o, ok := byShort[c]
		if !ok {
			t.Errorf("short -%c has no option", c)
			continue
		}
		wantArg := strings.Contains(dnsmasqShortOptions, string(c)+":")
		if o.ShortArg != wantArg {
			t.Errorf("-%c (%s): ShortArg %v, getopt string says %v", c, o.Name, o.ShortArg, wantArg)
		}
	}
	if len(byShort) != len(letters) {
		t.Errorf("%d short options in the table, %d in dnsmasq's getopt string", len(byShort), len(letters))
	}
}

func TestImplementedOptions(t *testing.T) {
	want := []string{
		"port", "listen-address", "interface", "except-interface", "bind-interfaces",
		"server", "local", "no-resolv", "resolv-file", "cache-size", "no-hosts",
		"addn-hosts", "user", "group", "keep-in-foreground", "no-daemon",
		"log-queries", "log-facility", "pid-file", "conf-file", "conf-dir", "test",
		"dhcp-range", "help", "version", "check-sandbox", "print-config", "print-policy", "run-dir", "socket-filter",
		// area D: filters (dns_filters.go)
		"domain-needed", "bogus-priv", "bogus-nxdomain", "ignore-address", "stop-dns-rebind",
		"rebind-localhost-ok", "rebind-domain-ok", "filterwin2k", "filter-rr", "filter-A",
		"filter-AAAA", "filter-aaaa", "local-service", "edns-packet-max", "add-mac", "add-subnet", "no-ident",
		// area C: upstream policy (dns_upstream.go, server.go)
		"strict-order", "all-servers", "dns-forward-max", "query-port", "min-port", "max-port",
		"fast-dns-retry", "dns-loop-detect", "no-poll", "servers-file", "rev-server",
		// area B: cache (dns_cache.go)
		"no-negcache", "neg-ttl", "min-cache-ttl", "max-cache-ttl", "max-ttl", "use-stale-cache",
		"clear-on-reload", "cache-rr",
		// area A: local data (dns_localdata.go)
		"hostsdir", "expand-hosts", "domain", "domain-suffix", "host-record", "cname", "srv-host",
		"txt-record", "mx-host", "mx-target", "selfmx", "localmx", "ptr-record", "naptr-record",
		"caa-record", "dns-rr", "interface-name", "address", "local-ttl", "localise-queries",
		// area H: bind-dynamic, log-async (runtime_options.go)
		"bind-dynamic", "log-async",
		// DHCP (dhcp_*.go)
		"dhcp-host", "dhcp-hostsfile", "read-ethers", "dhcp-option", "dhcp-option-force", "dhcp-match",
		"dhcp-vendorclass", "dhcp-userclass", "dhcp-mac", "dhcp-circuitid", "dhcp-remoteid", "tag-if",
		"dhcp-ignore", "dhcp-ignore-names", "dhcp-name-match", "dhcp-generate-names", "dhcp-ignore-clid",
		"dhcp-authoritative", "dhcp-rapid-commit", "dhcp-broadcast", "dhcp-lease-max", "dhcp-leasefile",
		"dhcp-lease", "leasefile-ro", "dhcp-no-override", "dhcp-boot", "dhcp-sequential-ip", "no-ping",
		"log-dhcp", "quiet-dhcp", "no-dhcp-interface", "dhcp-script", "dhcp-scriptuser",
		"dhcp-ttl",
		// issue 6: accepted, not acted on, warned about (compat_options.go)
		"enable-dbus", "enable-ubus", "dnssec", "trust-anchor", "dnssec-check-unsigned",
		"dnssec-no-timecheck", "proxy-dnssec", "ipset", "nftset", "quiet-dhcp6", "quiet-ra",
		// issue 5: 0x20 on or off (case0x20.go)
		"no-0x20-encode", "do-0x20-encode",
		// issue 6: moatctl's control socket and metrics (control.go)
		"control-socket", "control-group", "metrics",
		// issue 7: per-role users (role_users.go)
		"dns-user", "dhcp-user",
	}
	implemented := map[string]bool{}
	for _, o := range Options() {
		if o.Implemented {
			implemented[o.Name] = true
		}
	}
	for _, n := range want {
		if !implemented[n] {
			t.Errorf("%s is not implemented", n)
		}
		delete(implemented, n)
	}
	for n := range implemented {
		t.Errorf("%s is implemented but not listed here", n)
	}
}

// TestEveryUnsupportedOptionNamed: each unimplemented option is an
// "unsupported option" error in a file and on the command line, whatever
// its value, naming the subsystem it needs when the table says.
func TestEveryUnsupportedOptionNamed(t *testing.T) {
	for _, o := range Options() {
		if o.Implemented {
			continue
		}
		var args []string
		switch o.Arg {
		case ArgNone:
			args = []string{"--" + o.Name}
		default:
			args = []string{"--" + o.Name + "=x"}
		}
		_, err := Parse(args, "")
		want := "command line: " + o.Name + ": unsupported option"
		if o.Needs != "" {
			want += ": needs " + o.Needs + ", which moat does not have yet"
		}
		if firstLine(err) != want {
			t.Errorf("%q: got %v, want %s", args, err, want)
		}
	}
}
