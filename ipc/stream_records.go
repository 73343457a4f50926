package ipc

import (
	"fmt"
	"net/netip"

	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// tableItemLocalRecordsField is TableItem.local_records in moat.proto.
const tableItemLocalRecordsField = 20

// Bounds of one LocalRecord that need no context. dnsd checks the record
// itself (it unpacks every rr); these only keep nonsense off the wire.
const (
	maxRRBytes       = 65535 + 255 + 10 // a largest owner, header and rdata
	maxNamesPerLocal = 256
)

func init() {
	for _, t := range []ipcpb.Table{ipcpb.Table_TABLE_LOCAL_RECORDS, ipcpb.Table_TABLE_LOCAL_DYNAMIC} {
		registerTable(t, tableItemLocalRecordsField,
			func(it *ipcpb.TableItem) int { return len(it.GetLocalRecords()) })
	}
}

// SendLocalRecords streams local DNS data as table (TABLE_LOCAL_RECORDS
// or TABLE_LOCAL_DYNAMIC). Every record is validated before TableBegin
// goes out, so a bad one fails the call without a half-sent table.
func SendLocalRecords(c *Conn, table ipcpb.Table, generation uint64, recs []*ipcpb.LocalRecord) error {
	if table != ipcpb.Table_TABLE_LOCAL_RECORDS && table != ipcpb.Table_TABLE_LOCAL_DYNAMIC {
		return fmt.Errorf("ipc send local records: %s is not a local-records table", table)
	}
	for i, r := range recs {
		if err := validateLocalRecord(r); err != nil {
			return fmt.Errorf("ipc send %s: entry %d: %w", table, i, err)
		}
	}
	return sendTable(c, table, generation, len(recs),
		func(i int) int { return proto.Size(recs[i]) },
		func(start, end int) *ipcpb.TableItem { return &ipcpb.TableItem{LocalRecords: recs[start:end]} })
}

// LocalRecordsOf flattens the items of a completed local-records table
// (from TableAssembler.Items).
func LocalRecordsOf(items []*ipcpb.TableItem) []*ipcpb.LocalRecord {
	n := 0
	for _, it := range items {
		n += len(it.GetLocalRecords())
	}
	out := make([]*ipcpb.LocalRecord, 0, n)
	for _, it := range items {
		out = append(out, it.GetLocalRecords()...)
	}
	return out
}

// validateLocalRecord checks the shape of one LocalRecord: exactly one
// payload, addresses of 4 or 16 bytes, names DNS can carry.
func validateLocalRecord(r *ipcpb.LocalRecord) error {
	if r == nil {
		return invalid("nil local record")
	}
	if err := noUnknown(r); err != nil {
		return err
	}
	set := 0
	if len(r.GetRr()) > 0 {
		set++
		if len(r.GetRr()) > maxRRBytes {
			return invalid("rr: %d bytes, at most %d", len(r.GetRr()), maxRRBytes)
		}
	}
	if h := r.GetHost(); h != nil {
		set++
		if err := validateLocalHost(h); err != nil {
			return fmt.Errorf("host: %w", err)
		}
	}
	if a := r.GetAddressRule(); a != nil {
		set++
		if err := validateAddressRule(a); err != nil {
			return fmt.Errorf("address_rule: %w", err)
		}
	}
	if p := r.GetLocalPrefix(); p != "" {
		set++
		if _, err := netip.ParsePrefix(p); err != nil {
			return invalid("local_prefix: %q is not an address/prefix", p)
		}
	}
	if set != 1 {
		return invalid("%d payloads set, want exactly one", set)
	}
	return maxLen("source", r.GetSource(), maxTextLen)
}

func validateLocalHost(h *ipcpb.LocalHost) error {
	if err := noUnknown(h); err != nil {
		return err
	}
	k := h.GetKind()
	if _, known := ipcpb.LocalHost_Kind_name[int32(k)]; !known || k == ipcpb.LocalHost_KIND_UNSPECIFIED {
		return invalid("kind: %d is not a known kind", int32(k))
	}
	switch n := len(h.GetAddress()); {
	case n == 0 && k == ipcpb.LocalHost_KIND_INTERFACE_NAME:
	case n != 4 && n != 16:
		return invalid("address: %d bytes, want 4 or 16", n)
	}
	names := h.GetNames()
	if len(names) == 0 || len(names) > maxNamesPerLocal {
		return invalid("names: %d, want 1 to %d", len(names), maxNamesPerLocal)
	}
	for i, n := range names {
		if err := validateHostName(n); err != nil {
			return fmt.Errorf("names[%d]: %w", i, err)
		}
	}
	return nil
}

func validateAddressRule(a *ipcpb.AddressRule) error {
	if err := noUnknown(a); err != nil {
		return err
	}
	if d := a.GetDomain(); d != "" && d != "*" {
		name := d
		if name[0] == '*' {
			name = name[1:]
			if name != "" && name[0] == '.' {
				name = name[1:]
			}
		}
		if err := validateHostName(name); err != nil {
			return fmt.Errorf("domain: %w", err)
		}
	}
	switch n := len(a.GetAddress()); {
	case n != 0 && n != 4 && n != 16:
		return invalid("address: %d bytes, want 4 or 16", n)
	case n != 0 && a.GetNullAddress():
		return invalid("both an address and null_address")
	}
	return nil
}
