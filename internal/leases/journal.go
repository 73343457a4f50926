package leases

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
)

// The lease journal is an append-only file of records:
//
//	header:  "moatlj\x00\x01" (8 bytes: magic and format version)
//	record:  length (4 bytes, big-endian: the payload's length)
//	         crc    (4 bytes, big-endian: CRC-32C of the length bytes and the payload)
//	         payload
//
// A put payload is 'P', then the lease: expires (8 bytes, signed), the
// IPv4 address (4), the hardware type (1), then the hardware address,
// client-id and host name, each as a length byte and the bytes (a client
// id of length 0 stands for none). A delete payload is 'D' and the
// address. A batch marker payload is 'B' and a count (4 bytes, at least
// 2): the count records after it belong to one batch (one DHCP exchange's
// changes: a lease moved, a name taken from another lease), which replay
// applies whole or not at all. A batch of one record needs no marker,
// and journals written before markers existed have none. The master
// appends the batches of many requests with one write and fsyncs once
// (group commit) before the ACKs leave. A crash can leave a torn tail;
// Replay stops at the first record that is short or fails its CRC, or
// at the start of a batch that is not whole, and reports where the good
// part ends, so the master can cut the file there before it appends
// again.

// JournalHeader starts every journal.
const JournalHeader = "moatlj\x00\x01"

const (
	recordHeaderLen = 8
	// MaxRecordPayload bounds a payload (a lease needs at most 548
	// bytes); a longer length can only be damage.
	MaxRecordPayload = 1024

	typePut    = 'P'
	typeDelete = 'D'
	typeBatch  = 'B'

	// MaxBatchRecords bounds the records of one batch; a larger count
	// can only be damage (a DHCP commit holds a handful).
	MaxBatchRecords = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is one journal entry: a lease written (Put), or the lease at an
// address removed (Delete: released, declined, expired, or moved).
type Record struct {
	Delete bool
	Lease  Lease // for a delete, only Addr is set
}

// PutRecord and DeleteRecord build records.
func PutRecord(l Lease) Record            { return Record{Lease: l} }
func DeleteRecord(addr netip.Addr) Record { return Record{Delete: true, Lease: Lease{Addr: addr}} }

// checkLease reports what would stop a lease from being journalled.
func checkLease(l Lease) error {
	switch {
	case !l.Addr.Is4():
		return fmt.Errorf("lease address %v is not IPv4", l.Addr)
	case len(l.HWAddr) > MaxHWAddr:
		return fmt.Errorf("hardware address of %d bytes (at most %d)", len(l.HWAddr), MaxHWAddr)
	case len(l.ClientID) > MaxClientID:
		return fmt.Errorf("client-id of %d bytes (at most %d)", len(l.ClientID), MaxClientID)
	case len(l.Hostname) > MaxHostname:
		return fmt.Errorf("host name of %d bytes (at most %d)", len(l.Hostname), MaxHostname)
	}
	return nil
}

// AppendRecord appends r's encoding (header, CRC and payload) to dst, so
// that a batch can be written with one call.
func AppendRecord(dst []byte, r Record) ([]byte, error) {
	if err := checkLease(r.Lease); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, make([]byte, recordHeaderLen)...)
	a := r.Lease.Addr.As4()
	if r.Delete {
		dst = append(dst, typeDelete)
		dst = append(dst, a[:]...)
	} else {
		l := r.Lease
		dst = append(dst, typePut)
		dst = binary.BigEndian.AppendUint64(dst, uint64(l.Expires))
		dst = append(dst, a[:]...)
		dst = append(dst, l.HWType, byte(len(l.HWAddr)))
		dst = append(dst, l.HWAddr...)
		dst = append(dst, byte(len(l.ClientID)))
		dst = append(dst, l.ClientID...)
		dst = append(dst, byte(len(l.Hostname)))
		dst = append(dst, l.Hostname...)
	}
	payload := dst[start+recordHeaderLen:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32Update(dst[start:start+4], payload))
	return dst, nil
}

