package config

import (
	"strings"
	"testing"
)

func TestSocketFilterOption(t *testing.T) {
	tests := []struct {
		line    string
		want    string
		wantErr bool
	}{
		{"socket-filter=auto", "", false},
		{"socket-filter=eBPF", "ebpf", false},
		{"socket-filter=classic", "classic", false},
		{"socket-filter=off", "off", false},
		{"socket-filter=on", "", true},
		{"socket-filter=", "", true},
	}
	for _, tt := range tests {
		cfg, err := ParseText("test.conf", tt.line+"\n")
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v, want error %v", tt.line, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if cfg.SocketFilter != tt.want {
			t.Errorf("%s: SocketFilter %q, want %q", tt.line, cfg.SocketFilter, tt.want)
		}
		printed := cfg.String()
		if has := strings.Contains(printed, "socket-filter="+tt.want+"\n"); has != (tt.want != "") {
			t.Errorf("%s: printed form:\n%s", tt.line, printed)
		}
	}
}
