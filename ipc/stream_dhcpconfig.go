package ipc

import (
	"fmt"
	"unicode/utf8"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// dhcpd's configuration (DHCPConfig: the options text, the dhcp-hostsfile
// texts and /etc/ethers) can be far larger than one message: a hosts file
// of 100,000 hosts is a few megabytes. It travels as a DHCPConfigBegin
// (generation, file names, counts), DHCPConfigChunk messages each holding
// up to dhcpConfigChunkData bytes of one text, in a fixed order, and a
// DHCPConfigEnd repeating the counts. The receiver's DHCPConfigAssembler
// checks every step against hard caps and returns the configuration only
// on a matching end, so a half-sent configuration is never taken for a
// whole one.

// Caps of a streamed DHCPConfig, sent or received.
const (
	// MaxDHCPConfigBytes caps the texts of one DHCPConfig together: the
	// master reads each file up to 64 MiB, and no real DHCP configuration
	// comes near (a million dhcp-host lines are about 40 MiB).
	MaxDHCPConfigBytes = 64 << 20
	// MaxDHCPConfigChunks caps the chunks of one DHCPConfig: every text
	// packed into chunks of dhcpConfigChunkData bytes needs about 1,100 for
	// MaxDHCPConfigBytes, plus one partial chunk per file.
	MaxDHCPConfigChunks = 1<<12 + maxDHCPHostsFiles
)

// dhcpConfigChunkData is the most text bytes one chunk carries, leaving
// room under MaxMessageSize for the chunk's other fields and the envelope.
const dhcpConfigChunkData = MaxMessageSize - 2*streamMargin

// dhcpConfigPart is one text of a DHCPConfig, in stream order.
type dhcpConfigPart struct {
	part ipcpb.DHCPConfigChunk_Part
	file uint32
	text string
}

// dhcpConfigParts lists dc's texts in the order they are streamed.
func dhcpConfigParts(dc *ipcpb.DHCPConfig) []dhcpConfigPart {
	parts := []dhcpConfigPart{{part: ipcpb.DHCPConfigChunk_PART_OPTIONS, text: dc.GetOptions()}}
	for i, f := range dc.GetHostsFiles() {
		parts = append(parts, dhcpConfigPart{part: ipcpb.DHCPConfigChunk_PART_HOSTS_FILE, file: uint32(i), text: f.GetText()})
	}
	if e := dc.GetEthers(); e != nil {
		parts = append(parts, dhcpConfigPart{part: ipcpb.DHCPConfigChunk_PART_ETHERS, text: e.GetText()})
	}
	return parts
}

// dhcpConfigCounts are the chunks and text bytes dc streams as.
func dhcpConfigCounts(dc *ipcpb.DHCPConfig) (chunks int, bytes int) {
	for _, p := range dhcpConfigParts(dc) {
		chunks += (len(p.text) + dhcpConfigChunkData - 1) / dhcpConfigChunkData
		bytes += len(p.text)
	}
	return chunks, bytes
}

// CheckDHCPConfig checks that dc can be streamed: its shape (as a
// DHCPConfig message's, with the stream's caps instead of the message
// size) and its counts. A sender calls it before the first message goes
// out; SendDHCPConfig does.
func CheckDHCPConfig(dc *ipcpb.DHCPConfig) error {
	if dc.GetGeneration() == 0 {
		return fmt.Errorf("dhcp config: generation 0: %w", ErrInvalid)
	}
	if err := validateDHCPConfigLimit(dc, MaxDHCPConfigBytes); err != nil {
		return fmt.Errorf("dhcp config: %w", err)
	}
	chunks, bytes := dhcpConfigCounts(dc)
	if bytes > MaxDHCPConfigBytes {
		return fmt.Errorf("dhcp config: texts total %d bytes, at most %d: %w", bytes, MaxDHCPConfigBytes, ErrTooLarge)
	}
	if chunks > MaxDHCPConfigChunks {
		return fmt.Errorf("dhcp config: %d chunks, at most %d: %w", chunks, MaxDHCPConfigChunks, ErrTooLarge)
	}
	return nil
}

// SendDHCPConfig streams dc as DHCPConfigBegin, DHCPConfigChunk... and
// DHCPConfigEnd. dc is checked (CheckDHCPConfig) before the first
// message goes out, so a configuration over a cap fails the call without
// a half-sent stream. Streams on one Conn are serialized; other messages
// may interleave.
func SendDHCPConfig(c *Conn, dc *ipcpb.DHCPConfig) error {
	if err := CheckDHCPConfig(dc); err != nil {
		return fmt.Errorf("ipc send %w", err)
	}
	c.streamMu.Lock()
	defer c.streamMu.Unlock()
	err := dhcpConfigMessages(dc, func(m *ipcpb.Envelope) error { return c.sendValidated(m, nil) })
	if err != nil {
		return fmt.Errorf("ipc send dhcp config: %w", err)
	}
	return nil
}

// dhcpConfigMessages calls send with each message of dc's stream in
// turn, one chunk's copy of the text at a time, and stops at the first
// error.
func dhcpConfigMessages(dc *ipcpb.DHCPConfig, send func(*ipcpb.Envelope) error) error {
	chunks, bytes := dhcpConfigCounts(dc)
	gen := dc.GetGeneration()
	begin := &ipcpb.DHCPConfigBegin{Generation: gen, Chunks: uint32(chunks), Bytes: uint64(bytes)}
	for _, f := range dc.GetHostsFiles() {
		begin.HostsFileNames = append(begin.HostsFileNames, f.GetName())
	}
	if e := dc.GetEthers(); e != nil {
		begin.EthersName = e.GetName()
	}
	if err := send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpConfigBegin{DhcpConfigBegin: begin}}); err != nil {
		return err
	}
	seq := uint32(0)
	for _, p := range dhcpConfigParts(dc) {
		for off := 0; off < len(p.text); off += dhcpConfigChunkData {
			end := min(off+dhcpConfigChunkData, len(p.text))
			chunk := &ipcpb.DHCPConfigChunk{Generation: gen, Seq: seq, Part: p.part, File: p.file, Data: []byte(p.text[off:end])}
			if err := send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpConfigChunk{DhcpConfigChunk: chunk}}); err != nil {
				return fmt.Errorf("chunk %d: %w", seq, err)
			}
			seq++
		}
	}
	fin := &ipcpb.DHCPConfigEnd{Generation: gen, Chunks: uint32(chunks), Bytes: uint64(bytes)}
	return send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpConfigEnd{DhcpConfigEnd: fin}})
}

