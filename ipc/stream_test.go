package ipc

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// receiveTable feeds b's messages to an assembler until a table completes,
// checking that nothing completes early. It returns the table and how many
// TableItem messages carried it.
func receiveTable(t *testing.T, b *Conn) (ipcpb.Table, []*ipcpb.HostEntry, int) {
	t.Helper()
	var asm TableAssembler
	b.SetReadDeadline(time.Now().Add(testWait))
	items := 0
	for i := 0; i < MaxTableEntries; i++ {
		m, _, err := b.Recv()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if size := proto.Size(m); size > MaxMessageSize-streamMargin {
			t.Errorf("message %d (%s) is %d bytes, over the %d-byte budget", i, MessageName(m), size, MaxMessageSize-streamMargin)
		}
		done, table, hosts, err := asm.Add(m)
		if err != nil {
			t.Fatalf("message %d (%s): %v", i, MessageName(m), err)
		}
		if m.GetTableItem() != nil {
			items++
		}
		if done != (m.GetTableEnd() != nil) {
			t.Fatalf("message %d (%s): done=%v", i, MessageName(m), done)
		}
		if !done && hosts != nil {
			t.Fatalf("message %d: entries handed out before the end", i)
		}
		if done {
			if asm.InProgress() {
				t.Error("assembler still in progress after completing")
			}
			return table, hosts, items
		}
	}
	t.Fatal("no TableEnd")
	return 0, nil, 0
}

func TestSendHostsRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 100_000} {
		a, b := newConnPair(t)
		entries := hostEntries(n)
		sent := make(chan error, 1)
		go func() { sent <- SendHosts(a, 42, entries) }()
		table, hosts, items := receiveTable(t, b)
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		if table != ipcpb.Table_TABLE_HOSTS {
			t.Errorf("%d entries: table %v", n, table)
		}
		if len(hosts) != n {
			t.Fatalf("%d entries: received %d", n, len(hosts))
		}
		for i := range hosts {
			if !proto.Equal(hosts[i], entries[i]) {
				t.Fatalf("entry %d: received %v, sent %v", i, hosts[i], entries[i])
			}
		}
		// Batches are packed: the encoded entries need at least this many
		// full messages, and packing should not need many more.
		total := proto.Size(&ipcpb.TableItem{Hosts: entries})
		if minItems := total / MaxMessageSize; items < minItems || items > 2*minItems+1 {
			t.Errorf("%d entries (%d bytes) took %d items, want about %d", n, total, items, minItems+1)
		}
		t.Logf("%d entries, %d bytes, %d items", n, total, items)
	}
}

func TestSendHostsRefusesBeforeBegin(t *testing.T) {
	label := strings.Repeat("a", 63)
	longName := strings.Join([]string{label, label, label, label}, ".") // 255 bytes
	hugeNames := make([]string, maxNamesPerHost)
	for i := range hugeNames {
		hugeNames[i] = longName
	}
	tests := []struct {
		name    string
		entries []*ipcpb.HostEntry
		want    error
	}{
		{"invalid entry", append(hostEntries(10), &ipcpb.HostEntry{Address: []byte{1}, Names: []string{"x"}}), ErrInvalid},
		{"entry larger than a message", append(hostEntries(10), &ipcpb.HostEntry{Address: make([]byte, 4), Names: hugeNames}), ErrTooLarge},
		{"more than MaxTableEntries", make([]*ipcpb.HostEntry, MaxTableEntries+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newConnPair(t)
			if err := SendHosts(a, 1, tt.entries); !errors.Is(err, tt.want) {
				t.Fatalf("SendHosts = %v, want %v", err, tt.want)
			}
			// Nothing went out: the next message is a marker.
			if err := a.Send(sampleMessages()[7]); err != nil {
				t.Fatal(err)
			}
			if m, _, err := b.Recv(); err != nil || m.GetShutdown() == nil {
				t.Errorf("first message after a refused SendHosts: %v, %v; want the shutdown marker", m, err)
			}
		})
	}
}

