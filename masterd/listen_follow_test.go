package masterd

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// TestAllowLists: with a follower the lists are its current ones; when
// interface= names only what does not exist (or is excluded) dnsd is
// told to answer no one, not everyone; without a name (except-interface
// alone) empty lists keep meaning every interface.
func TestAllowLists(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		name       string
		cfg        config.Config
		wantIfs    []uint32 // nil: not checked
		wantFollow bool
	}{
		{"named, missing, loopback excluded", config.Config{Port: 53, Interfaces: []string{"no-such-if0"}, ExceptInterfaces: []string{"lo"}}, []uint32{noInterface}, true},
		{"except-interface alone", config.Config{Port: 53, ExceptInterfaces: []string{"no-such-if0"}}, []uint32{}, true},
		{"listen-address only: not followed", config.Config{Port: 53, ListenAddresses: []netip.Addr{lo}}, nil, false},
		{"bind-interfaces: not followed", config.Config{Port: 53, Interfaces: []string{"lo"}, BindInterfaces: true}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planListeners(&tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if (p.follow != nil) != tc.wantFollow {
				t.Fatalf("followed: %v, want %v", p.follow != nil, tc.wantFollow)
			}
			allowed, ifs, excluded := p.allowLists()
			if tc.wantIfs != nil && !slices.Equal(ifs, tc.wantIfs) && !(len(ifs) == 0 && len(tc.wantIfs) == 0) {
				t.Errorf("allowed interfaces %v, want %v", ifs, tc.wantIfs)
			}
			dc := &ipcpb.DNSConfig{Generation: 1}
			setAllowLists(dc, allowed, ifs, excluded)
			if err := ipc.Validate(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: dc}}); err != nil {
				t.Errorf("the lists do not pass the IPC checks: %v", err)
			}
		})
	}
}

// TestAllowFollowerUpdate: a new plan replaces the lists; the change and
// the interface= names that appeared, or went, are reported once.
func TestAllowFollowerUpdate(t *testing.T) {
	start := listenPlan{wildcard: true, allowedIfs: []uint32{1}, allowed: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, missing: []string{"br0"}}
	f := newAllowFollower(start, true)
	p := listenPlan{follow: f}
	if changed, appeared, gone := f.update(start); changed || len(appeared) != 0 || len(gone) != 0 {
		t.Fatalf("same plan: changed %v, appeared %v, gone %v", changed, appeared, gone)
	}
	later := start
	later.allowedIfs = []uint32{1, 7}
	later.allowed = append(slices.Clone(start.allowed), netip.MustParseAddr("10.78.0.1"))
	later.missing = nil
	changed, appeared, gone := f.update(later)
	if !changed || !slices.Equal(appeared, []string{"br0"}) || len(gone) != 0 {
		t.Fatalf("br0 appeared: changed %v, appeared %v, gone %v", changed, appeared, gone)
	}
	if _, ifs, _ := p.allowLists(); !slices.Equal(ifs, []uint32{1, 7}) {
		t.Errorf("allowed interfaces %v after the update", ifs)
	}
	if changed, appeared, gone := f.update(later); changed || len(appeared) != 0 || len(gone) != 0 {
		t.Errorf("again: changed %v, appeared %v, gone %v", changed, appeared, gone)
	}
	// br0 deleted: back to the start's lists.
	changed, appeared, gone = f.update(start)
	if !changed || len(appeared) != 0 || !slices.Equal(gone, []string{"br0"}) {
		t.Fatalf("br0 deleted: changed %v, appeared %v, gone %v", changed, appeared, gone)
	}
	if _, ifs, _ := p.allowLists(); !slices.Equal(ifs, []uint32{1}) {
		t.Errorf("allowed interfaces %v after br0 went", ifs)
	}
}
