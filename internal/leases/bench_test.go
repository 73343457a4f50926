package leases

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

func benchLease(i int) Lease {
	return Lease{Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), HWType: 1,
		HWAddr: []byte{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}, ClientID: []byte{1, 2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)},
		Hostname: "host-name", Expires: 1700000000}
}

func BenchmarkAppendRecord(b *testing.B) {
	buf := make([]byte, 0, 1024)
	l := benchLease(1)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendRecord(buf[:0], PutRecord(l))
	}
}

func BenchmarkReplay50k(b *testing.B) {
	data := []byte(JournalHeader)
	for i := 0; i < 50000; i++ {
		data, _ = AppendRecord(data, PutRecord(benchLease(i)))
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		t := NewTable()
		if _, err := Replay(bytes.NewReader(data), func(r Record) error { t.Apply(r); return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChoose50k: a new client in a /16 range holding 50,000 leases.
func BenchmarkChoose50k(b *testing.B) {
	a := &Allocator{Pools: []*Pool{{Start: netip.MustParseAddr("10.0.0.1"), End: netip.MustParseAddr("10.0.255.254")}},
		Leases: NewTable(), Now: time.Unix(1, 0)}
	for i := 1; i <= 50000; i++ {
		a.Leases.Put(benchLease(i))
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		c := Client{HWType: 1, HWAddr: []byte{0x52, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}}
		if _, err := a.Choose(c, nil, netip.Addr{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