// IsDHCPConfigStream says whether m is a DHCPConfigBegin, DHCPConfigChunk
// or DHCPConfigEnd: a message for a DHCPConfigAssembler.
func IsDHCPConfigStream(m *ipcpb.Envelope) bool {
	switch m.GetMsg().(type) {
	case *ipcpb.Envelope_DhcpConfigBegin, *ipcpb.Envelope_DhcpConfigChunk, *ipcpb.Envelope_DhcpConfigEnd:
		return true
	}
	return false
}

// RecvDHCPConfig reads one streamed DHCPConfig with recv (which returns
// the next message, descriptors already refused) and returns it whole.
// Any other message is an error wrapping ErrUnexpected; a stream out of
// order or over a cap, one wrapping ErrStream.
func RecvDHCPConfig(recv func() (*ipcpb.Envelope, error)) (*ipcpb.DHCPConfig, error) {
	var a DHCPConfigAssembler
	for {
		m, err := recv()
		if err != nil {
			return nil, err
		}
		if !IsDHCPConfigStream(m) {
			return nil, fmt.Errorf("dhcp config stream: expected DHCPConfigBegin, a chunk or the end, got %s: %w", messageName(m), ErrUnexpected)
		}
		dc, err := a.Add(m)
		if err != nil || dc != nil {
			return dc, err
		}
	}
}

