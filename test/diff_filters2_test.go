package test

import (
	"slices"
	"strings"

	"github.com/moatdns/moat/test/internal/dnsdiff"
)

// Differential scenarios for the filter options issue 3 lists that had
// none: ignore-address, local-service (a client on another network) and
// add-mac (the client's MAC from the servers' neighbour table), plus
// mx-target. local-service and add-mac need a client outside the
// servers' namespace: they are remote scenarios (diffScenario.remote).

// clientOptionSize is reasonClientOptionSize, narrowed to the UDP size
// alone: the options themselves must be the same.
func clientOptionSize(query string) knownDiff {
	return knownDiff{query: query, field: dnsdiff.FieldUpstreamFlags, kind: deliberate, reason: reasonClientOptionSize,
		applies: func(d dnsdiff.Diff) bool { return strings.ReplaceAll(d.A, "edns=v0/1232/", "edns=v0/512/") == d.B }}
}

const reasonLocalServiceHost = "local-service=host: dnsmasq 2.90 listens on lo only, so a client elsewhere gets an ICMP port unreachable; moat keeps its listening sockets and drops the query unanswered (the same for the client: no answer)"

const reasonOwnRetry = "moat re-sends an unanswered query upstream on its own timer (after 1.5 s without fast-dns-retry), here after the previous query's reply was ignored; dnsmasq 2.90 re-sends only when the client does"

var _ = addDiffScenarios(
	diffScenario{
		// A reply holding an ignored address is dropped; the server waits
		// for another, which never comes. The unanswered queries come
		// last (see fast-dns-retry).
		name: "ignore-address",
		conf: "ignore-address=192.0.2.1\nignore-address=2001:db8::/32\n",
		queries: []string{
			"mail.example.test A",
			"mx.example.test MX",
			"www.example.test A",
			"www.example.test AAAA",
		},
		known: known("www.example.test AAAA", deliberate, reasonOwnRetry, "upstream"),
		logKnown: []logKnown{
			{side: "moat", line: "forwarded www.example.test to %UP1%", kind: deliberate, reason: reasonOwnRetry},
			{side: "moat", line: "reply error is SERVFAIL", kind: deliberate, reason: reasonOwnRetry},
		},
	},
	diffScenario{
		// With two servers asked at once, the reply without the ignored
		// address wins.
		name:      "ignore-address-all-servers",
		conf:      "all-servers\nserver=%UP1%\nserver=%UP2%\nignore-address=192.0.2.1\n",
		upstreams: []string{defaultZone, otherZone},
		queries: []string{
			"www.example.test A",
			"www.example.test A",
		},
	},
	diffScenario{
		// Clients on the servers' subnet are answered; a client on
		// another network (routed to the server) is not.
		name:   "local-service",
		remote: true,
		conf:   "local-service\n",
		queries: []string{
			"www.example.test A",
			"+tcp mail.example.test A",
			"+from=" + remoteOtherIP + " txt.example.test TXT",
			"+from=" + remoteOtherIP + " +tcp txt.example.test TXT",
		},
	},
	diffScenario{
		// local-service=host: loopback clients only. dnsmasq listens on
		// lo alone, so a remote client's query finds no socket (ICMP
		// port unreachable, "connection refused"); moat listens where
		// it was told and drops the query.
		name:   "local-service-host",
		remote: true,
		conf:   "local-service=host\n",
		queries: []string{
			"www.example.test A",
			"+from=" + remoteOtherIP + " txt.example.test TXT",
		},
		known: slices.Concat(
			known("www.example.test A", deliberate, reasonLocalServiceHost, "reply"),
			known("+from="+remoteOtherIP+" txt.example.test TXT", deliberate, reasonLocalServiceHost, "reply"),
		),
	},
	diffScenario{
		// Without local-service the same remote client is answered.
		name:   "local-service-off",
		remote: true,
		queries: []string{
			"www.example.test A",
			"+from=" + remoteOtherIP + " txt.example.test TXT",
		},
	},
	diffScenario{
		// add-mac: EDNS0 option 65001 with the client's MAC, for
		// clients in the neighbour table only.
		name:   "add-mac",
		remote: true,
		conf:   "add-mac\n",
		queries: []string{
			"www.example.test A",
			"+edns mail.example.test A",
			// 10.88.0.2 enters the servers' neighbour table when moat's
			// reply to it is sent (ARP), before dnsmasq is asked.
			"+from=" + remoteOtherIP + " +edns txt.example.test TXT",
			// The master reads the neighbour table every second.
			"!sleep 1500ms",
			"+from=" + remoteOtherIP + " +edns mx.example.test MX",
		},
		known: []knownDiff{clientOptionSize("www.example.test A"), {
			query: "+from=" + remoteOtherIP + " +edns txt.example.test TXT", field: dnsdiff.FieldUpstreamFlags, kind: deliberate,
			reason: "dnsd cannot read the kernel's neighbour table; the master sends it every second, so that a client whose entry is younger than that gets no MAC option yet; dnsmasq reads the table when the query needs it",
			applies: func(d dnsdiff.Diff) bool {
				return strings.Contains(d.B, "/opt65001=") && strings.Replace(d.B, "/opt65001=65001:0x02005e102030", "", 1) == d.A
			},
		}},
	},
	diffScenario{
		name:   "add-mac-base64",
		remote: true,
		conf:   "add-mac=base64\n",
		queries: []string{
			"+edns www.example.test A",
		},
	},
	diffScenario{
		name:   "add-mac-text",
		remote: true,
		conf:   "add-mac=text\n",
		queries: []string{
			"+edns www.example.test A",
		},
	},
	diffScenario{
		// mx-host without a target takes mx-target's; mx-target alone
		// makes the server's own names MX hosts (dnsmasq: with
		// localmx or selfmx only).
		name: "mx-target",
		conf: "mx-host=mx1.test\nmx-host=mx2.test,,20\nmx-host=mx3.test,other.test,30\nmx-target=mail.test\n",
		queries: []string{
			"+ttl=exact mx1.test MX",
			"+ttl=exact mx2.test MX",
			"+ttl=exact mx3.test MX",
			"+ttl=exact mail.test MX",
		},
	},
)
