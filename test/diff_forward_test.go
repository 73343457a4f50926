package test

import "slices"

// Differential scenarios: forwarding to one upstream and caching what it
// says. The upstream data is defaultZone.

// Differences several scenarios share.
const (
	reasonCachesEveryType = "moat caches every record type; dnsmasq 2.90 caches A, AAAA, CNAME, SRV and PTR unless cache-rr names more, so it forwards MX or TXT again"

	reasonChainLinkCached = "moat caches whole answers by their question; dnsmasq caches each record, so it answers a name that was a link of an earlier CNAME chain from its cache (in the question's case), where moat forwards the question and relays the upstream's case"

	reasonRetrySameServer = "after SERVFAIL or REFUSED dnsmasq 2.90 re-sends the query to the next server, which with one server is the same one; moat tries each configured server once (upstream policy, area C, to confirm)"
)

var _ = addDiffScenarios(
	diffScenario{
		name: "forward-types",
		queries: []string{
			"www.example.test A",
			"www.example.test AAAA",
			"alias.example.test A",
			"chain.example.test AAAA",
			"dangling.example.test A",
			"mx.example.test MX",
			"txt.example.test TXT",
			"_sip._udp.example.test SRV",
			"caa.example.test CAA",
			"typed.example.test TYPE65400",
			"foo.wild.example.test A",
			"1.2.0.192.in-addr.arpa PTR",
			"www.example.test ANY",
		},
	},
	diffScenario{
		name: "forward-negative",
		queries: []string{
			"missing.example.test A",
			"nodata.example.test A",
			"missing.example.test A",
			"nodata.example.test A",
			"9.2.0.192.in-addr.arpa PTR",
			"servfail.example.test A",
			"refused.example.test A",
			// Last: a server may ask again after the client gave up, and
			// that must not count against the next query.
			"+edns drop.example.test A",
		},
		known: slices.Concat(
			known("servfail.example.test A", deliberate, reasonRetrySameServer, "upstream"),
			known("refused.example.test A", deliberate, reasonRetrySameServer, "upstream"),
		),
		logKnown: []logKnown{
			{side: "dnsmasq", line: "forwarded servfail.example.test to %UP1%", kind: deliberate, reason: reasonRetrySameServer},
			{side: "dnsmasq", line: "forwarded refused.example.test to %UP1%", kind: deliberate, reason: reasonRetrySameServer},
			{side: "moat", line: "forwarded drop.example.test to %UP1%", kind: deliberate, reason: reasonOwnRetry},
		},
	},
	diffScenario{
		// Second asks of a name come from the cache: the upstreams see one
		// query each, and the TTLs count down alike.
		name: "cache-hits",
		queries: []string{
			"www.example.test A",
			"www.example.test A",
			"WWW.EXAMPLE.TEST A",
			"alias.example.test A",
			"www.example.test A",
			"mx.example.test MX",
			"mx.example.test MX",
			"!sleep 1100ms",
			"www.example.test A",
			"short.example.test A",
			"!sleep 2100ms",
			"short.example.test A",
			"zero.example.test A",
			"zero.example.test A",
		},
		known: slices.Concat(
			known("mx.example.test MX", deliberate, reasonCachesEveryType, "upstream"),
		),
		logKnown: []logKnown{
			{side: "moat", line: "cached mx.example.test is <MX>", kind: deliberate, reason: reasonCachesEveryType},
			{side: "dnsmasq", line: "forwarded mx.example.test to %UP1%", kind: deliberate, reason: reasonCachesEveryType},
			{side: "dnsmasq", line: "reply mx.example.test is <MX>", kind: deliberate, reason: reasonCachesEveryType},
		},
	},
	diffScenario{
		name: "cache-disabled",
		conf: "cache-size=0\n",
		queries: []string{
			"www.example.test A",
			"www.example.test A",
		},
	},
	diffScenario{
		name: "mixed-case",
		conf: "server=%UP1%\n",
		// A chain through names of mixed case in the upstream data.
		upstreams: []string{defaultZone + "Case-Chain.example.test. CNAME Case-Alias.Example.Test.\nCase-Alias.Example.Test. CNAME MiXeD.example.test.\n"},
		queries: []string{
			"WwW.ExAmPlE.TeSt A",
			"mixed.example.test A",
			"MIXED.EXAMPLE.TEST A",
			"mIxEd.ExAmPlE.tEsT A",
			// A cached CNAME chain: only owners equal to the question
			// take its case.
			"chain.example.test A",
			"CHAIN.EXAMPLE.TEST A",
			"case-chain.example.test A",
			"CASE-CHAIN.EXAMPLE.TEST A",
			"case-alias.example.test A",
			"cAsE-cHaIn.example.test A",
		},
		known: known("case-alias.example.test A", deliberate,
			reasonChainLinkCached, "answer", "upstream"),
		logKnown: []logKnown{
			{side: "moat", line: "forwarded case-alias.example.test to %UP1%", kind: deliberate, reason: reasonChainLinkCached},
			{side: "moat", line: "reply case-alias.example.test is <CNAME>", kind: deliberate, reason: reasonChainLinkCached},
			{side: "moat", line: "reply MiXeD.example.test is 192.0.2.9", kind: deliberate, reason: reasonChainLinkCached},
			{side: "dnsmasq", line: "cached case-alias.example.test is <CNAME>", kind: deliberate, reason: reasonChainLinkCached},
			{side: "dnsmasq", line: "cached MiXeD.example.test is 192.0.2.9", kind: deliberate, reason: reasonChainLinkCached},
		},
	},
	diffScenario{
		name: "tcp",
		queries: []string{
			"+tcp www.example.test A",
			"+tcp big.example.test TXT",
			"+tcp missing.example.test A",
			"+tcp www.example.test A",
		},
	},
	diffScenario{
		name:   "edns-and-truncation",
		noLogs: reasonTCPRefetchLog + "; and moat logs no lines for the BADVERS answer",
		queries: []string{
			"+edns www.example.test A",
			"+edns=4096 www.example.test A",
			"+edns=512 www.example.test A",
			"+do www.example.test A",
			"many.example.test A",
			"+edns many.example.test A",
			"big.example.test TXT",
			"+edns big.example.test TXT",
			"+edns=4096 big.example.test TXT",
			"+tcp big.example.test TXT",
			"+ednsver=1 www.example.test A",
			"+ednsopt=65001:abcd www.example.test A",
		},
		known: slices.Concat(
			known("+edns many.example.test A", deliberate,
				"moat's cache already holds the whole RRset (it asked upstream with EDNS for the plain query before); dnsmasq only had a truncated reply and asks again", "upstream"),
			known("+ednsver=1 www.example.test A", deliberate,
				"an unknown EDNS version gets BADVERS (no answer) as RFC 6891 6.1.3 and issue 3 require; dnsmasq 2.90 ignores the version and answers", "rcode", "answer"),
		),
	},
	diffScenario{
		name: "header-bits",
		queries: []string{
			"+norec www.example.test A",
			"+cd www.example.test A",
			"+ad mail.example.test A",
			"+norec mail.example.test A",
		},
	},
)
