package masterd

import "testing"

// TestNo0x20EncodeReachesDNSD: no-0x20-encode goes to dnsd in its
// DNSConfig (no_case_randomization); without it 0x20 stays on.
func TestNo0x20EncodeReachesDNSD(t *testing.T) {
	for _, tt := range []struct {
		args []string
		off  bool
	}{
		{nil, false},
		{[]string{"--do-0x20-encode"}, false},
		{[]string{"--no-0x20-encode"}, true},
		{[]string{"--do-0x20-encode", "--no-0x20-encode"}, true},
	} {
		cfg := upstreamConfig(t, append([]string{"--no-resolv"}, tt.args...)...)
		log, _ := upstreamLogger()
		var d dnsData
		if err := d.load(cfg, listenPlan{}, log); err != nil {
			t.Fatal(err)
		}
		if got := d.config.GetNoCaseRandomization(); got != tt.off {
			t.Errorf("%v: no_case_randomization %v, want %v", tt.args, got, tt.off)
		}
	}
}
