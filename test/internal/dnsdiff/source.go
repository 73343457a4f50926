package dnsdiff

import (
	"fmt"
	"net/netip"
	"strings"
)

// sourceMark separates an upstream line (Summarize) from the address the
// query came from, which Batch.Run keeps only for the queries that ask
// for it (+srcaddr, +srcport): it differs between the two servers by
// design otherwise (random ports, their own addresses).
const sourceMark = " | from "

// clientOptions are the EDNS options whose data Summarize shows: the
// client subnet (8) and the MAC address options of add-mac (65001, and
// 65073 for its base64 and text forms).
var clientOptions = map[uint16]bool{8: true, 65001: true, 65073: true, 65074: true}

// sourceView rewrites one upstream line for query q asked of side s: the
// source part goes, or becomes what q compares.
func (s Side) sourceView(q Query, line string) string {
	head, src, ok := strings.Cut(line, sourceMark)
	if !ok || (!q.SourceAddr && !q.SourcePort) {
		return head
	}
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return head + sourceMark + src
	}
	var parts []string
	if q.SourceAddr {
		addr := ap.Addr().Unmap().String()
		if self, err := netip.ParseAddrPort(s.Server); err == nil && self.Addr() == ap.Addr().Unmap() {
			addr = "self"
		}
		parts = append(parts, "addr "+addr)
	}
	if q.SourcePort {
		p := ap.Port()
		switch r := q.PortRange; {
		case r == [2]uint16{}:
			parts = append(parts, fmt.Sprintf("port %d", p))
		case p >= r[0] && p <= r[1]:
			parts = append(parts, fmt.Sprintf("port in %d-%d", r[0], r[1]))
		default:
			parts = append(parts, fmt.Sprintf("port outside %d-%d", r[0], r[1]))
		}
	}
	return head + sourceMark + strings.Join(parts, " ")
}
