package test

// Differential scenarios for local data (area A): host-record, cname,
// srv/txt/mx/ptr/naptr/caa/dns-rr, address=, domain and expand-hosts,
// interface-name, hostsdir, local-ttl. Each query is answered by moatd and
// by dnsmasq 2.90 with the same configuration and compared.

// localRecordsConf configures one of each record option.
const localRecordsConf = `host-record=hr.test,hr2.test,192.0.2.101,2001:db8::101
host-record=ttl.test,192.0.2.104,600
cname=cn.test,hr.test
cname=cn2.test,cn.test
cname=cnttl.test,hr.test,99
cname=cnup.test,www.example.test
srv-host=_ldap._tcp.local.test,hr.test,389,1,2
srv-host=_bare._tcp.local.test
txt-record=txt.local.test,"v=spf1 a",second
txt-record=empty.local.test
mx-host=mx.local.test,ttl.test,5
ptr-record=ptr.local.test,target.test
ptr-record=105.2.0.192.in-addr.arpa,five.test
naptr-record=naptr.local.test,10,20,s,SIP+D2U,,_sip._udp.local.test
caa-record=caa.local.test,0,issue,letsencrypt.org
dns-rr=rr.local.test,65280,0102ab
`

// reasonWildcardCNAME is why moat answers cname=*.dom for names under dom.
const reasonWildcardCNAME = "cname=*.dom,target: moat answers every name under dom with the CNAME (the issue asks for wildcard CNAMEs; OpenShift-style configs in the corpus use them); dnsmasq 2.90 has no wildcards and only answers the literal name \"*.dom\" (local data, area A)"

