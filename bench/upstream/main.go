// Command upstream is the benchmark's DNS server: it answers every query
// at once, from nothing but the query bytes, so that the servers under
// test (moatd, dnsmasq) are what the benchmark measures. Names whose first
// label starts with "nx" are NXDOMAIN (with an SOA, so that negative
// answers are cached); other A and AAAA queries get one address derived
// from the name; other types NODATA. "count.bench." TXT answers with the
// number of queries seen so far (the harness reads it to count misses).
// Every TTL is an hour. It never allocates per query.
//
//	upstream -addr 127.0.0.1:5300
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"strconv"
)

const ttl = 3600

func main() {
	addr := flag.String("addr", "127.0.0.1:5300", "UDP address to serve (loopback only)")
	flag.Parse()
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil || !ap.Addr().IsLoopback() {
		fmt.Fprintf(os.Stderr, "upstream: -addr %q: a loopback ip:port is required\n", *addr)
		os.Exit(2)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream: %v\n", err)
		os.Exit(1)
	}
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	fmt.Printf("upstream: serving %s\n", ap)
	serve(conn)
}

func serve(conn *net.UDPConn) {
	in := make([]byte, 1500)
	out := make([]byte, 0, 1500)
	var count uint64
	for {
		n, from, err := conn.ReadFromUDPAddrPort(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		count++
		reply, ok := answer(out[:0], in[:n], count)
		if !ok {
			continue
		}
		_, _ = conn.WriteToUDPAddrPort(reply, from)
	}
}

// soaRdata is "bench. hostmaster.bench. 1 3600 600 86400 3600" in wire
// form with uncompressed names.
var soaRdata = func() []byte {
	b := []byte{5, 'b', 'e', 'n', 'c', 'h', 0, 10, 'h', 'o', 's', 't', 'm', 'a', 's', 't', 'e', 'r', 5, 'b', 'e', 'n', 'c', 'h', 0}
	for _, v := range []uint32{1, 3600, 600, 86400, ttl} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}()

// answer appends the reply to query q to out.
func answer(out, q []byte, count uint64) ([]byte, bool) {
	if len(q) < 12 || q[2]&0x80 != 0 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return out, false
	}
	off := 12
	for off < len(q) && q[off] != 0 {
		if q[off] > 63 {
			return out, false
		}
		off += 1 + int(q[off])
	}
	off++
	if off+4 > len(q) {
		return out, false
	}
	name := q[12:off]
	qtype := binary.BigEndian.Uint16(q[off:])
	end := off + 4
	out = append(out, q[:end]...)
	out[2] = 0x80 | 0x04 | q[2]&0x01 // QR, AA, RD
	out[3] = 0x80                    // RA, NOERROR
	binary.BigEndian.PutUint32(out[6:], 0)
	binary.BigEndian.PutUint16(out[10:], 0)
	rr := func(rtype uint16, rdata []byte) {
		out = append(out, 0xc0, 12) // the question's name
		out = binary.BigEndian.AppendUint16(out, rtype)
		out = binary.BigEndian.AppendUint16(out, 1)
		out = binary.BigEndian.AppendUint32(out, ttl)
		out = binary.BigEndian.AppendUint16(out, uint16(len(rdata)))
		out = append(out, rdata...)
	}
	switch {
	case len(name) > 2 && (name[1]|0x20) == 'n' && (name[2]|0x20) == 'x':
		out[3] |= 3 // NXDOMAIN
		out[9] = 1  // NSCOUNT
		soa(&out)
	case qtype == 16 && string(name) == "\x05count\x05bench\x00":
		var txt [24]byte
		s := strconv.AppendUint(txt[1:1], count, 10)
		txt[0] = byte(len(s))
		out[7] = 1
		rr(16, txt[:1+len(s)])
	case qtype == 1 || qtype == 28:
		h := fnv.New32a()
		_, _ = h.Write(name)
		v := h.Sum32()
		out[7] = 1 // ANCOUNT
		if qtype == 1 {
			rr(1, []byte{10, byte(v >> 16), byte(v >> 8), byte(v)})
		} else {
			var a [16]byte
			a[0], a[1] = 0xfd, 0x00
			binary.BigEndian.PutUint32(a[12:], v)
			rr(28, a[:])
		}
	default: // NODATA
		out[9] = 1
		soa(&out)
	}
	return out, true
}

// soa appends the zone's SOA record to the authority section.
func soa(out *[]byte) {
	b := *out
	b = append(b, 5, 'b', 'e', 'n', 'c', 'h', 0)
	b = binary.BigEndian.AppendUint16(b, 6)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, ttl)
	b = binary.BigEndian.AppendUint16(b, uint16(len(soaRdata)))
	*out = append(b, soaRdata...)
}