// DHCPConfigAssembler collects one streamed DHCPConfig. Feed it every
// DHCPConfigBegin, DHCPConfigChunk and DHCPConfigEnd; Add returns the
// configuration on the end that matches the begin. Until then the
// caller's configuration stays in use: the swap is atomic.
//
// Every error drops the partial configuration; the assembler then waits
// for a new begin. A begin while a configuration is in progress is an
// error too: the master sends one stream at a time, whole. The zero
// value is ready to use.
type DHCPConfigAssembler struct {
	active bool
	begin  *ipcpb.DHCPConfigBegin
	chunks uint32 // received so far: the next chunk's seq
	bytes  uint64
	// order is the position of the part being received in stream order
	// (0 options, 1+i hosts file i, 1+len(files) ethers); texts its data.
	order int
	texts [][]byte
}

// InProgress reports whether a configuration has begun and not ended.
func (a *DHCPConfigAssembler) InProgress() bool { return a.active }

func (a *DHCPConfigAssembler) fail(format string, args ...any) error {
	*a = DHCPConfigAssembler{}
	return fmt.Errorf("dhcp config stream: "+format+": %w", append(args, ErrStream)...)
}

// Add feeds one streamed message. It returns the assembled DHCPConfig on
// a good end, nil until then. A message that is not part of the stream is
// an error wrapping ErrUnexpected and leaves the stream in progress alone.
func (a *DHCPConfigAssembler) Add(m *ipcpb.Envelope) (*ipcpb.DHCPConfig, error) {
	switch x := m.GetMsg().(type) {
	case *ipcpb.Envelope_DhcpConfigBegin:
		return nil, a.addBegin(x.DhcpConfigBegin)
	case *ipcpb.Envelope_DhcpConfigChunk:
		return nil, a.addChunk(x.DhcpConfigChunk)
	case *ipcpb.Envelope_DhcpConfigEnd:
		return a.addEnd(x.DhcpConfigEnd)
	default:
		return nil, fmt.Errorf("dhcp config stream: %s is not a stream message: %w", messageName(m), ErrUnexpected)
	}
}

func (a *DHCPConfigAssembler) addBegin(b *ipcpb.DHCPConfigBegin) error {
	// The message was validated on receipt; these checks hold for a
	// caller that builds messages itself.
	if b == nil {
		return a.fail("nil begin")
	}
	if a.active {
		return a.fail("begin of generation %d while generation %d is in progress (%d of %d chunks)",
			b.GetGeneration(), a.begin.GetGeneration(), a.chunks, a.begin.GetChunks())
	}
	if err := validateDHCPConfigBegin(b); err != nil {
		return a.fail("begin: %v", err)
	}
	*a = DHCPConfigAssembler{active: true, begin: b, texts: make([][]byte, 2+len(b.GetHostsFileNames()))}
	return nil
}

// partOrder is the position of a chunk's part in stream order, -1 for a
// part the begin did not announce.
func (a *DHCPConfigAssembler) partOrder(c *ipcpb.DHCPConfigChunk) int {
	files := len(a.begin.GetHostsFileNames())
	switch c.GetPart() {
	case ipcpb.DHCPConfigChunk_PART_OPTIONS:
		if c.GetFile() == 0 {
			return 0
		}
	case ipcpb.DHCPConfigChunk_PART_HOSTS_FILE:
		if int(c.GetFile()) < files {
			return 1 + int(c.GetFile())
		}
	case ipcpb.DHCPConfigChunk_PART_ETHERS:
		if c.GetFile() == 0 && a.begin.GetEthersName() != "" {
			return 1 + files
		}
	}
	return -1
}

