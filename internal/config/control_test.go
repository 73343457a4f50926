package config

import (
	"strings"
	"testing"
)

// TestControlOptions: control-socket, control-group and metrics are read,
// checked and printed back (print-config round trip).
func TestControlOptions(t *testing.T) {
	for _, tc := range []struct {
		line    string
		want    ControlOptions
		wantErr bool
	}{
		{"control-socket=/run/moat/ctl", ControlOptions{Socket: "/run/moat/ctl"}, false},
		{"control-socket=OFF", ControlOptions{Socket: ControlSocketOff}, false},
		{"control-socket=relative/ctl", ControlOptions{}, true},
		{"control-socket=/" + strings.Repeat("x", 110), ControlOptions{}, true},
		{"control-group=moatctl", ControlOptions{Group: "moatctl"}, false},
		{"control-group=120", ControlOptions{Group: "120"}, false},
		{"control-group=a:b", ControlOptions{}, true},
		{"metrics=127.0.0.1:9153", ControlOptions{Metrics: "127.0.0.1:9153"}, false},
		{"metrics=[::1]:9153", ControlOptions{Metrics: "[::1]:9153"}, false},
		{"metrics=localhost:9153", ControlOptions{Metrics: "localhost:9153"}, false},
		{"metrics=:9153", ControlOptions{Metrics: ":9153"}, false},
		{"metrics=/run/moat/metrics.sock", ControlOptions{Metrics: "/run/moat/metrics.sock"}, false},
		{"metrics=127.0.0.1", ControlOptions{}, true},
		{"metrics=127.0.0.1:0", ControlOptions{}, true},
		{"metrics=127.0.0.1:70000", ControlOptions{}, true},
		{"metrics=[::1:9153", ControlOptions{}, true},
		{"metrics=bad host:80", ControlOptions{}, true},
	} {
		cfg, err := ParseText("test.conf", tc.line+"\n")
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err %v, want error %v", tc.line, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if cfg.Control != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.line, cfg.Control, tc.want)
		}
		again, err := ParseText("printed.conf", cfg.String())
		if err != nil || again.Control != cfg.Control {
			t.Errorf("%s: print-config round trip: %v %+v\n%s", tc.line, err, again, cfg.String())
		}
	}
}

// TestControlSocketPath: control-socket, else run-dir, else the default
// for the master's uid; off is none.
func TestControlSocketPath(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		uid  int
		want string
	}{
		{Config{}, 0, "/run/moatd/moatd.ctl"},
		{Config{RunDir: "/var/run/m"}, 0, "/var/run/m/moatd.ctl"},
		{Config{RunDir: "/var/run/m", Control: ControlOptions{Socket: "/x/ctl"}}, 0, "/x/ctl"},
		{Config{Control: ControlOptions{Socket: ControlSocketOff}}, 0, ""},
	} {
		if got := tc.cfg.ControlSocketPath(tc.uid); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.cfg, got, tc.want)
		}
	}
	if got := DefaultControlSocket(1000); !strings.HasSuffix(got, "/moatd-1000/moatd.ctl") {
		t.Errorf("development default %q", got)
	}
}