// AppendBatch appends recs as one batch: a batch marker and the records
// (a single record goes alone: its CRC makes it whole or absent
// already). Replay applies a batch all or nothing.
func AppendBatch(dst []byte, recs []Record) ([]byte, error) {
	if len(recs) > MaxBatchRecords {
		return dst, fmt.Errorf("batch of %d records (at most %d)", len(recs), MaxBatchRecords)
	}
	start := len(dst)
	if len(recs) > 1 {
		dst = append(dst, make([]byte, recordHeaderLen)...)
		dst = append(dst, typeBatch)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(recs)))
		payload := dst[start+recordHeaderLen:]
		binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
		binary.BigEndian.PutUint32(dst[start+4:], crc32Update(dst[start:start+4], payload))
	}
	var err error
	for _, r := range recs {
		if dst, err = AppendRecord(dst, r); err != nil {
			return dst[:start], err
		}
	}
	return dst, nil
}

// ErrNotJournal: the data does not start with JournalHeader.
var ErrNotJournal = errors.New("not a moat lease journal (bad header)")

// ReplayResult says how much of a journal was good.
type ReplayResult struct {
	Records int // records passed to the callback
	// Valid is the length of the good part (header and whole records):
	// the master truncates the file there before appending.
	Valid int64
	// Torn is the number of bytes after Valid: a record cut short by a
	// crash, or damage. The bytes were ignored.
	Torn int64
}

