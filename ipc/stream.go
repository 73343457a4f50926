package ipc

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// MaxTableEntries caps the entries of one streamed table, announced or
// received. A million hosts lines is far beyond any real hosts file.
const MaxTableEntries = 1_000_000

// MaxTableBytes caps the encoded size of one streamed table's items, so that
// a peer cannot fill memory with a million maximal entries.
const MaxTableBytes = 256 << 20

// streamMargin is kept free in every TableItem below MaxMessageSize, so
// that a small miscount in the batch arithmetic cannot push an item over.
const streamMargin = 1024

// Field numbers from moat.proto, for exact size arithmetic.
const (
	envelopeTableItemField = 6
	tableItemGenField      = 1
	tableItemHostsField    = 2
)

// SendHosts streams a hosts table as TableBegin / TableItem... / TableEnd,
// packing as many entries per TableItem as fit under MaxMessageSize (less
// a margin). Every entry is validated before TableBegin goes out, so a bad
// entry fails the call without leaving a half-sent table. Streams on one
// Conn are serialized; other messages may interleave and the receiver must
// route them past its TableAssembler.
func SendHosts(c *Conn, generation uint64, entries []*ipcpb.HostEntry) error {
	if len(entries) > MaxTableEntries {
		return fmt.Errorf("ipc send hosts table: %d entries, at most %d: %w", len(entries), MaxTableEntries, ErrTooLarge)
	}
	ends, err := hostBatches(generation, entries)
	if err != nil {
		return fmt.Errorf("ipc send hosts table: %w", err)
	}
	c.streamMu.Lock()
	defer c.streamMu.Unlock()
	begin := &ipcpb.TableBegin{Table: ipcpb.Table_TABLE_HOSTS, Generation: generation, Count: uint32(len(entries))}
	if err := c.sendValidated(&ipcpb.Envelope{Msg: &ipcpb.Envelope_TableBegin{TableBegin: begin}}, nil); err != nil {
		return fmt.Errorf("ipc send hosts table: %w", err)
	}
	start := 0
	for _, end := range ends {
		item := &ipcpb.TableItem{Generation: generation, Hosts: entries[start:end]}
		if err := c.sendValidated(&ipcpb.Envelope{Msg: &ipcpb.Envelope_TableItem{TableItem: item}}, nil); err != nil {
			return fmt.Errorf("ipc send hosts table: entries %d-%d: %w", start, end-1, err)
		}
		start = end
	}
	fin := &ipcpb.TableEnd{Generation: generation, Count: uint32(len(entries))}
	if err := c.sendValidated(&ipcpb.Envelope{Msg: &ipcpb.Envelope_TableEnd{TableEnd: fin}}, nil); err != nil {
		return fmt.Errorf("ipc send hosts table: %w", err)
	}
	return nil
}

// hostBatches validates entries and returns the end index (exclusive) of
// each TableItem batch.
func hostBatches(generation uint64, entries []*ipcpb.HostEntry) ([]int, error) {
	const budget = MaxMessageSize - streamMargin
	header := 0
	if generation != 0 {
		header = protowire.SizeTag(tableItemGenField) + protowire.SizeVarint(generation)
	}
	// envelopeSize is the encoded Envelope holding a TableItem of itemLen bytes.
	envelopeSize := func(itemLen int) int {
		return protowire.SizeTag(envelopeTableItemField) + protowire.SizeBytes(itemLen)
	}
	var ends []int
	itemLen := header
	for i, e := range entries {
		if err := validateHostEntry(e); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		es := protowire.SizeTag(tableItemHostsField) + protowire.SizeBytes(proto.Size(e))
		if envelopeSize(header+es) > budget {
			return nil, fmt.Errorf("entry %d: %d bytes encoded, too large for one message: %w", i, es, ErrTooLarge)
		}
		if itemLen > header && envelopeSize(itemLen+es) > budget {
			ends = append(ends, i)
			itemLen = header
		}
		itemLen += es
	}
	if itemLen > header {
		ends = append(ends, len(entries))
	}
	return ends, nil
}

// TableAssembler collects one streamed table. Feed it every TableBegin,
// TableItem and TableEnd; Add reports done=true with the complete table on
// a TableEnd that matches the begin's generation and count. Until then the
// caller's current table stays in use: the swap is atomic from the caller's
// point of view.
//
// Any error other than ErrAbandoned drops the partial table and leaves the
// assembler waiting for a new TableBegin. The zero value is ready to use.
type TableAssembler struct {
	active     bool
	table      ipcpb.Table
	generation uint64
	announced  uint32
	bytes      int
	hosts      []*ipcpb.HostEntry
	// items and count hold tables other than TABLE_HOSTS (stream_*.go).
	items []*ipcpb.TableItem
	count int
	last  []*ipcpb.TableItem // the items of the last completed table
}

