package ipc

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Streamed tables other than TABLE_HOSTS. Each one is a repeated field of
// TableItem; its file (stream_<area>.go) registers it in an init function
// with registerTable and provides a typed sender and accessor. The
// assembler keeps such a table's items whole; Items returns them once Add
// reported the table done.

// streamTable describes one registered table.
type streamTable struct {
	// field is the TableItem field number of the table's entries.
	field protowire.Number
	// entries returns how many entries of this table an item carries.
	entries func(*ipcpb.TableItem) int
}

// otherTables holds every registered table but TABLE_HOSTS. It is written
// by init functions only.
var otherTables = map[ipcpb.Table]*streamTable{}

func registerTable(t ipcpb.Table, field protowire.Number, entries func(*ipcpb.TableItem) int) {
	if t == ipcpb.Table_TABLE_HOSTS || otherTables[t] != nil {
		panic(fmt.Sprintf("ipc: table %s registered twice", t))
	}
	otherTables[t] = &streamTable{field: field, entries: entries}
}

// Items returns the items of the table that the last call to Add
// completed, when that table was not TABLE_HOSTS (whose entries Add
// returns itself); nil otherwise.
func (a *TableAssembler) Items() []*ipcpb.TableItem { return a.last }

// listEntries counts the entries of every repeated field of it, whatever
// table they belong to.
func listEntries(it *ipcpb.TableItem) int {
	total := 0
	it.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.IsList() {
			total += v.List().Len()
		}
		return true
	})
	return total
}

// otherItem is item for a registered table: the item must carry entries
// of that table and of no other.
func (a *TableAssembler) otherItem(it *ipcpb.TableItem) error {
	kind := otherTables[a.table]
	if it == nil {
		return a.fail("nil item")
	}
	n := kind.entries(it)
	switch {
	case it.GetGeneration() != a.generation:
		return a.fail("item of generation %d inside %s generation %d", it.GetGeneration(), a.table, a.generation)
	case n == 0:
		return a.fail("empty item in %s generation %d", a.table, a.generation)
	case listEntries(it) != n:
		return a.fail("item in %s generation %d carries entries of another table", a.table, a.generation)
	case a.count+n > int(a.announced):
		return a.fail("%d entries received, begin announced %d", a.count+n, a.announced)
	}
	a.bytes += proto.Size(it)
	if a.bytes > MaxTableBytes {
		return a.fail("items total over %d bytes", MaxTableBytes)
	}
	a.items = append(a.items, it)
	a.count += n
	return nil
}

// sendTable streams a registered table of n entries as TableBegin /
// TableItem... / TableEnd. size(i) is the encoded size of entry i (after
// the caller validated it); item(start, end) builds the TableItem holding
// entries [start, end).
func sendTable(c *Conn, table ipcpb.Table, generation uint64, n int, size func(i int) int, item func(start, end int) *ipcpb.TableItem) error {
	kind := otherTables[table]
	if kind == nil {
		return fmt.Errorf("ipc send table %s: not a registered table", table)
	}
	if n > MaxTableEntries {
		return fmt.Errorf("ipc send table %s: %d entries, at most %d: %w", table, n, MaxTableEntries, ErrTooLarge)
	}
	const budget = MaxMessageSize - streamMargin
	header := 0
	if generation != 0 {
		header = protowire.SizeTag(tableItemGenField) + protowire.SizeVarint(generation)
	}
	envelopeSize := func(itemLen int) int {
		return protowire.SizeTag(envelopeTableItemField) + protowire.SizeBytes(itemLen)
	}
	var ends []int
	itemLen := header
	for i := range n {
		es := protowire.SizeTag(kind.field) + protowire.SizeBytes(size(i))
		if envelopeSize(header+es) > budget {
			return fmt.Errorf("ipc send table %s: entry %d: %d bytes encoded, too large for one message: %w", table, i, es, ErrTooLarge)
		}
		if itemLen > header && envelopeSize(itemLen+es) > budget {
			ends = append(ends, i)
			itemLen = header
		}
		itemLen += es
	}
	if itemLen > header {
		ends = append(ends, n)
	}
	c.streamMu.Lock()
	defer c.streamMu.Unlock()
	begin := &ipcpb.TableBegin{Table: table, Generation: generation, Count: uint32(n)}
	if err := c.sendValidated(&ipcpb.Envelope{Msg: &ipcpb.Envelope_TableBegin{TableBegin: begin}}, nil); err != nil {
		return fmt.Errorf("ipc send table %s: %w", table, err)
	}
	start := 0
	for _, end := range ends {
		it := item(start, end)
		it.Generation = generation
		if err := c.sendValidated(&ipcpb.Envelope{Msg: &ipcpb.Envelope_TableItem{TableItem: it}}, nil); err != nil {
			return fmt.Errorf("ipc send table %s: entries %d-%d: %w", table, start, end-1, err)
		}
		start = end
	}
	fin := &ipcpb.TableEnd{Generation: generation, Count: uint32(n)}
	if err := c.sendValidated(&ipcpb.Envelope{Msg: &ipcpb.Envelope_TableEnd{TableEnd: fin}}, nil); err != nil {
		return fmt.Errorf("ipc send table %s: %w", table, err)
	}
	return nil
}
