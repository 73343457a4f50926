package test

// Differential scenarios for the upstream options issue 3 lists that had
// none: fast-dns-retry, query-port, min-port/max-port, the @source forms
// of server=, dns-loop-detect and resolv-file polling (with and without
// no-poll). The source the upstream saw is compared with +srcport and
// +srcaddr (see dnsdiff.Query).

// otherZone answers www.example.test with another address than
// defaultZone and knows no mail.example.test, so that a reply shows
// which of two upstreams answered.
const otherZone = `
test.               SOA  ns.test. hostmaster.test. 1 3600 600 86400 60
www.example.test.   A    198.51.100.1
`

const reasonFastRetrySeconds = "fast-dns-retry's second value is milliseconds (man dnsmasq); dnsmasq 2.90 compares it in whole seconds, so that under 1000 it never retries and above it retries for up to a second more or less than asked; moat retries for the milliseconds given"

var _ = addDiffScenarios(
	diffScenario{
		// Without an answer the server asks again on its own: after
		// 200 ms, then with exponential backoff (600 ms, 1400 ms, ...)
		// for 10 s. The unanswered query comes last, so that the retries
		// after the client gave up are seen by no later query.
		name: "fast-dns-retry",
		conf: "fast-dns-retry=200\n",
		// Both go on retrying after the client gave up; the logs are
		// compared while they do, at different points of the backoff.
		noLogs: "the retries after the client gave up are logged at times that differ between the two sides",
		queries: []string{
			"www.example.test A",
			"drop.example.test A",
		},
	},
	diffScenario{
		// Retries for 700 ms: dnsmasq 2.90 keeps the duration in whole
		// seconds (700 ms is 0 s: no retry at all).
		name: "fast-dns-retry-short",
		conf: "fast-dns-retry=200,700\n",
		queries: []string{
			"drop.example.test A",
		},
		known: known("drop.example.test A", deliberate,
			reasonFastRetrySeconds, "upstream"),
		logKnown: []logKnown{{side: "moat", line: "forwarded drop.example.test to %UP1%", kind: deliberate, reason: reasonFastRetrySeconds}},
	},
	diffScenario{
		// One fixed source port per side (two servers cannot share
		// one): the upstream sees 40053 from moat, 40054 from dnsmasq.
		name:        "query-port",
		onlyMoat:    "query-port=40053\n",
		onlyDnsmasq: "query-port=40054\n",
		queries: []string{
			"+srcport=40053-40054 www.example.test A",
			"+srcport=40053-40054 mail.example.test A",
			// TCP connections use a random port whatever query-port says.
			"+srcport=40053-40054 +tcp txt.example.test TXT",
			"+srcport=40053-40054 missing.example.test A",
		},
	},
	diffScenario{
		// A server with its own source address does not use query-port:
		// dnsmasq 2.90 picks a random port for it.
		name:      "query-port-source-address",
		conf:      "query-port=40053\nserver=%UP1%@%LISTEN%\n",
		upstreams: []string{defaultZone},
		queries: []string{
			"+srcport=1024-65535 +srcaddr www.example.test A",
			"+srcport=40053-40053 +srcaddr mail.example.test A",
		},
	},
	diffScenario{
		name: "min-max-port",
		conf: "min-port=30000\nmax-port=30099\n",
		queries: []string{
			"+srcport=30000-30099 www.example.test A",
			"+srcport=30000-30099 mail.example.test A",
			"+srcport=30000-30099 missing.example.test A",
			"+srcport=30000-30099 txt.example.test TXT",
		},
	},
	diffScenario{
		// By default the source port is random and never privileged.
		name: "default-ports",
		queries: []string{
			"+srcport=1024-65535 www.example.test A",
			"+srcport=1024-65535 mail.example.test A",
		},
	},
	diffScenario{
		// server=ip@source-ip and server=ip@interface.
		name:      "server-source",
		conf:      "server=%UP1%@%LISTEN%\nserver=/corp.test/%UP2%@lo\n",
		upstreams: []string{defaultZone, corpZone},
		queries: []string{
			"+srcaddr www.example.test A",
			"+srcaddr host.corp.test A",
		},
	},
	diffScenario{
		// The first upstream sends loop probes back to the server that
		// sent them (it is asked from the server's own address, so that
		// "back" is the server); it must be found and left out, and the
		// second answers everything.
		name:      "dns-loop-detect",
		conf:      "dns-loop-detect\nserver=%UP1%@%LISTEN%\nserver=%UP2%\n",
		upstreams: []string{defaultZone + "$LOOP\n", otherZone},
		queries: []string{
			"!sleep 500ms",
			"www.example.test A",
			"mail.example.test A",
			"www.example.test AAAA",
		},
	},
	diffScenario{
		// A rewritten resolv-file takes effect without a signal. The
		// sleep before the write makes its modification time differ in
		// whole seconds, which is what dnsmasq looks at.
		name:      "resolv-file-poll",
		resolv:    true,
		conf:      "resolv-file=%DIR%/resolv-%SIDE%.conf\n",
		files:     map[string]string{"resolv-%SIDE%.conf": "nameserver %UP1%\n"},
		upstreams: []string{defaultZone, otherZone},
		queries: []string{
			"www.example.test A",
			"!sleep 1100ms",
			"!write resolv-%SIDE%.conf nameserver %UP2%\\n",
			"!sleep 1500ms",
			"mail.example.test A",
			"www.example.test A",
			"www.example.test AAAA",
		},
	},
	diffScenario{
		// no-poll: the old servers stay until SIGHUP, which reads the
		// resolv-file again.
		name:      "resolv-file-no-poll",
		resolv:    true,
		conf:      "no-poll\nresolv-file=%DIR%/resolv-%SIDE%.conf\n",
		files:     map[string]string{"resolv-%SIDE%.conf": "nameserver %UP1%\n"},
		upstreams: []string{defaultZone, otherZone},
		queries: []string{
			"www.example.test A",
			"!sleep 1100ms",
			"!write resolv-%SIDE%.conf nameserver %UP2%\\n",
			"!sleep 1500ms",
			"mail.example.test A",
			"!sighup",
			"www.example.test A",
			"txt.example.test TXT",
		},
	},
)

var _ = addDiffScenarios(
	diffScenario{
		// Identical questions from several clients while the first is
		// being asked upstream go upstream once (the upstream answers
		// slow.* after dnsdiff.SlowDelay).
		name:      "in-flight-dedup",
		conf:      "server=%UP1%\n",
		upstreams: []string{defaultZone + "slow.example.test. A 192.0.2.30\nslow.example.test. AAAA 2001:db8::30\n"},
		queries: []string{
			"+copies=5 slow.example.test A",
			"+copies=3 slow.example.test AAAA",
			"+copies=4 slow.missing.example.test A",
		},
	},
)

var _ = addDiffScenarios(
	diffScenario{
		// server=ip#port: every fake upstream answers on 5353 too.
		name:      "server-port",
		conf:      "server=%UP1%#5353\nserver=/corp.test/%UP2%#53\nrev-server=192.0.2.0/24,%UP1%#5353\n",
		upstreams: []string{defaultZone, corpZone},
		queries: []string{
			"www.example.test A",
			"+tcp mail.example.test A",
			"host.corp.test A",
			"1.2.0.192.in-addr.arpa PTR",
		},
	},
)
