package dhcpd

import (
	"net/netip"
	"testing"
	"time"
)

// request builds a minimal BOOTREQUEST with option 53 = typ (0: none).
func request(typ byte, tag byte) []byte {
	b := make([]byte, 240, 300)
	b[0], b[1], b[2] = 1, 1, 6
	b[28] = tag // chaddr's first byte tells datagrams apart
	copy(b[236:], []byte{99, 130, 83, 99})
	if typ != 0 {
		b = append(b, 0, 53, 1, typ) // after a pad
	}
	return append(b, 255)
}

func TestMessageType(t *testing.T) {
	tests := []struct {
		name string
		pkt  []byte
		want uint8
	}{
		{"discover", request(1, 0), 1},
		{"request", request(3, 0), 3},
		{"bootp", request(0, 0), 0},
		{"after another option", append(append(request(0, 0)[:240], 12, 2, 'h', 'i', 53, 1, 8), 255), 8},
		{"truncated option 53", append(request(0, 0)[:240], 53, 1), 0},
		{"empty option 53", append(request(0, 0)[:240], 53, 0, 255), 0},
		{"length past the end", append(request(0, 0)[:240], 12, 200, 1), 0},
		{"short", make([]byte, 10), 0},
	}
	for _, tc := range tests {
		if got := messageType(tc.pkt); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// batchOf makes a receive batch holding pkts, received at at.
func batchOf(l *link, at time.Time, pkts ...[]byte) *rxBatch {
	b := newRxBatch(l)
	b.at, b.n = at, len(pkts)
	for i, p := range pkts {
		b.lens[i] = copy(b.data[i], p)
		b.src[i] = netip.MustParseAddrPort("192.0.2.2:67")
	}
	return b
}

// served drains the intake and returns the chaddr tags in serving order.
func served(in *intake, now time.Time, discoversOK bool) (tags []byte, stale int) {
	for {
		it := in.next(now, discoversOK, &stale)
		if it == nil {
			return tags, stale
		}
		tags = append(tags, it.data[28])
	}
}

func TestIntakeOrder(t *testing.T) {
	l := &link{}
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name        string
		pkts        [][]byte
		discoversOK bool
		want        string
	}{
		{"requests before discovers", [][]byte{request(1, 'a'), request(3, 'b'), request(1, 'c'), request(3, 'd')}, true, "bdac"},
		{"a discover every 4 others", [][]byte{request(1, 'a'), request(3, 'b'), request(3, 'c'), request(3, 'd'), request(3, 'e'), request(3, 'f'), request(3, 'g')}, true, "bcdeafg"},
		{"bootp and others count as requests", [][]byte{request(1, 'a'), request(0, 'b'), request(7, 'c')}, true, "bca"},
		{"no discovers while commits pile up", [][]byte{request(1, 'a'), request(3, 'b')}, false, "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := newIntake()
			if dropped := in.add(batchOf(l, now, tc.pkts...)); dropped != 0 {
				t.Fatalf("dropped %d", dropped)
			}
			got, stale := served(in, now, tc.discoversOK)
			if string(got) != tc.want || stale != 0 {
				t.Errorf("served %q (%d stale), want %q", got, stale, tc.want)
			}
		})
	}
}

// TestIntakeStale: a DISCOVER that waited past discoverMaxWait, or
// another message past requestMaxWait, is dropped unserved.
func TestIntakeStale(t *testing.T) {
	l := &link{}
	t0 := time.Unix(1_700_000_000, 0)
	in := newIntake()
	in.add(batchOf(l, t0, request(1, 'a'), request(3, 'b')))
	in.add(batchOf(l, t0.Add(discoverMaxWait), request(1, 'c'), request(3, 'd')))
	got, stale := served(in, t0.Add(discoverMaxWait+time.Millisecond), true)
	if string(got) != "bdc" || stale != 1 {
		t.Errorf("served %q with %d stale, want \"bdc\" and 1 (the old DISCOVER)", got, stale)
	}
	in.add(batchOf(l, t0, request(3, 'e')))
	got, stale = served(in, t0.Add(requestMaxWait+time.Millisecond), true)
	if len(got) != 0 || stale != 1 {
		t.Errorf("served %q with %d stale, want nothing and 1", got, stale)
	}
}

// TestIntakeFull: a full queue drops its oldest datagram.
func TestIntakeFull(t *testing.T) {
	l := &link{}
	now := time.Unix(1_700_000_000, 0)
	in := newIntake()
	dropped := 0
	for i := 0; i < discoverQueueLen+3; i++ {
		dropped += in.add(batchOf(l, now, request(1, byte(i))))
	}
	if dropped != 3 || in.discovers.len() != discoverQueueLen {
		t.Fatalf("dropped %d, queued %d", dropped, in.discovers.len())
	}
	if it := in.next(now, true, new(int)); it == nil || it.data[28] != 3 {
		t.Errorf("oldest left is %v, want the fourth datagram", it)
	}
}