var _ = addDiffScenarios(
	diffScenario{
		name: "localdata-local-records",
		conf: localRecordsConf,
		queries: []string{
			"+ttl=exact hr.test A",
			"+ttl=exact hr.test AAAA",
			"+ttl=exact hr2.test A",
			"+ttl=exact hr.test ANY",
			"+ttl=exact ttl.test A",
			"+ttl=exact 101.2.0.192.in-addr.arpa PTR",
			"+ttl=exact 1.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa PTR",
			"+ttl=exact cn.test A",
			"+ttl=exact cn.test AAAA",
			"+ttl=exact cn.test CNAME",
			"+ttl=exact cn.test MX",
			"+ttl=exact cn2.test A",
			"+ttl=exact cnttl.test A",
			"+ttl=exact cnup.test A",
			"+ttl=exact _ldap._tcp.local.test SRV",
			"+ttl=exact _bare._tcp.local.test SRV",
			"+ttl=exact txt.local.test TXT",
			"+ttl=exact empty.local.test TXT",
			"+ttl=exact mx.local.test MX",
			"+ttl=exact ptr.local.test PTR",
			"+ttl=exact 105.2.0.192.in-addr.arpa PTR",
			"+ttl=exact naptr.local.test NAPTR",
			"+ttl=exact caa.local.test CAA",
			"+ttl=exact rr.local.test TYPE65280",
			"+ttl=exact rr.local.test ANY",
			"+tcp +ttl=exact txt.local.test TXT",
		},
	},
	diffScenario{
		name: "localdata-local-records-local-ttl",
		conf: localRecordsConf + "local-ttl=300\n",
		queries: []string{
			"+ttl=exact hr.test A",
			"+ttl=exact ttl.test A",
			"+ttl=exact cn.test A",
			"+ttl=exact cnttl.test A",
			"+ttl=exact txt.local.test TXT",
			"+ttl=exact mx.local.test MX",
			"+ttl=exact 101.2.0.192.in-addr.arpa PTR",
		},
	},
	diffScenario{
		name:  "localdata-local-records-other-types",
		conf:  localRecordsConf + "addn-hosts=%DIR%/hosts\nlocal=/lan.test/\n",
		files: map[string]string{"hosts": "192.0.2.120 h.lan.test\n"},
		queries: []string{
			// Names with local data of other types only: forwarded...
			"+ttl=exact txt.local.test A",
			"+ttl=exact hr.test MX",
			"+ttl=exact ttl.test AAAA",
			// ...NODATA inside a local domain, also for names above them.
			"+ttl=exact h.lan.test MX",
			"+ttl=exact lan.test A",
			"+ttl=exact missing.lan.test A",
		},
	},
	diffScenario{
		name:   "localdata-cname-wildcard",
		noLogs: reasonLogFollows,
		conf:   "host-record=hr.test,192.0.2.101\ncname=*.apps.test,hr.test\n",
		queries: []string{
			"+ttl=exact x.apps.test A",
			"+ttl=exact *.apps.test A",
		},
		known: known("+ttl=exact x.apps.test A", deliberate, reasonWildcardCNAME, "rcode", "flags", "answer", "authority", "upstream"),
	},
	diffScenario{
		name: "localdata-address",
		conf: `address=/ads.test/10.9.9.9
address=/deep.ads.test/10.8.8.8
address=/blocked.test/
address=/null.test/#
address=/six.test/2001:db8::6
address=/a.one.test/b.one.test/10.1.1.1
address=/forcednx.test/
address=/forcednx.test/1.2.3.4
address=/www.example.test/10.2.2.2
addn-hosts=%DIR%/hosts
`,
		files: map[string]string{"hosts": "192.168.5.5 www.ads.test\n2001:db8::55 v6only.ads.test\n192.168.5.6 in.blocked.test\n"},
		queries: []string{
			"+ttl=exact ads.test A",
			"+ttl=exact sub.ads.test A",
			"+ttl=exact ADS.TEST A",
			"+ttl=exact ads.test AAAA",
			"+ttl=exact ads.test MX",
			"+ttl=exact ads.test ANY",
			"+ttl=exact deep.ads.test A",
			"+ttl=exact x.deep.ads.test A",
			"+ttl=exact www.ads.test A",
			"+ttl=exact v6only.ads.test A",
			"+ttl=exact v6only.ads.test AAAA",
			"+ttl=exact blocked.test A",
			"+ttl=exact www.blocked.test MX",
			"+ttl=exact in.blocked.test A",
			"+ttl=exact in.blocked.test AAAA",
			"+ttl=exact null.test A",
			"+ttl=exact null.test AAAA",
			"+ttl=exact null.test MX",
			"+ttl=exact six.test AAAA",
			"+ttl=exact six.test A",
			"+ttl=exact a.one.test A",
			"+ttl=exact b.one.test A",
			"+ttl=exact one.test A",
			"+ttl=exact forcednx.test A",
			"+ttl=exact forcednx.test AAAA",
			"+ttl=exact www.example.test A",
			"+ttl=exact www.example.test AAAA",
			"+tcp +ttl=exact sub.ads.test A",
			"+edns +ttl=exact sub.ads.test A",
		},
	},
	diffScenario{
		name:      "localdata-address-and-server",
		upstreams: []string{defaultZone, corpZone},
		conf: `server=%UP1%
local=/lan.test/
address=/router.lan.test/192.168.1.1
server=/fwd.lan.test/%UP2%
address=/fwd.lan.test/10.3.3.3
address=/#/10.7.7.7
server=/corp.test/%UP2%
address=/x.corp.test/
address=/example.test/10.5.5.5
server=/www.example.test/%UP2%
`,
		queries: []string{
			"+ttl=exact router.lan.test A",
			"+ttl=exact router.lan.test AAAA",
			"+ttl=exact fwd.lan.test A",
			"fwd.lan.test AAAA",
			"+ttl=exact anything.else A",
			"anything.else AAAA",
			"+ttl=exact y.x.corp.test A",
			"host.corp.test A",
			"+ttl=exact other.example.test A",
			"www.example.test A",
		},
	},
	diffScenario{
		name: "localdata-expand-hosts-domain",
		conf: `addn-hosts=%DIR%/hosts
expand-hosts
domain=lan.test
domain=corp.test,10.1.0.0/16
domain=v6.test,2001:db8:6::/48
`,
		files: map[string]string{"hosts": "192.168.7.7 pc pc.other.test\n10.1.2.3 srv\n2001:db8:6::5 six\n"},
		queries: []string{
			"+ttl=exact pc.lan.test A",
			"+ttl=exact pc A",
			"+ttl=exact pc.other.test A",
			"+ttl=exact srv.corp.test A",
			"+ttl=exact srv.lan.test A",
			"+ttl=exact six.v6.test AAAA",
			"+ttl=exact 7.7.168.192.in-addr.arpa PTR",
			"+ttl=exact 3.2.1.10.in-addr.arpa PTR",
		},
	},
	diffScenario{
		// domain= with an address range (first,last) rather than a subnet.
		name: "localdata-expand-hosts-domain-range",
		conf: `addn-hosts=%DIR%/hosts
expand-hosts
domain=lan.test
domain=lab.test,10.2.0.10,10.2.0.20
`,
		files: map[string]string{"hosts": "10.2.0.15 inrange\n10.2.0.25 outrange\n"},
		queries: []string{
			"+ttl=exact inrange.lab.test A",
			"+ttl=exact inrange.lan.test A",
			"+ttl=exact outrange.lan.test A",
			"+ttl=exact outrange.lab.test A",
			"+ttl=exact 15.0.2.10.in-addr.arpa PTR",
			"+ttl=exact 25.0.2.10.in-addr.arpa PTR",
		},
	},
	diffScenario{
		name: "localdata-domain-local",
		conf: `addn-hosts=%DIR%/hosts
domain=lan.test,192.168.8.0/24,local
`,
		files: map[string]string{"hosts": "192.168.8.8 known.lan.test\n"},
		queries: []string{
			"+ttl=exact known.lan.test A",
			"+ttl=exact unknown.lan.test A",
			"+ttl=exact 8.8.168.192.in-addr.arpa PTR",
			"+ttl=exact 9.8.168.192.in-addr.arpa PTR",
			"www.example.test A",
		},
	},
	diffScenario{
		name:  "localdata-interface-name",
		conf:  "interface-name=lo.test,lo\ninterface-name=lo4.test,lo/4\ninterface-name=none.test,nosuch0\naddn-hosts=%DIR%/hosts\n",
		files: map[string]string{"hosts": "192.0.2.200 lo.test\n"},
		queries: []string{
			"+ttl=exact lo.test A",
			"+ttl=exact lo.test AAAA",
			"+ttl=exact lo4.test AAAA",
			"+ttl=exact 1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa PTR",
			"none.test A",
		},
	},
	diffScenario{
		name:  "localdata-hostsdir",
		conf:  "hostsdir=%DIR%/hosts.d\n",
		files: map[string]string{"hosts.d/first": "192.0.2.150 first.test\n", "hosts.d/.hidden": "192.0.2.151 hidden.test\n"},
		queries: []string{
			"+ttl=exact first.test A",
			"hidden.test A",
			"!write hosts.d/second 192.0.2.152 second.test\\n",
			"!sleep 500ms",
			"+ttl=exact second.test A",
			"+ttl=exact 152.2.0.192.in-addr.arpa PTR",
		},
	},
)