func begin(gen uint64, count uint32) *ipcpb.Envelope {
	return &ipcpb.Envelope{Msg: &ipcpb.Envelope_TableBegin{TableBegin: &ipcpb.TableBegin{Table: ipcpb.Table_TABLE_HOSTS, Generation: gen, Count: count}}}
}

func item(gen uint64, n int) *ipcpb.Envelope {
	return &ipcpb.Envelope{Msg: &ipcpb.Envelope_TableItem{TableItem: &ipcpb.TableItem{Generation: gen, Hosts: hostEntries(n)}}}
}

func end(gen uint64, count uint32) *ipcpb.Envelope {
	return &ipcpb.Envelope{Msg: &ipcpb.Envelope_TableEnd{TableEnd: &ipcpb.TableEnd{Generation: gen, Count: count}}}
}

// TestTableAssemblerErrors: the last message of each sequence fails (all
// before it succeed), and afterwards the assembler takes a fresh table.
func TestTableAssemblerErrors(t *testing.T) {
	tests := []struct {
		name string
		seq  []*ipcpb.Envelope
		want error
		text string
	}{
		{"item without begin", []*ipcpb.Envelope{item(1, 1)}, ErrStream, "without a begin"},
		{"end without begin", []*ipcpb.Envelope{end(1, 0)}, ErrStream, "without a begin"},
		{"item after a completed table", []*ipcpb.Envelope{begin(1, 1), item(1, 1), end(1, 1), item(1, 1)}, ErrStream, "without a begin"},
		{"item of another generation", []*ipcpb.Envelope{begin(1, 2), item(1, 1), item(2, 1)}, ErrStream, "item of generation 2 inside TABLE_HOSTS generation 1"},
		{"end of another generation", []*ipcpb.Envelope{begin(1, 1), item(1, 1), end(2, 1)}, ErrStream, "end of generation 2"},
		{"more entries than announced", []*ipcpb.Envelope{begin(1, 2), item(1, 1), item(1, 2)}, ErrStream, "3 entries received, begin announced 2"},
		{"end count differs from begin", []*ipcpb.Envelope{begin(1, 2), item(1, 2), end(1, 3)}, ErrStream, "end counts 3 entries, begin announced 2"},
		{"end before all entries", []*ipcpb.Envelope{begin(1, 3), item(1, 2), end(1, 3)}, ErrStream, "end after 2 entries, begin announced 3"},
		{"empty item", []*ipcpb.Envelope{begin(1, 1), item(1, 0)}, ErrStream, "empty item"},
		{"begin over the entry cap", []*ipcpb.Envelope{begin(1, MaxTableEntries+1)}, ErrStream, "at most 1000000"},
		{"begin of an unspecified table", []*ipcpb.Envelope{{Msg: &ipcpb.Envelope_TableBegin{TableBegin: &ipcpb.TableBegin{Count: 1}}}}, ErrStream, "cannot be streamed"},
		{"new begin in the middle", []*ipcpb.Envelope{begin(1, 3), item(1, 1), begin(2, 1)}, ErrAbandoned, "TABLE_HOSTS generation 1 dropped after 1 of 3 entries"},
		{"not a table message", []*ipcpb.Envelope{begin(1, 1), sampleMessages()[0]}, ErrUnexpected, "hello is not a table message"},
		{"nil envelope", []*ipcpb.Envelope{nil}, ErrUnexpected, "nil envelope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a TableAssembler
			last := len(tt.seq) - 1
			for i, m := range tt.seq[:last] {
				if _, _, _, err := a.Add(m); err != nil {
					t.Fatalf("message %d (%s): %v", i, MessageName(m), err)
				}
			}
			done, _, hosts, err := a.Add(tt.seq[last])
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("Add = %v, want %v containing %q", err, tt.want, tt.text)
			}
			if done || hosts != nil {
				t.Errorf("Add returned done=%v with %d entries alongside an error", done, len(hosts))
			}
			// Recovery: after a restart the new table continues; after any
			// other error a fresh table goes through.
			// A message that is not part of any table leaves the one in
			// progress alone.
			gen, rest := uint64(7), []*ipcpb.Envelope{begin(7, 2), item(7, 2), end(7, 2)}
			switch {
			case errors.Is(err, ErrAbandoned):
				gen, rest = 2, []*ipcpb.Envelope{item(2, 1), end(2, 1)}
			case a.InProgress() && errors.Is(err, ErrUnexpected):
				gen, rest = 1, []*ipcpb.Envelope{item(1, 1), end(1, 1)}
			}
			for i, m := range rest {
				done, _, hosts, err := a.Add(m)
				if err != nil {
					t.Fatalf("recovery message %d: %v", i, err)
				}
				if i == len(rest)-1 && (!done || len(hosts) == 0) {
					t.Fatalf("recovery table of generation %d did not complete", gen)
				}
			}
		})
	}
}