// Add feeds one streamed message. A message that belongs to no table is an
// error wrapping ErrUnexpected and leaves the table in progress alone.
//
// A TableBegin while a table is still in progress starts the new table and
// returns an error wrapping ErrAbandoned that names the dropped one: a
// sender that restarts is legitimate (it aborted and retried), a sender
// that keeps doing it is for the caller to judge.
func (a *TableAssembler) Add(m *ipcpb.Envelope) (done bool, table ipcpb.Table, hosts []*ipcpb.HostEntry, err error) {
	switch x := m.GetMsg().(type) {
	case *ipcpb.Envelope_TableBegin:
		return false, 0, nil, a.begin(x.TableBegin)
	case *ipcpb.Envelope_TableItem:
		return false, 0, nil, a.item(x.TableItem)
	case *ipcpb.Envelope_TableEnd:
		return a.end(x.TableEnd)
	default:
		return false, 0, nil, fmt.Errorf("table stream: %s is not a table message: %w", messageName(m), ErrUnexpected)
	}
}

// InProgress reports whether a table has begun and not yet ended.
func (a *TableAssembler) InProgress() bool { return a.active }

func (a *TableAssembler) reset() { *a = TableAssembler{} }

// fail drops the partial table and returns the error.
func (a *TableAssembler) fail(format string, args ...any) error {
	a.reset()
	return fmt.Errorf("table stream: "+format+": %w", append(args, ErrStream)...)
}

func (a *TableAssembler) begin(b *ipcpb.TableBegin) error {
	if b == nil {
		return a.fail("nil begin")
	}
	if b.GetTable() != ipcpb.Table_TABLE_HOSTS && otherTables[b.GetTable()] == nil {
		return a.fail("begin of table %s, which cannot be streamed", b.GetTable())
	}
	if b.GetCount() > MaxTableEntries {
		return a.fail("begin announces %d entries, at most %d", b.GetCount(), MaxTableEntries)
	}
	var abandoned error
	if a.active {
		abandoned = fmt.Errorf("table stream: %s generation %d dropped after %d of %d entries: %w",
			a.table, a.generation, len(a.hosts)+a.count, a.announced, ErrAbandoned)
	}
	*a = TableAssembler{
		active:     true,
		table:      b.GetTable(),
		generation: b.GetGeneration(),
		announced:  b.GetCount(),
		// Grow from a bounded start: the announced count is the peer's word.
		hosts: make([]*ipcpb.HostEntry, 0, min(int(b.GetCount()), 4096)),
	}
	return abandoned
}

func (a *TableAssembler) item(it *ipcpb.TableItem) error {
	if a.active && a.table != ipcpb.Table_TABLE_HOSTS {
		return a.otherItem(it)
	}
	switch {
	case it == nil:
		return a.fail("nil item")
	case !a.active:
		return a.fail("item of generation %d without a begin", it.GetGeneration())
	case it.GetGeneration() != a.generation:
		return a.fail("item of generation %d inside %s generation %d", it.GetGeneration(), a.table, a.generation)
	case len(it.GetHosts()) == 0:
		return a.fail("empty item in %s generation %d", a.table, a.generation)
	case len(a.hosts)+len(it.GetHosts()) > int(a.announced):
		return a.fail("%d entries received, begin announced %d", len(a.hosts)+len(it.GetHosts()), a.announced)
	}
	a.bytes += proto.Size(it)
	if a.bytes > MaxTableBytes {
		return a.fail("items total over %d bytes", MaxTableBytes)
	}
	a.hosts = append(a.hosts, it.GetHosts()...)
	return nil
}

func (a *TableAssembler) end(e *ipcpb.TableEnd) (bool, ipcpb.Table, []*ipcpb.HostEntry, error) {
	switch {
	case e == nil:
		return false, 0, nil, a.fail("nil end")
	case !a.active:
		return false, 0, nil, a.fail("end of generation %d without a begin", e.GetGeneration())
	case e.GetGeneration() != a.generation:
		return false, 0, nil, a.fail("end of generation %d inside %s generation %d", e.GetGeneration(), a.table, a.generation)
	case e.GetCount() != a.announced:
		return false, 0, nil, a.fail("end counts %d entries, begin announced %d", e.GetCount(), a.announced)
	case len(a.hosts)+a.count != int(a.announced):
		return false, 0, nil, a.fail("end after %d entries, begin announced %d", len(a.hosts)+a.count, a.announced)
	}
	table, hosts, items := a.table, a.hosts, a.items
	a.reset()
	a.last = items
	return true, table, hosts, nil
}
