package panicreport

import (
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name    string
		pkt     []byte
		wantHex string
		maxLen  int
	}{
		{"short packet", []byte{0xde, 0xad}, "packet (2 bytes): dead\n", 0},
		{"empty packet", nil, "packet (0 bytes): \n", 0},
		{"huge packet is cut", make([]byte, 70000), "packet (70000 bytes): " + strings.Repeat("00", MaxHex) + "\n", 2*MaxHex + MaxStack + 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Format("handling a test packet", "boom", tt.pkt)
			if !strings.HasPrefix(got, "recovered from a panic handling a test packet: boom; ") {
				t.Errorf("prefix: %q", got[:min(len(got), 80)])
			}
			if !strings.Contains(got, tt.wantHex) {
				t.Errorf("packet part missing %q", tt.wantHex[:min(len(tt.wantHex), 40)])
			}
			if !strings.Contains(got, "goroutine ") {
				t.Error("no stack")
			}
			if tt.maxLen > 0 && len(got) > tt.maxLen {
				t.Errorf("report is %d bytes, want at most %d", len(got), tt.maxLen)
			}
		})
	}
}
