package masterd

import (
	"io"
	"os"
	"testing"

	"github.com/moatdns/moat/sockfilter"
)

func TestLoadSocketFilters(t *testing.T) {
	root := os.Geteuid() == 0
	tests := []struct {
		mode      string
		want      sockfilter.Active
		needsRoot bool
	}{
		{"off", sockfilter.ActiveNone, false},
		{"classic", sockfilter.ActiveClassic, false},
		{"", sockfilter.ActiveEBPF, true},
		{"ebpf", sockfilter.ActiveEBPF, true},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			if tt.needsRoot && !root && os.Getenv("CI") != "true" {
				t.Skip("loading eBPF needs root (or CAP_BPF); CI runs this as root")
			}
			f, err := loadSocketFilters(tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			defer f.close(&logger{w: io.Discard})
			if f.active != tt.want {
				t.Errorf("active %v, want %v (%s)", f.active, tt.want, f.describe())
			}
			if _, ok, err := f.stats(); ok != (tt.want == sockfilter.ActiveEBPF) || err != nil {
				t.Errorf("stats: ok %v, err %v", ok, err)
			}
			if tt.want == sockfilter.ActiveEBPF {
				socks, err := f.dnsdDescriptors()
				if err != nil {
					t.Fatal(err)
				}
				defer closeSockets(socks)
				if len(socks) != 3 {
					t.Errorf("%d descriptors for dnsd, want 3", len(socks))
				}
			}
		})
	}
	if _, err := loadSocketFilters("on"); err == nil {
		t.Error(`mode "on" accepted`)
	}
}