func (a *DHCPConfigAssembler) addChunk(c *ipcpb.DHCPConfigChunk) error {
	switch {
	case c == nil:
		return a.fail("nil chunk")
	case !a.active:
		return a.fail("chunk %d of generation %d without a begin", c.GetSeq(), c.GetGeneration())
	case c.GetGeneration() != a.begin.GetGeneration():
		return a.fail("chunk of generation %d inside generation %d", c.GetGeneration(), a.begin.GetGeneration())
	case c.GetSeq() != a.chunks:
		return a.fail("chunk %d where chunk %d was due", c.GetSeq(), a.chunks)
	case a.chunks >= a.begin.GetChunks():
		return a.fail("more than the %d chunks announced", a.begin.GetChunks())
	case len(c.GetData()) == 0 || len(c.GetData()) > dhcpConfigChunkData:
		return a.fail("chunk %d holds %d bytes, want 1 to %d", c.GetSeq(), len(c.GetData()), dhcpConfigChunkData)
	case a.bytes+uint64(len(c.GetData())) > a.begin.GetBytes():
		return a.fail("more than the %d bytes announced", a.begin.GetBytes())
	}
	order := a.partOrder(c)
	if order < 0 {
		return a.fail("chunk %d: part %s file %d was not announced", c.GetSeq(), c.GetPart(), c.GetFile())
	}
	if order < a.order {
		return a.fail("chunk %d: part %s file %d after a later part", c.GetSeq(), c.GetPart(), c.GetFile())
	}
	a.order = order
	if a.texts[order] == nil {
		// Grow from a bounded start: the announced size is the peer's word.
		a.texts[order] = make([]byte, 0, min(int(a.begin.GetBytes()-a.bytes), 1<<20))
	}
	a.texts[order] = append(a.texts[order], c.GetData()...)
	a.chunks++
	a.bytes += uint64(len(c.GetData()))
	return nil
}

func (a *DHCPConfigAssembler) addEnd(e *ipcpb.DHCPConfigEnd) (*ipcpb.DHCPConfig, error) {
	switch {
	case e == nil:
		return nil, a.fail("nil end")
	case !a.active:
		return nil, a.fail("end of generation %d without a begin", e.GetGeneration())
	case e.GetGeneration() != a.begin.GetGeneration():
		return nil, a.fail("end of generation %d inside generation %d", e.GetGeneration(), a.begin.GetGeneration())
	case e.GetChunks() != a.begin.GetChunks() || e.GetBytes() != a.begin.GetBytes():
		return nil, a.fail("end counts %d chunks and %d bytes, begin announced %d and %d",
			e.GetChunks(), e.GetBytes(), a.begin.GetChunks(), a.begin.GetBytes())
	case a.chunks != a.begin.GetChunks() || a.bytes != a.begin.GetBytes():
		return nil, a.fail("end after %d chunks and %d bytes, begin announced %d and %d",
			a.chunks, a.bytes, a.begin.GetChunks(), a.begin.GetBytes())
	}
	for i, t := range a.texts {
		if !utf8.Valid(t) {
			return nil, a.fail("text %d is not valid UTF-8", i)
		}
	}
	b := a.begin
	files := b.GetHostsFileNames()
	dc := &ipcpb.DHCPConfig{Generation: b.GetGeneration(), Options: string(a.texts[0])}
	for i, name := range files {
		dc.HostsFiles = append(dc.HostsFiles, &ipcpb.NamedText{Name: name, Text: string(a.texts[1+i])})
	}
	if b.GetEthersName() != "" {
		dc.Ethers = &ipcpb.NamedText{Name: b.GetEthersName(), Text: string(a.texts[1+len(files)])}
	}
	*a = DHCPConfigAssembler{}
	if err := validateDHCPConfigLimit(dc, MaxDHCPConfigBytes); err != nil {
		return nil, fmt.Errorf("dhcp config stream: assembled: %w", err)
	}
	return dc, nil
}