// Replay reads a journal and calls fn for each good record, in order. An
// empty input is an empty journal (Valid 0: write the header first). A
// cut-off header, a short record, a length out of bounds or a CRC
// mismatch ends the replay there, reported in Torn and not an error; so
// does a batch (a batch marker and its records) that is not whole: none
// of its records is passed to fn, and Valid ends before its marker. A
// record whose CRC holds but that cannot be decoded (a newer format or a
// bug) and an error from fn or from reading r are errors.
func Replay(r io.Reader, fn func(Record) error) (ReplayResult, error) {
	return ReplayBatches(r, func(batch []Record) error {
		for _, rec := range batch {
			if err := fn(rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReplayBatches is Replay with the records grouped as they were
// appended: fn gets a whole batch at a time (one record, or the records
// a batch marker announced). Journals written before batch markers
// existed have none and replay one record at a time. The slice is reused
// after fn returns.
func ReplayBatches(r io.Reader, fn func([]Record) error) (ReplayResult, error) {
	var res ReplayResult
	br := bufio.NewReaderSize(r, 64<<10)
	head := make([]byte, len(JournalHeader))
	n, err := io.ReadFull(br, head)
	switch {
	case n == 0 && err == io.EOF:
		return res, nil
	case err == io.ErrUnexpectedEOF:
		if string(head[:n]) != JournalHeader[:n] {
			return res, ErrNotJournal
		}
		res.Torn = int64(n)
		return res, nil
	case err != nil:
		return res, fmt.Errorf("read journal: %w", err)
	case string(head) != JournalHeader:
		return res, ErrNotJournal
	}
	res.Valid = int64(len(JournalHeader))
	buf := make([]byte, recordHeaderLen+MaxRecordPayload)
	var batch []Record
	want := 0      // records the open batch still needs; 0: none open
	var read int64 // bytes of the open batch, marker included
	for {
		rec, size, torn, err := readRecord(br, buf)
		if err != nil {
			return res, fmt.Errorf("journal record %d at offset %d: %w", res.Records+len(batch)+1, res.Valid+read, err)
		}
		if torn >= 0 {
			if torn == 0 && want == 0 {
				return res, nil // the end, between batches
			}
			// The end inside a batch, or damage: the batch is not whole.
			return tornTail(res, br, read+torn)
		}
		if rec.batch > 0 {
			if want > 0 {
				// A marker inside a batch: the writer never does this.
				return tornTail(res, br, read+size)
			}
			want, read, batch = rec.batch, size, batch[:0]
			continue
		}
		batch = append(batch, rec.Record)
		read += size
		if want > 0 {
			want--
			if want > 0 {
				continue
			}
		}
		if err := fn(batch); err != nil {
			return res, err
		}
		res.Records += len(batch)
		res.Valid += read
		batch, read = batch[:0], 0
	}
}

// decoded is one record read from a journal: a lease change, or a batch
// marker (batch > 0: the number of records that follow).
type decoded struct {
	Record
	batch int
}

// readRecord reads the next record. torn is -1 for a good record of size
// bytes; otherwise the record could not be read: torn is how many bytes
// of it were consumed (0 at a clean end of the input).
func readRecord(br *bufio.Reader, buf []byte) (rec decoded, size, torn int64, err error) {
	n, err := io.ReadFull(br, buf[:recordHeaderLen])
	if err == io.EOF {
		return rec, 0, 0, nil
	}
	if err != nil && err != io.ErrUnexpectedEOF {
		return rec, 0, 0, fmt.Errorf("read journal: %w", err)
	}
	length := binary.BigEndian.Uint32(buf[:4])
	if err == io.ErrUnexpectedEOF || length == 0 || length > MaxRecordPayload {
		return rec, 0, int64(n), nil
	}
	m, err := io.ReadFull(br, buf[recordHeaderLen:recordHeaderLen+int(length)])
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return rec, 0, int64(n + m), nil
	}
	if err != nil {
		return rec, 0, 0, fmt.Errorf("read journal: %w", err)
	}
	size = int64(recordHeaderLen) + int64(length)
	payload := buf[recordHeaderLen:size]
	if crc32Update(buf[:4], payload) != binary.BigEndian.Uint32(buf[4:8]) {
		return rec, 0, size, nil
	}
	if payload[0] == typeBatch {
		if len(payload) != 5 {
			return rec, 0, 0, errors.New("batch marker of the wrong length")
		}
		count := binary.BigEndian.Uint32(payload[1:])
		if count < 2 || count > MaxBatchRecords {
			return rec, 0, 0, fmt.Errorf("batch of %d records", count)
		}
		rec.batch = int(count)
		return rec, size, -1, nil
	}
	rec.Record, err = decodePayload(payload)
	if err != nil {
		return rec, 0, 0, err
	}
	return rec, size, -1, nil
}

// tornTail counts what remains after a bad record.
func tornTail(res ReplayResult, r io.Reader, read int64) (ReplayResult, error) {
	rest, err := io.Copy(io.Discard, r)
	res.Torn = read + rest
	if err != nil {
		return res, fmt.Errorf("read journal: %w", err)
	}
	return res, nil
}

// decodePayload reads a record payload; every byte must be used.
func decodePayload(p []byte) (Record, error) {
	if len(p) == 0 {
		return Record{}, errors.New("empty record")
	}
	d := decoder{b: p[1:]}
	var r Record
	switch p[0] {
	case typeDelete:
		r.Delete = true
		r.Lease.Addr = d.addr()
	case typePut:
		l := &r.Lease
		l.Expires = int64(d.uint64())
		l.Addr = d.addr()
		l.HWType = d.byte()
		l.HWAddr = d.bytes()
		if id := d.bytes(); len(id) > 0 {
			l.ClientID = id
		}
		l.Hostname = string(d.bytes())
		if l.Expires < 0 {
			return Record{}, fmt.Errorf("negative expiry %d", l.Expires)
		}
	default:
		return Record{}, fmt.Errorf("unknown record type %q", p[0])
	}
	if d.err != nil || len(d.b) != 0 {
		return Record{}, errors.New("record of the wrong length")
	}
	if err := checkLease(r.Lease); err != nil {
		return Record{}, err
	}
	return r, nil
}

// decoder reads fields from a payload, remembering the first short read.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || len(d.b) < n {
		d.err = io.ErrUnexpectedEOF
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) byte() byte {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) uint64() uint64 {
	if b := d.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) addr() netip.Addr {
	if b := d.take(4); b != nil {
		return netip.AddrFrom4([4]byte(b))
	}
	return netip.Addr{}
}

// bytes reads a length byte and that many bytes, copied out of the
// replay buffer.
func (d *decoder) bytes() []byte {
	n := int(d.byte())
	b := d.take(n)
	if b == nil || n == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// WriteSnapshot writes a compacted journal: the header and one put record
// per lease. The master writes it to a new file, syncs it and renames it
// over the old journal, then appends to it.
func WriteSnapshot(w io.Writer, leases []Lease) error {
	buf := []byte(JournalHeader)
	var err error
	for _, l := range leases {
		if buf, err = AppendRecord(buf, PutRecord(l)); err != nil {
			return fmt.Errorf("snapshot lease %v: %w", l.Addr, err)
		}
		if len(buf) >= 64<<10 {
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("write snapshot: %w", err)
			}
			buf = buf[:0]
		}
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// crc32Update is the record checksum of a length field and payload.
func crc32Update(length, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, length), castagnoli, payload)
}
