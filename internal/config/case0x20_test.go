package config

import (
	"strings"
	"testing"
)

func TestCase0x20Options(t *testing.T) {
	tests := []struct {
		text    string
		off     bool
		printed []string
		wantErr bool
	}{
		{"", false, nil, false},
		{"no-0x20-encode\n", true, []string{"no-0x20-encode\n"}, false},
		{"do-0x20-encode\n", false, []string{"do-0x20-encode\n"}, false},
		{"do-0x20-encode\nno-0x20-encode\n", true, []string{"no-0x20-encode\n"}, false},
		{"no-0x20-encode\ndo-0x20-encode\n", true, []string{"no-0x20-encode\n"}, false},
		{"no-0x20-encode=yes\n", false, nil, true},
	}
	for _, tt := range tests {
		cfg, err := ParseText("test.conf", tt.text)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err %v, want error %v", tt.text, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if cfg.No0x20Encode != tt.off {
			t.Errorf("%q: No0x20Encode %v, want %v", tt.text, cfg.No0x20Encode, tt.off)
		}
		printed := cfg.String()
		for _, name := range []string{"no-0x20-encode\n", "do-0x20-encode\n"} {
			want := false
			for _, p := range tt.printed {
				want = want || p == name
			}
			if strings.Contains(printed, name) != want {
				t.Errorf("%q: printed form has %q: %v, want %v:\n%s", tt.text, name, !want, want, printed)
			}
		}
		again, err := ParseText("printed.conf", printed)
		if err != nil || again.No0x20Encode != cfg.No0x20Encode {
			t.Errorf("%q: the printed form does not read back the same: %v", tt.text, err)
		}
	}
	for _, o := range Options() {
		if (o.Name == "no-0x20-encode" || o.Name == "do-0x20-encode") && (!o.Implemented || !o.Moat) {
			t.Errorf("%s: implemented %v, moat's own %v", o.Name, o.Implemented, o.Moat)
		}
	}
}
