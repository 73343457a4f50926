package dhcpd

import (
	"bytes"
	"strings"
	"testing"
)

// TestDecodeRequestDrops: every kind of malformed request is dropped and
// counted under its reason, once; well-formed ones (BOOTP included) pass.
func TestDecodeRequestDrops(t *testing.T) {
	good := request(dhcpDiscover, 1)
	with := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	noEnd := good[:len(good)-1]
	tests := []struct {
		name string
		pkt  []byte
		want string // "" = accepted
	}{
		{"discover", good, ""},
		{"bootp (no message type)", request(0, 1), ""},
		{"message type of length 0 (BOOTP, as dnsmasq)", with(func(b []byte) []byte { return append(b[:len(b)-1], 53, 0, 255) }), ""},
		{"no options at all", good[:240], ""},
		{"empty", nil, "short"},
		{"one byte", []byte{1}, "short"},
		{"header cut short", good[:200], "short"},
		{"no cookie room", good[:239], "short"},
		{"a reply", with(func(b []byte) []byte { b[0] = 2; return b }), "not_request"},
		{"op 0", with(func(b []byte) []byte { b[0] = 0; return b }), "not_request"},
		{"hlen 17", with(func(b []byte) []byte { b[2] = 17; return b }), "bad_hlen"},
		{"hlen 255", with(func(b []byte) []byte { b[2] = 255; return b }), "bad_hlen"},
		{"htype 0 with an address", with(func(b []byte) []byte { b[1] = 0; return b }), "bad_htype"},
		{"bad cookie", with(func(b []byte) []byte { b[239] = 0; return b }), "bad_cookie"},
		{"option past the end", append(append([]byte(nil), good[:len(good)-1]...), 12, 200, 'x'), "option_overrun"},
		{"option length byte missing", append(append([]byte(nil), good[:len(good)-1]...), 12), "option_overrun"},
		{"no end option", noEnd, "no_end"},
		{"message type OFFER", request(2, 1), "bad_message_type"},
		{"message type ACK", request(5, 1), "bad_message_type"},
		{"message type 200", request(200, 1), "bad_message_type"},
		{"message type 0 (not BOOTP)", append(request(0, 1)[:240], 53, 1, 0, 255), "bad_message_type"},
		{"duplicate message types (joined: DISCOVER, REQUEST)", with(func(b []byte) []byte { return append(b[:len(b)-1], 53, 1, 3, 255) }), ""},
		{"htype unknown (99)", with(func(b []byte) []byte { b[1] = 99; return b }), ""},
		{"hlen 16", with(func(b []byte) []byte { b[2] = 16; return b }), ""},
		{"hlen 0, htype 0", with(func(b []byte) []byte { b[1], b[2] = 0, 0; return b }), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &server{}
			_, ok := s.decodeRequest(tt.pkt)
			if ok != (tt.want == "") {
				t.Fatalf("accepted %v, want reason %q", ok, tt.want)
			}
			var total uint64
			for name, n := range s.dropsByReason() {
				total += n
				if name == tt.want && n != 1 {
					t.Errorf("%s counted %d times, want 1", name, n)
				}
			}
			if want := uint64(0); tt.want != "" {
				want = 1
				if total != want {
					t.Errorf("%d drops counted, want %d: %v", total, want, s.dropsByReason())
				}
			} else if total != 0 {
				t.Errorf("accepted, yet drops counted: %v", s.dropsByReason())
			}
			if s.count.malformed.Load() != total {
				t.Errorf("malformed %d, by reason %d", s.count.malformed.Load(), total)
			}
		})
	}
}

// TestDropsLogged: the tick's log line says what was dropped since the
// last one, by reason, and nothing when nothing was.
func TestDropsLogged(t *testing.T) {
	var d dropCounts
	if what, n := d.sinceLogged(); n != 0 || what != "" {
		t.Fatalf("nothing dropped: %q %d", what, n)
	}
	d.note(dropShort)
	d.note(dropShort)
	d.note(dropNoEnd)
	what, n := d.sinceLogged()
	if n != 3 || what != "short=2 no_end=1" {
		t.Errorf("got %q %d, want \"short=2 no_end=1\" 3", what, n)
	}
	d.note(dropPanic)
	if what, n := d.sinceLogged(); n != 1 || what != "panic=1" {
		t.Errorf("second tick: %q %d", what, n)
	}
	if got := d.byReason(); len(got) != int(numDropReasons) || got["short"] != 2 || got["panic"] != 1 {
		t.Errorf("byReason %v", got)
	}
	for r := range numDropReasons {
		if strings.Contains(r.String(), "dropReason(") {
			t.Errorf("reason %d has no name", r)
		}
	}
}

// FuzzDecodeRequest: no datagram makes the checks panic, and each one is
// either accepted or counted under exactly one reason.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(request(dhcpDiscover, 1))
	f.Add(request(0, 1))
	f.Add([]byte{})
	f.Add(append(request(3, 1)[:240], 12, 200, 'x'))
	f.Add(append(request(3, 1)[:240], 52, 1, 3, 255))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &server{}
		orig := bytes.Clone(b)
		_, ok := s.decodeRequest(b)
		var total uint64
		for _, n := range s.dropsByReason() {
			total += n
		}
		if ok && total != 0 || !ok && total != 1 {
			t.Fatalf("accepted %v, %d drops counted", ok, total)
		}
		if !bytes.Equal(b, orig) {
			t.Fatal("the datagram was changed")
		}
	})
}
