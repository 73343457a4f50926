package test

import (
	"fmt"
	"slices"
	"strings"
)

// Differential scenarios: which queries the cache may answer (RD clear,
// the DO bit) next to local data, and how a reply too big for the client
// is truncated (dnsd/compat_*.go).

// reasonEmptyTruncation is the one deliberate difference in truncation.
const reasonEmptyTruncation = "a UDP reply too big for the client: moat always sends TC with empty sections (never part of an RRset, which a client ignoring TC would take as complete, RFC 2181 9), as dnsmasq 2.90 does when it relays such a reply; dnsmasq sends the records that fit, with TC, when it answers from its cache or its local data"

// manyHosts is an addn-hosts file giving one name 60 IPv4 addresses:
// about 1 KB of answer, too much for 512 bytes.
func manyHosts() string {
	var b strings.Builder
	for i := range 60 {
		fmt.Fprintf(&b, "198.51.100.%d manyhosts.test\n", i+100)
	}
	return b.String()
}

var _ = addDiffScenarios(
	diffScenario{
		// RD=0 and DO queries never come from the cache (they are
		// forwarded), while local data answers them; replies to DO
		// queries are cached for the queries without DO.
		name:  "cache-bypass",
		conf:  "addn-hosts=%DIR%/hosts\naddress=/addr.test/192.0.2.50\n",
		files: map[string]string{"hosts": diffHosts},
		queries: []string{
			"www.example.test A",
			"+norec www.example.test A",
			"+norec www.example.test A",
			"+norec +ttl=exact host1.test A",
			"+norec +ttl=exact x.addr.test A",
			"alias.example.test A",
			"+norec alias.example.test A",
			"+do www.example.test A",
			"+do +ttl=exact host1.test A",
			"+norec +do +ttl=exact x.addr.test A",
			"+do mail.example.test A",
			"mail.example.test A",
			"+do mail.example.test A",
			"+ad +cd +do www.example.test A",
			"+tcp +norec www.example.test A",
			"+tcp +do www.example.test A",
		},
	},
	diffScenario{
		name:  "truncation",
		conf:  "addn-hosts=%DIR%/hosts\n",
		files: map[string]string{"hosts": manyHosts()},
		queries: []string{
			"+ttl=exact manyhosts.test A",
			"+ttl=exact +edns=700 manyhosts.test A",
			"+ttl=exact +edns manyhosts.test A",
			"+ttl=exact +tcp manyhosts.test A",
			"+edns many.example.test A",
			"many.example.test A",
			"tc.example.test A",
			"+edns tc.example.test A",
			"+tcp tc.example.test A",
		},
		known: slices.Concat(
			known("+ttl=exact manyhosts.test A", deliberate, reasonEmptyTruncation, "answer"),
			known("+ttl=exact +edns=700 manyhosts.test A", deliberate, reasonEmptyTruncation, "answer"),
			known("+ttl=exact +edns=700 manyhosts.test A", deliberate,
				"the same truncation: dnsmasq 2.90 fills the reply with records up to the client's size and then has no room left for its OPT record, so an EDNS client gets none; moat's TC reply keeps it", "edns"),
			known("many.example.test A", deliberate, reasonEmptyTruncation, "answer"),
		),
	},
)
