package test

import "slices"

// Differential scenarios for area D: the query and reply filters, the
// EDNS0 client options, edns-packet-max and the CHAOS names.

// filtersZone holds what the filters look at: private, loopback, bogus and
// ordinary addresses, reverse names, Windows service names.
const filtersZone = `
test.                         SOA   ns.test. hostmaster.test. 1 3600 600 86400 60
pub.example.test.             A     8.8.8.8
pub.example.test.             AAAA  2606:4700::1
pub.example.test.             MX    10 mail.example.test.
pub.example.test.             TXT   "public"
priv.example.test.            A     192.168.1.5
ula.example.test.             AAAA  fd00::5
lo.example.test.              A     127.0.0.2
zero.example.test.            A     0.0.0.0
cgnat.example.test.           A     100.64.1.1
docnet.example.test.          A     192.0.2.7
alias.example.test.           CNAME priv.example.test.
priv.ok.test.                 A     192.168.1.6
bogus.example.test.           A     198.18.0.1
bogus6.example.test.          AAAA  2001:db8:bad::1
_ldap._tcp.example.test.      SRV   0 0 389 dc.example.test.
plain.                        A     192.0.2.99
arpa.                         SOA   ns.test. hostmaster.test. 1 3600 600 86400 60
1.1.168.192.in-addr.arpa.     PTR   router.example.test.
1.0.0.10.in-addr.arpa.        PTR   ten.example.test.
1.0.0.127.in-addr.arpa.       PTR   localhost.
8.8.8.8.in-addr.arpa.         PTR   dns.example.test.
1.0.64.100.in-addr.arpa.      PTR   cgnat.example.test.
`

const (
	reasonNegNotCached = "dnsmasq 2.90 caches the NXDOMAIN of bogus-nxdomain (for the record's TTL, for every type of the name) and the NODATA left by filter-A/-AAAA/-rr; moat's cache keeps a negative answer without SOA only for neg-ttl, so moat asks upstream again (cache, area B, has no TTL hint for such answers)"

	reasonChaosIdentity = "version.bind, authors.bind and copyright.bind name moat, not dnsmasq"

	reasonChaosCounters = "the CHAOS counters count moat's own events: dnsmasq counts the harness's start-up probes and its cache differently"

	reasonClientOptionSize = "with add-subnet or add-mac, a query the client sent without EDNS goes upstream with moat's edns-packet-max (1232) as its UDP size; dnsmasq 2.90 writes 512 there"

	reasonTCPRefetchLog = "after a truncated UDP reply moat fetches the whole answer over TCP (to cache it) and logs its records; dnsmasq passes the truncated reply on and logs no answer"

	reasonFilteredFromCache = "dnsmasq 2.90 answers the MX query of a name whose A answer filter-A emptied from its cache (the same NODATA), moat asks upstream"
)

