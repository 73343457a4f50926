package test

// Differential scenarios for log-queries: the lines both servers write
// about the same queries are compared (as in every scenario, see
// compareLogs), here for answers of every kind from upstream, from the
// cache, from configuration and from a hosts file.

var _ = addDiffScenarios(
	diffScenario{
		name: "log-queries-forwarded",
		queries: []string{
			"www.example.test A",
			"www.example.test AAAA",
			"alias.example.test A",
			"chain.example.test AAAA",
			"dangling.example.test A",
			"missing.example.test A",
			"nodata.example.test A",
			"nodata.example.test TXT",
			"txt.example.test TXT",
			"_sip._udp.example.test SRV",
			"1.2.0.192.in-addr.arpa PTR",
			"9.2.0.192.in-addr.arpa PTR",
			"2.0.192.in-addr.arpa PTR",
			"9.2.0.192.in-addr.arpa TXT",
			"servfail.example.test A",
		},
		known:    known("servfail.example.test A", deliberate, reasonRetrySameServer, "upstream"),
		logKnown: []logKnown{{side: "dnsmasq", line: "forwarded servfail.example.test to %UP1%", kind: deliberate, reason: reasonRetrySameServer}},
	},
	diffScenario{
		name: "log-queries-cached",
		queries: []string{
			"www.example.test A",
			"www.example.test A",
			"alias.example.test A",
			"alias.example.test A",
			"missing.example.test A",
			"missing.example.test A",
			"nodata.example.test A",
			"nodata.example.test A",
			"1.2.0.192.in-addr.arpa PTR",
			"1.2.0.192.in-addr.arpa PTR",
			"_sip._udp.example.test SRV",
			"_sip._udp.example.test SRV",
		},
	},
	diffScenario{
		name:  "log-queries-local",
		conf:  "addn-hosts=%DIR%/hosts\nhost-record=hr.test,192.0.2.101,2001:db8::101\naddress=/blocked.test/192.0.2.66\naddress=/nx.test/\ncname=al.test,hr.test\ntxt-record=txt.test,\"one\",\"two\"\nmx-host=mx.test,mail.test,5\nlocal=/lan.test/\n",
		files: map[string]string{"hosts": diffHosts},
		queries: []string{
			"host1.test A",
			"host1.test AAAA",
			"v6only.test A",
			"10.2.0.192.in-addr.arpa PTR",
			"hr.test A",
			"hr.test AAAA",
			"al.test A",
			"blocked.test A",
			"blocked.test AAAA",
			"nx.test A",
			"txt.test TXT",
			"mx.test MX",
			"missing.lan.test A",
			"host1.test ANY",
		},
	},
)

var _ = addDiffScenarios(
	diffScenario{
		// SIGUSR1: statistics and, with log-queries, the cache dump.
		name: "sigusr1",
		queries: []string{
			"www.example.test A",
			"www.example.test AAAA",
			"alias.example.test A",
			"missing.example.test A",
			"nodata.example.test A",
			"1.2.0.192.in-addr.arpa PTR",
			"_sip._udp.example.test SRV",
			"+tcp mail.example.test A",
			"!sigusr1",
			"www.example.test A",
			"!sigusr1",
		},
	},
)

var _ = addDiffScenarios(
	diffScenario{
		// log-queries=extra: every line of a query starts with its
		// serial number and the client's address and port (the serial
		// and the port are not compared).
		name: "log-queries-extra",
		conf: "log-queries=extra\naddress=/blocked.test/192.0.2.66\n",
		queries: []string{
			"www.example.test A",
			"www.example.test A",
			"+tcp alias.example.test A",
			"blocked.test A",
			"missing.example.test AAAA",
		},
	},
)
