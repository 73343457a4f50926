package test

import "slices"

// Differential scenarios: the edges of the protocol (opcodes, classes,
// odd types, malformed queries).

const (
	reasonNotify = "moat answers NOTIMP itself to every opcode but QUERY, NOTIFY included (a forwarder holds no zone to notify, and relaying would let clients send NOTIFY to the upstream servers); dnsmasq 2.90 forwards NOTIFY and relays the upstream's reply"

	reasonNotimp = "moat answers NOTIMP to an opcode it does not implement, as RFC 1035 and issue 3 ask; dnsmasq 2.90 does not answer at all, and the client waits for its timeout"

	reasonVersionBind = "version.bind names the server that answers: moat-VERSION, not dnsmasq-2.90"
)

var _ = addDiffScenarios(
	diffScenario{
		name:   "opcodes",
		noLogs: reasonLogFollows,
		queries: []string{
			"+opcode=IQUERY www.example.test A",
			"+opcode=STATUS www.example.test A",
			"+opcode=NOTIFY www.example.test SOA",
			"+opcode=UPDATE example.test SOA",
			"+opcode=15 www.example.test A",
			"+tcp +opcode=NOTIFY www.example.test SOA",
		},
		known: slices.Concat(
			known("+opcode=IQUERY www.example.test A", deliberate, reasonNotimp, "reply"),
			known("+opcode=STATUS www.example.test A", deliberate, reasonNotimp, "reply"),
			known("+opcode=UPDATE example.test SOA", deliberate, reasonNotimp, "reply"),
			known("+opcode=15 www.example.test A", deliberate, reasonNotimp, "reply"),
			known("+opcode=NOTIFY www.example.test SOA", deliberate, reasonNotify, "upstream", "flags"),
			known("+tcp +opcode=NOTIFY www.example.test SOA", deliberate, reasonNotify, "upstream", "flags"),
		),
	},
	diffScenario{
		name:   "malformed-queries",
		noLogs: reasonLogFollows,
		queries: []string{
			"+qr www.example.test A",
			"+noquestion",
			"+noquestion +edns",
			"+tcp +noquestion",
		},
	},
	diffScenario{
		name:   "classes-and-types",
		noLogs: reasonLogFollows,
		queries: []string{
			"www.example.test A HS",
			"www.example.test A CLASS42",
			"www.example.test A ANY",
			"version.bind TXT CH",
			"+tcp www.example.test AXFR",
			"www.example.test IXFR",
			"www.example.test TYPE0",
			"www.example.test OPT",
			". NS",
			". SOA",
			"www.example.test RRSIG",
			"www.example.test TYPE65535",
		},
		known: slices.Concat(
			known("www.example.test A HS", deliberate, reasonRetrySameServer, "upstream"),
			known("version.bind TXT CH", deliberate, reasonVersionBind, "answer"),
		),
	},
)
