package dhcpserver

import (
	"net/netip"
)

// Offsets in a BOOTP message.
const (
	offFlags  = 10
	offCiaddr = 12
	offYiaddr = 16
	offSiaddr = 20
	offGiaddr = 24
	offChaddr = 28
	offSname  = 44
	offFile   = 108
	snameLen  = 64
	fileLen   = 128
)

var magicCookie = [4]byte{99, 130, 83, 99}

// packet builds a reply the way dnsmasq lays one out: options in the
// order they are put, up to the client's size limit; when the options
// area is full, option overload (RFC 2132 section 9.3) moves further
// options into the file and then the sname field, if those are unused;
// the relay agent option goes last.
type packet struct {
	buf []byte // the whole message, zeroed up to its size limit
	end int    // the main options area ends here (exclusive)
	pos int    // next free byte of the main options area
	// overloadAt is the index of option 52's value byte; 0 for none.
	overloadAt int
	fileUsed   int // bytes of the file field in use (a name or options)
	snameUsed  int
	fileOpts   bool // the field holds options
	snameOpts  bool
	// noOverload: BOOTP clients, clients without a parameter request
	// list and dhcp-no-override never get options in file or sname.
	noOverload bool
	agentID    []byte
	dropped    int // options that did not fit
}

// start prepares p over buf for a reply of at most size bytes, copying
// the request's header fields; agentID (option 82 as received) is kept
// room for at the end when it fits, as dnsmasq does.
func (p *packet) start(buf []byte, size int, r *request) {
	*p = packet{buf: buf[:size], end: size}
	clear(p.buf)
	b := p.buf
	b[0] = 2 // BOOTREPLY
	b[1] = r.htype
	b[2] = byte(len(r.chaddr))
	b[3] = r.p.HopCount
	copy(b[4:8], r.p.TransactionID[:])
	b[8], b[9] = byte(r.p.NumSeconds>>8), byte(r.p.NumSeconds)
	b[offFlags], b[offFlags+1] = byte(r.p.Flags>>8), byte(r.p.Flags)
	p.setAddr(offGiaddr, r.giaddr)
	copy(b[offChaddr:offChaddr+16], r.chaddr)
	copy(b[headerSize:optionsStart], magicCookie[:])
	p.pos = optionsStart
	if n := len(r.agentID) + 2; r.agentID != nil && n <= 255+2 && optionsStart < p.end-n {
		p.end -= n
		p.agentID = r.agentID
	}
}

func (p *packet) setAddr(off int, a netip.Addr) {
	if a.Is4() {
		b := a.As4()
		copy(p.buf[off:off+4], b[:])
	} else {
		clear(p.buf[off : off+4])
	}
}

func (p *packet) setBroadcast() { p.buf[offFlags] |= 0x80 }

// setSname and setFile fill the BOOTP fields (dnsmasq's safe_strncpy:
// at most the field's size less one, NUL-terminated).
func (p *packet) setSname(s string) {
	n := copy(p.buf[offSname:offSname+snameLen-1], s)
	clear(p.buf[offSname+n : offSname+snameLen])
	p.snameUsed = n
}

func (p *packet) setFile(s string) {
	n := copy(p.buf[offFile:offFile+fileLen-1], s)
	clear(p.buf[offFile+n : offFile+fileLen])
	p.fileUsed = n
}

// reserveOverload keeps three bytes for option 52 when file or sname is
// free for options (dnsmasq's "end -= 3").
func (p *packet) reserveOverload() {
	if !p.noOverload && (p.fileUsed == 0 || p.snameUsed == 0) {
		p.end -= 3
	}
}

// space returns room for option code with n bytes of data, writing its
// header, or nil when it does not fit anywhere (dnsmasq's free_space).
func (p *packet) space(code uint8, n int) []byte {
	if n > 255 {
		p.dropped++
		return nil
	}
	if p.pos+n+3 < p.end {
		return p.claim(&p.pos, code, n)
	}
	if p.noOverload {
		p.dropped++
		return nil
	}
	if p.overloadAt == 0 && (p.fileUsed == 0 || p.snameUsed == 0) {
		// The three reserved bytes take option 52.
		p.buf[p.pos], p.buf[p.pos+1] = optOverload, 1
		p.overloadAt = p.pos + 2
		p.pos += 3
	}
	if p.overloadAt != 0 {
		if p.fileUsed == 0 && !p.fileOpts {
			p.buf[p.overloadAt] |= 1
			p.fileOpts = true
		}
		if p.fileOpts && p.fileUsed+n+3 < fileLen {
			at := offFile + p.fileUsed
			b := p.claim(&at, code, n)
			p.fileUsed = at - offFile
			return b
		}
		if p.snameUsed == 0 && !p.snameOpts {
			p.buf[p.overloadAt] |= 2
			p.snameOpts = true
		}
		if p.snameOpts && p.snameUsed+n+3 < snameLen {
			at := offSname + p.snameUsed
			b := p.claim(&at, code, n)
			p.snameUsed = at - offSname
			return b
		}
	}
	p.dropped++
	return nil
}

func (p *packet) claim(at *int, code uint8, n int) []byte {
	i := *at
	p.buf[i], p.buf[i+1] = code, byte(n)
	*at = i + 2 + n
	return p.buf[i+2 : i+2+n]
}

// put adds an option with data.
func (p *packet) put(code uint8, data []byte) {
	if b := p.space(code, len(data)); b != nil {
		copy(b, data)
	}
}

// putUint adds an option holding a big-endian number of size bytes.
func (p *packet) putUint(code uint8, size int, v uint32) {
	if b := p.space(code, size); b != nil {
		for i := 0; i < size; i++ {
			b[i] = byte(v >> (8 * (size - 1 - i)))
		}
	}
}

func (p *packet) putAddr(code uint8, a netip.Addr) {
	if a.Is4() {
		b := a.As4()
		p.put(code, b[:])
	}
}

// putString adds a text option, NUL-terminated for clients that want it
// (unless it is 255 bytes long).
func (p *packet) putString(code uint8, s string, nulTerm bool) {
	n := len(s)
	if nulTerm && n != 255 {
		n++
	}
	if b := p.space(code, n); b != nil {
		copy(b, s)
	}
}

// finish ends the option areas, appends the relay agent option and
// returns a copy of the message (at least 300 bytes, as dnsmasq sends).
func (p *packet) finish() []byte {
	if p.fileOpts {
		p.buf[offFile+p.fileUsed] = optEnd
	}
	if p.snameOpts {
		p.buf[offSname+p.snameUsed] = optEnd
	}
	if p.agentID != nil {
		p.buf[p.pos], p.buf[p.pos+1] = optAgentID, byte(len(p.agentID))
		copy(p.buf[p.pos+2:], p.agentID)
		p.pos += 2 + len(p.agentID)
	}
	p.buf[p.pos] = optEnd
	n := max(p.pos+1, minPacketSize)
	out := make([]byte, n)
	copy(out, p.buf[:min(n, len(p.buf))])
	return out
}
