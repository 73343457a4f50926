package test

import "slices"

// Differential scenarios: local data (hosts files, local=) and the
// server= rules that choose an upstream per domain.

// diffHosts is an addn-hosts file: IPv4 and IPv6 names, several names per
// address, a name in capitals, and an unqualified name.
const diffHosts = `# addn-hosts for the differential tests
192.0.2.10    host1.test host1 alias1.test
2001:db8::10  host1.test
192.0.2.11    host2.test
192.0.2.12    MixedCase.test
192.0.2.13    a.lan.test
2001:db8::14  v6only.test
192.0.2.10    second-for-10.test
`

// corpZone is a second upstream's data, for the per-domain rules: it
// answers www.example.test too, with another address, so that the
// replies show which upstream a query went to.
const corpZone = `
corp.test.          SOA  ns.corp.test. hostmaster.corp.test. 1 3600 600 86400 30
host.corp.test.     A    10.0.0.1
www.example.test.   A    203.0.113.1
x.sub.example.test. A    203.0.113.2
printer.            A    10.0.0.5
`

var _ = addDiffScenarios(
	diffScenario{
		name:  "addn-hosts",
		conf:  "addn-hosts=%DIR%/hosts\n",
		files: map[string]string{"hosts": diffHosts},
		queries: []string{
			"+ttl=exact host1.test A",
			"+ttl=exact host1.test AAAA",
			"+ttl=exact host1.test ANY",
			"+ttl=exact alias1.test A",
			"+ttl=exact host1 A",
			"+ttl=exact HOST1.TEST A",
			"+ttl=exact mixedcase.test A",
			"+ttl=exact MIXEDCASE.TEST A",
			"+ttl=exact host2.test AAAA",
			"+ttl=exact v6only.test A",
			"+ttl=exact host1.test MX",
			"+ttl=exact 10.2.0.192.in-addr.arpa PTR",
			"+ttl=exact 0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa PTR",
			"+ttl=exact 12.2.0.192.in-addr.arpa PTR",
			"+tcp +ttl=exact host1.test A",
			"+edns +ttl=exact host1.test A",
		},
	},
	diffScenario{
		name:  "local-domain",
		conf:  "addn-hosts=%DIR%/hosts\nlocal=/lan.test/\n",
		files: map[string]string{"hosts": diffHosts},
		queries: []string{
			"+ttl=exact a.lan.test A",
			"+ttl=exact a.lan.test AAAA",
			"+ttl=exact a.lan.test MX",
			"+ttl=exact missing.lan.test A",
			"+ttl=exact x.a.lan.test A",
			"+ttl=exact lan.test SOA",
			"+ttl=exact lan.test A",
			"+ttl=exact MISSING.LAN.TEST A",
			"+tcp +ttl=exact missing.lan.test A",
			"www.example.test A",
		},
	},
	diffScenario{
		name:      "server-per-domain",
		noLogs:    reasonLogFollows,
		upstreams: []string{defaultZone, corpZone},
		conf:      "server=%UP1%\nserver=/corp.test/%UP2%\nserver=/sub.example.test/%UP2%\n",
		queries: []string{
			"host.corp.test A",
			"HOST.CORP.TEST A",
			"missing.corp.test A",
			"corp.test SOA",
			"www.example.test A",
			"x.sub.example.test A",
			"sub.example.test A",
			"+tcp host.corp.test A",
		},
		known: slices.Concat(
			known("corp.test SOA", deliberate,
				"dnsmasq 2.90 answers an SOA query from the SOA it cached out of a negative answer's authority section, with the negative TTL; moat asks upstream (authority-section data ranks below answers, RFC 2181 5.4.1)", "upstream", "ttl"),
		),
	},
	diffScenario{
		name:      "server-hash-uses-default",
		upstreams: []string{defaultZone, corpZone},
		conf:      "server=%UP1%\nserver=/example.test/%UP2%\nserver=/sub.example.test/#\n",
		queries: []string{
			"www.example.test A",
			"x.sub.example.test A",
		},
	},
	diffScenario{
		name:      "server-unqualified",
		upstreams: []string{defaultZone, corpZone},
		conf:      "server=%UP1%\nserver=//%UP2%\n",
		queries: []string{
			"printer A",
			"www.example.test A",
		},
	},
	diffScenario{
		name:  "local-unqualified",
		conf:  "local=//\naddn-hosts=%DIR%/hosts\n",
		files: map[string]string{"hosts": diffHosts},
		queries: []string{
			"+ttl=exact printer A",
			"+ttl=exact host1 A",
			"www.example.test A",
		},
	},
	diffScenario{
		// server=/dom/ without an address: answered locally, as
		// OpenWrt's and Pi-hole's rfc6761.conf use it.
		name: "server-local-only",
		conf: "server=/invalid/\nserver=/onion/\n",
		queries: []string{
			"+ttl=exact foo.invalid A",
			"+ttl=exact invalid SOA",
			"+ttl=exact x.y.onion AAAA",
			"www.example.test A",
		},
	},
	diffScenario{
		name:      "no-upstream-refused",
		upstreams: []string{},
		conf:      "addn-hosts=%DIR%/hosts\nlocal=/lan.test/\n",
		files:     map[string]string{"hosts": diffHosts},
		queries: []string{
			"www.example.test A",
			"+tcp www.example.test A",
			"1.2.0.192.in-addr.arpa PTR",
			"+ttl=exact host1.test A",
			"+ttl=exact missing.lan.test A",
			"+edns www.example.test A",
		},
	},
	diffScenario{
		name:  "sighup-rereads-hosts",
		conf:  "addn-hosts=%DIR%/hosts\n",
		files: map[string]string{"hosts": diffHosts},
		queries: []string{
			"+ttl=exact host1.test A",
			"!write hosts 192.0.2.99 host1.test\\n192.0.2.98 added.test\\n",
			"!sighup",
			"+ttl=exact host1.test A",
			"+ttl=exact added.test A",
			"+ttl=exact host2.test A",
		},
	},
	diffScenario{
		// Records from the configuration (local data, area A).
		name: "local-records",
		conf: `address=/blocked.test/192.0.2.66
address=/nx.test/
address=/zero.test/#
cname=alias.local.test,target.local.test
host-record=target.local.test,192.0.2.70,2001:db8::70
txt-record=txt.local.test,"v=spf1 -all",second
srv-host=_ldap._tcp.local.test,ldap.local.test,389,1,2
mx-host=local.test,mail.local.test,5
ptr-record=70.2.0.192.in-addr.arpa,ptr.local.test
caa-record=local.test,0,issue,ca.test
local-ttl=60
domain-needed
bogus-priv
`,
		queries: []string{
			"+ttl=exact blocked.test A",
			"+ttl=exact www.blocked.test A",
			"+ttl=exact blocked.test AAAA",
			"+ttl=exact blocked.test MX",
			"+ttl=exact nx.test A",
			"+ttl=exact x.nx.test AAAA",
			"+ttl=exact zero.test A",
			"+ttl=exact zero.test AAAA",
			"+ttl=exact alias.local.test A",
			"+ttl=exact alias.local.test AAAA",
			"+ttl=exact target.local.test A",
			"+ttl=exact txt.local.test TXT",
			"+ttl=exact _ldap._tcp.local.test SRV",
			"+ttl=exact local.test MX",
			"+ttl=exact 70.2.0.192.in-addr.arpa PTR",
			"+ttl=exact local.test CAA",
			"printer A",
			"1.1.168.192.in-addr.arpa PTR",
		},
	},
)