var _ = addDiffScenarios(
	diffScenario{
		name:      "filter-domain-needed",
		conf:      "server=%UP1%\ndomain-needed\n",
		upstreams: []string{filtersZone},
		queries: []string{
			"plain A", "plain AAAA", "plain ANY", "plain MX", "plain TXT",
			"pub.example.test A",
		},
	},
	diffScenario{
		name:      "filter-bogus-priv",
		conf:      "server=%UP1%\nbogus-priv\nserver=/1.168.192.in-addr.arpa/%UP1%\n",
		upstreams: []string{filtersZone},
		queries: []string{
			"1.0.0.10.in-addr.arpa PTR",
			"1.0.0.127.in-addr.arpa PTR",
			"168.192.in-addr.arpa PTR",
			"1.1.168.192.in-addr.arpa PTR",
			"8.8.8.8.in-addr.arpa PTR",
			"1.0.64.100.in-addr.arpa PTR",
			"1.0.0.10.in-addr.arpa ANY",
			"1.0.0.10.in-addr.arpa TXT",
			"x.10.in-addr.arpa PTR",
			"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa PTR",
			"5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa PTR",
		},
	},
	diffScenario{
		name:      "filter-filterwin2k",
		conf:      "server=%UP1%\nfilterwin2k\n",
		upstreams: []string{filtersZone},
		queries: []string{
			"example.test SOA", "_ldap._tcp.example.test SRV", "_ldap._tcp.example.test ANY",
			"pub.example.test ANY", "pub.example.test A",
		},
	},
	diffScenario{
		name:      "filter-bogus-nxdomain",
		conf:      "server=%UP1%\nbogus-nxdomain=198.18.0.0/15\nbogus-nxdomain=2001:db8:bad::1\n",
		upstreams: []string{filtersZone},
		queries: []string{
			"bogus.example.test A", "bogus6.example.test AAAA", "pub.example.test A", "bogus.example.test A",
		},
		known: known("bogus.example.test A", deliberate, reasonNegNotCached, "upstream"),
		logKnown: []logKnown{
			{side: "moat", line: "forwarded bogus.example.test to %UP1%", kind: deliberate, reason: reasonNegNotCached},
			{side: "moat", line: "config bogus.example.test is NXDOMAIN", kind: deliberate, reason: reasonNegNotCached},
			{side: "dnsmasq", line: "cached bogus.example.test is NXDOMAIN", kind: deliberate, reason: reasonNegNotCached},
		},
	},
	diffScenario{
		name:      "filter-stop-dns-rebind",
		conf:      "server=%UP1%\nstop-dns-rebind\nrebind-domain-ok=/ok.test/\n",
		upstreams: []string{filtersZone},
		queries: []string{
			"+edns priv.example.test A", "priv.example.test A", "ula.example.test AAAA", "lo.example.test A",
			"zero.example.test A", "docnet.example.test A", "cgnat.example.test A", "alias.example.test A",
			"priv.ok.test A", "pub.example.test A", "priv.example.test ANY",
		},
	},
	diffScenario{
		name:      "filter-rebind-localhost-ok",
		conf:      "server=%UP1%\nstop-dns-rebind\nrebind-localhost-ok\n",
		upstreams: []string{filtersZone},
		queries:   []string{"lo.example.test A", "zero.example.test A", "priv.example.test A"},
	},
	diffScenario{
		name:        "filter-aaaa",
		upstreams:   []string{filtersZone},
		conf:        "server=%UP1%\n",
		onlyMoat:    "filter-aaaa\n", // OpenWrt's spelling, which stock dnsmasq rejects
		onlyDnsmasq: "filter-AAAA\n",
		queries: []string{
			"+edns pub.example.test AAAA", "pub.example.test A", "pub.example.test ANY",
		},
	},
	diffScenario{
		name:      "filter-rr",
		conf:      "server=%UP1%\nfilter-A\nfilter-rr=MX,ANY\n",
		upstreams: []string{filtersZone},
		queries: []string{
			"+edns pub.example.test A", "pub.example.test MX", "pub.example.test TXT", "pub.example.test ANY",
		},
		known:    known("pub.example.test MX", deliberate, reasonFilteredFromCache, "upstream"),
		logKnown: []logKnown{{side: "moat", line: "forwarded pub.example.test to %UP1%", kind: deliberate, reason: reasonFilteredFromCache}},
	},
	diffScenario{
		name:   "edns-packet-max",
		conf:   "edns-packet-max=600\n",
		noLogs: reasonTCPRefetchLog,
		queries: []string{
			"+edns=4096 big.example.test TXT", "+edns=4096 many.example.test A", "+edns=4096 www.example.test A",
		},
	},
	diffScenario{
		name: "add-subnet",
		conf: "add-subnet=24,96\n",
		queries: []string{
			"www.example.test A", "www.example.test A",
		},
		known: known("www.example.test A", deliberate, reasonClientOptionSize, "upstream-flags"),
	},
	diffScenario{
		name: "add-subnet-fixed",
		conf: "add-subnet=1.2.3.4/24\n",
		queries: []string{
			"www.example.test A", "www.example.test A",
		},
		known: known("www.example.test A", deliberate, reasonClientOptionSize, "upstream-flags"),
	},
	diffScenario{
		name: "chaos-names",
		queries: []string{
			"cachesize.bind TXT CH", "insertions.bind TXT CH", "evictions.bind TXT CH",
			"misses.bind TXT CH", "hits.bind TXT CH", "auth.bind TXT CH",
			"version.bind TXT CH", "authors.bind TXT CH", "copyright.bind TXT CH",
			"hostname.bind TXT CH", "id.server TXT CH", "version.bind A CH", "bind TXT CH",
			"www.example.test TXT CH",
		},
		known: slices.Concat(
			known("version.bind TXT CH", deliberate, reasonChaosIdentity, "answer"),
			known("authors.bind TXT CH", deliberate, reasonChaosIdentity, "answer"),
			known("copyright.bind TXT CH", deliberate, reasonChaosIdentity, "answer"),
			known("*", deliberate, reasonChaosCounters, "answer"),
			known("www.example.test TXT CH", deliberate, reasonRetrySameServer, "upstream"),
		),
		logKnown: []logKnown{{side: "dnsmasq", line: "forwarded www.example.test to %UP1%", kind: deliberate, reason: reasonRetrySameServer}},
	},
	diffScenario{
		name:    "chaos-no-ident",
		conf:    "no-ident\n",
		queries: []string{"version.bind TXT CH", "cachesize.bind TXT CH", "id.server TXT CH"},
	},
)
