package ipc

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// tableItemUpstreamsField is TableItem.upstreams in moat.proto.
const tableItemUpstreamsField = 60

func init() {
	registerTable(ipcpb.Table_TABLE_UPSTREAMS, tableItemUpstreamsField,
		func(it *ipcpb.TableItem) int { return len(it.GetUpstreams()) })
}

// SendUpstreams streams dnsd's upstream server list (server=, rev-server,
// servers-file, resolv-file) as TABLE_UPSTREAMS. Every entry is validated
// before TableBegin goes out.
func SendUpstreams(c *Conn, generation uint64, ups []*ipcpb.Upstream) error {
	for i, u := range ups {
		if err := validateUpstream(u, true); err != nil {
			return fmt.Errorf("ipc send upstreams table: entry %d: %w", i, err)
		}
	}
	return sendTable(c, ipcpb.Table_TABLE_UPSTREAMS, generation, len(ups),
		func(i int) int { return proto.Size(ups[i]) },
		func(start, end int) *ipcpb.TableItem { return &ipcpb.TableItem{Upstreams: ups[start:end]} })
}

// UpstreamsOf flattens the items of a completed TABLE_UPSTREAMS (from
// TableAssembler.Items).
func UpstreamsOf(items []*ipcpb.TableItem) []*ipcpb.Upstream {
	n := 0
	for _, it := range items {
		n += len(it.GetUpstreams())
	}
	out := make([]*ipcpb.Upstream, 0, n)
	for _, it := range items {
		out = append(out, it.GetUpstreams()...)
	}
	return out
}

// maxPort bounds Upstream.source_port.
const maxPort = 65535

// validateUpstream checks one Upstream. In DNSConfig.upstreams (inTable
// false) every entry is a server with an address; in TABLE_UPSTREAMS an
// entry may also be local=/dom/ (local) or server=/dom/# (use_standard),
// which carry domains and no address.
func validateUpstream(u *ipcpb.Upstream, inTable bool) error {
	if u == nil {
		return invalid("nil upstream")
	}
	if err := noUnknown(u); err != nil {
		return err
	}
	special := u.GetLocal() || u.GetUseStandard()
	switch {
	case special && !inTable:
		return invalid("local or use_standard outside the upstreams table")
	case u.GetLocal() && u.GetUseStandard():
		return invalid("both local and use_standard")
	case special && u.GetAddress() != "":
		return invalid("address: set on a local or use_standard entry")
	case special && len(u.GetDomains()) == 0:
		return invalid("domains: none on a local or use_standard entry")
	case special && (u.GetSourceAddress() != "" || u.GetSourcePort() != 0 || u.GetInterface() != ""):
		return invalid("source or interface on a local or use_standard entry")
	case !special:
		if err := nonEmpty("address", u.GetAddress(), maxAddrTextLen); err != nil {
			return err
		}
	}
	if err := maxLen("source", u.GetSource(), maxTextLen); err != nil {
		return err
	}
	if err := maxLen("source_address", u.GetSourceAddress(), maxAddrTextLen); err != nil {
		return err
	}
	if err := maxLen("interface", u.GetInterface(), maxIfNameLen); err != nil {
		return err
	}
	if u.GetSourcePort() > maxPort {
		return invalid("source_port: %d, at most %d", u.GetSourcePort(), maxPort)
	}
	// Domains may be empty strings: server=//ip is for unqualified names.
	// A leading '*' marks a dnsmasq wildcard pattern.
	for j, d := range u.GetDomains() {
		if err := maxLen(fmt.Sprintf("domains[%d]", j), d, maxDNSNameLen); err != nil {
			return err
		}
	}
	return nil
}
