package ipc

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// TABLE_LEASE_NAMES carries the names of the live DHCP leases from the
// master to dnsd. Its entries are LocalRecords (TableItem.local_records)
// that hold a LocalHost of KIND_DHCP_LEASE and nothing else.

// maxLeaseNames is the most names one lease entry has: the qualified
// name and the bare one.
const maxLeaseNames = 2

func init() {
	registerTable(ipcpb.Table_TABLE_LEASE_NAMES, tableItemLocalRecordsField,
		func(it *ipcpb.TableItem) int { return len(it.GetLocalRecords()) })
}

// SendLeaseNames streams the lease name table. Every entry is checked
// with ValidateLeaseName before TableBegin goes out, so a bad one fails
// the call without a half-sent table.
func SendLeaseNames(c *Conn, generation uint64, recs []*ipcpb.LocalRecord) error {
	for i, r := range recs {
		if err := ValidateLeaseName(r); err != nil {
			return fmt.Errorf("ipc send %s: entry %d: %w", ipcpb.Table_TABLE_LEASE_NAMES, i, err)
		}
	}
	return sendTable(c, ipcpb.Table_TABLE_LEASE_NAMES, generation, len(recs),
		func(i int) int { return proto.Size(recs[i]) },
		func(start, end int) *ipcpb.TableItem { return &ipcpb.TableItem{LocalRecords: recs[start:end]} })
}

// ValidateLeaseName checks the shape of one TABLE_LEASE_NAMES entry: a
// LocalRecord holding only a LocalHost of KIND_DHCP_LEASE with an IPv4
// address, one or two names DNS can carry and a non-negative expiry.
// dnsd checks the names' syntax again when it installs them.
func ValidateLeaseName(r *ipcpb.LocalRecord) error {
	if err := validateLocalRecord(r); err != nil {
		return err
	}
	h := r.GetHost()
	switch {
	case h == nil:
		return invalid("lease name: not a host entry")
	case h.GetKind() != ipcpb.LocalHost_KIND_DHCP_LEASE:
		return invalid("lease name: kind %s, want %s", h.GetKind(), ipcpb.LocalHost_KIND_DHCP_LEASE)
	case len(h.GetAddress()) != 4:
		return invalid("lease name: address of %d bytes, want 4", len(h.GetAddress()))
	case len(h.GetNames()) > maxLeaseNames:
		return invalid("lease name: %d names, at most %d", len(h.GetNames()), maxLeaseNames)
	case h.GetExpires() < 0:
		return invalid("lease name: expires %d is negative", h.GetExpires())
	}
	return nil
}