// TestTableAssemblerByteCap drives the byte counter to the cap without
// allocating 256 MiB.
func TestTableAssemblerByteCap(t *testing.T) {
	var a TableAssembler
	if _, _, _, err := a.Add(begin(1, 10)); err != nil {
		t.Fatal(err)
	}
	a.bytes = MaxTableBytes - 10
	if _, _, _, err := a.Add(item(1, 1)); !errors.Is(err, ErrStream) || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("Add over the byte cap = %v, want ErrStream about bytes", err)
	}
	if a.InProgress() {
		t.Error("assembler still in progress after the cap")
	}
}

// FuzzTableAssembler drives an assembler with arbitrary sequences of begin,
// item, end and other messages. Whatever the order, it must not panic, and
// when it completes a table, that table is exactly the entries of the items
// accepted since the last accepted begin, as many as announced.
func FuzzTableAssembler(f *testing.F) {
	f.Add([]byte{0, 1, 3, 1, 1, 2, 1, 1, 1, 2, 1, 3})          // begin 3, item 2, item 1, end 3
	f.Add([]byte{0, 1, 2, 1, 1, 1, 0, 2, 1, 1, 2, 1, 2, 2, 1}) // restart in the middle
	f.Add([]byte{1, 0, 1, 2, 0, 0, 3, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var others []*ipcpb.Envelope
		for _, m := range sampleMessages() {
			if !strings.HasPrefix(MessageName(m), "table_") {
				others = append(others, m)
			}
		}
		var a TableAssembler
		var accepted []*ipcpb.HostEntry
		var announced uint32
		for i := 0; i+2 < len(ops) && i < 3*256; i += 3 {
			kind, gen, n := ops[i]%4, uint64(ops[i+1]%3), ops[i+2]%5
			var m *ipcpb.Envelope
			switch kind {
			case 0:
				m = begin(gen, uint32(n))
			case 1:
				m = item(gen, int(n))
			case 2:
				m = end(gen, uint32(n))
			default:
				m = others[int(n)%len(others)]
			}
			done, _, hosts, err := a.Add(m)
			switch {
			case kind == 0 && (err == nil || errors.Is(err, ErrAbandoned)):
				accepted, announced = nil, uint32(n)
			case kind == 1 && err == nil:
				accepted = append(accepted, m.GetTableItem().GetHosts()...)
			}
			if err != nil && !errors.Is(err, ErrAbandoned) && !errors.Is(err, ErrUnexpected) && a.InProgress() {
				t.Fatalf("op %d: still in progress after %v", i/3, err)
			}
			if !done {
				if hosts != nil {
					t.Fatalf("op %d: entries without done", i/3)
				}
				continue
			}
			if err != nil || kind != 2 {
				t.Fatalf("op %d: done on %s with error %v", i/3, MessageName(m), err)
			}
			if uint32(len(hosts)) != announced || uint32(len(hosts)) != m.GetTableEnd().GetCount() {
				t.Fatalf("op %d: %d entries, announced %d, end says %d", i/3, len(hosts), announced, m.GetTableEnd().GetCount())
			}
			if len(hosts) != len(accepted) {
				t.Fatalf("op %d: %d entries, %d accepted", i/3, len(hosts), len(accepted))
			}
			for j := range hosts {
				if hosts[j] != accepted[j] {
					t.Fatalf("op %d: entry %d is not the one accepted", i/3, j)
				}
			}
			accepted = nil
		}
	})
}