func validateDHCPConfigBegin(b *ipcpb.DHCPConfigBegin) error {
	switch {
	case b.GetGeneration() == 0:
		return invalid("generation 0")
	case len(b.GetHostsFileNames()) > maxDHCPHostsFiles:
		return invalid("hosts_file_names: %d, at most %d", len(b.GetHostsFileNames()), maxDHCPHostsFiles)
	case b.GetChunks() > MaxDHCPConfigChunks:
		return invalid("chunks: %d, at most %d", b.GetChunks(), MaxDHCPConfigChunks)
	case b.GetBytes() > MaxDHCPConfigBytes:
		return invalid("bytes: %d, at most %d", b.GetBytes(), MaxDHCPConfigBytes)
	case b.GetBytes() < uint64(b.GetChunks()) || b.GetBytes() > uint64(b.GetChunks())*dhcpConfigChunkData:
		return invalid("%d bytes cannot be %d chunks", b.GetBytes(), b.GetChunks())
	}
	for i, n := range b.GetHostsFileNames() {
		if err := nonEmpty(fmt.Sprintf("hosts_file_names[%d]", i), n, maxTextLen); err != nil {
			return err
		}
	}
	return maxLen("ethers_name", b.GetEthersName(), maxTextLen)
}

func validateDHCPConfigChunk(c *ipcpb.DHCPConfigChunk) error {
	switch {
	case c.GetGeneration() == 0:
		return invalid("generation 0")
	case c.GetSeq() >= MaxDHCPConfigChunks:
		return invalid("seq %d, at most %d", c.GetSeq(), MaxDHCPConfigChunks-1)
	case len(c.GetData()) == 0 || len(c.GetData()) > dhcpConfigChunkData:
		return invalid("data: %d bytes, want 1 to %d", len(c.GetData()), dhcpConfigChunkData)
	}
	switch c.GetPart() {
	case ipcpb.DHCPConfigChunk_PART_OPTIONS, ipcpb.DHCPConfigChunk_PART_ETHERS:
		if c.GetFile() != 0 {
			return invalid("part %s with file %d", c.GetPart(), c.GetFile())
		}
	case ipcpb.DHCPConfigChunk_PART_HOSTS_FILE:
		if c.GetFile() >= maxDHCPHostsFiles {
			return invalid("file %d, at most %d", c.GetFile(), maxDHCPHostsFiles-1)
		}
	default:
		return invalid("part %d", c.GetPart())
	}
	return nil
}

func validateDHCPConfigEnd(e *ipcpb.DHCPConfigEnd) error {
	switch {
	case e.GetGeneration() == 0:
		return invalid("generation 0")
	case e.GetChunks() > MaxDHCPConfigChunks:
		return invalid("chunks: %d, at most %d", e.GetChunks(), MaxDHCPConfigChunks)
	case e.GetBytes() > MaxDHCPConfigBytes:
		return invalid("bytes: %d, at most %d", e.GetBytes(), MaxDHCPConfigBytes)
	}
	return nil
}

// validateDHCPConfigLimit checks a DHCPConfig's shape as
// validateDHCPConfig does, with limit for the texts together instead of
// the message size cap: a streamed configuration is bounded by its
// stream's caps.
func validateDHCPConfigLimit(c *ipcpb.DHCPConfig, limit int) error {
	if err := noUnknown(c); err != nil {
		return err
	}
	if err := nonEmpty("options", c.GetOptions(), limit); err != nil {
		return err
	}
	files := c.GetHostsFiles()
	if len(files) > maxDHCPHostsFiles {
		return invalid("hosts_files: %d, at most %d", len(files), maxDHCPHostsFiles)
	}
	total := len(c.GetOptions())
	check := func(field string, t *ipcpb.NamedText) error {
		if err := noUnknown(t); err != nil {
			return err
		}
		if err := nonEmpty(field+".name", t.GetName(), maxTextLen); err != nil {
			return err
		}
		total += len(t.GetText())
		return maxLen(field+".text", t.GetText(), limit)
	}
	for i, f := range files {
		if err := check(fmt.Sprintf("hosts_files[%d]", i), f); err != nil {
			return err
		}
	}
	if e := c.GetEthers(); e != nil {
		if err := check("ethers", e); err != nil {
			return err
		}
	}
	if total > limit {
		return invalid("texts: %d bytes together, at most %d", total, limit)
	}
	return nil
}
