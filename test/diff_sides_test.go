package test

import (
	"fmt"
	"regexp"
	"strings"
)

// The two sides: where each listens and where its upstreams live.
type diffSide struct {
	name   string
	short  string // %SIDE%
	listen string // 127.0.0.x
	port   int    // 53 unless the scenario is remote
	upNet  string // upstream N is upNet + "." + N
	// wildcard: listen on every address (remote scenarios).
	wildcard bool
}

var (
	moatSide    = diffSide{name: "moat", short: "moat", listen: "127.0.0.10", port: 53, upNet: "127.0.1"}
	dnsmasqSide = diffSide{name: "dnsmasq 2.90", short: "dnsmasq", listen: "127.0.0.11", port: 53, upNet: "127.0.2"}
)

// remoteSides are the sides of a remote scenario: both listen on every
// address of the server namespace (reached from the client at
// remoteServerIP), each on its own port, and their upstreams live on
// addresses the client can reach (for the harness's "what were you
// asked" questions), on the server namespace's loopback interface.
func remoteSides() (moat, dnsmasq diffSide) {
	moat = diffSide{name: "moat", short: "moat", listen: remoteServerIP, port: 5310, upNet: "10.77.1", wildcard: true}
	dnsmasq = diffSide{name: "dnsmasq 2.90", short: "dnsmasq", listen: remoteServerIP, port: 5311, upNet: "10.77.2", wildcard: true}
	return moat, dnsmasq
}

// The remote topology (see linkedPair): the servers' end of the link and
// the client's two addresses, one on the link's subnet, one not.
const (
	remoteServerIP = "10.77.0.1"
	remoteClientIP = "10.77.0.2"
	remoteOtherIP  = "10.88.0.2"
)

func (s diffSide) server() string { return fmt.Sprintf("%s:%d", s.listen, s.port) }

// expand replaces the per-side placeholders of a file or config text.
func (s diffSide) expand(text, dir string) string {
	text = strings.NewReplacer("%DIR%", dir, "%LISTEN%", s.listen, "%SIDE%", s.short).Replace(text)
	return upRef.ReplaceAllString(text, s.upNet+".$1")
}

var upRef = regexp.MustCompile(`%UP([1-9])%`)

// config returns the scenario's configuration for one side.
func (s diffSide) config(sc diffScenario, dir string, own string) string {
	conf := fmt.Sprintf("port=%d\n", s.port)
	if !s.wildcard {
		conf += "listen-address=%LISTEN%\nbind-interfaces\n"
	}
	if !sc.resolv {
		conf += "no-resolv\n"
	}
	conf += "no-hosts\nlog-queries\n" + own
	if sc.upstreams == nil {
		conf += "server=%UP1%\n"
	}
	conf += sc.conf
	return s.expand(conf, dir)
}

func (s diffSide) upstreamAddrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s.%d:53", s.upNet, i+1)
	}
	return out
}
