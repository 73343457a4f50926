package config

import "testing"

// TestInstanceLeaseFile: with leasefile-ro and no dhcp-leasefile (how
// libvirt starts one dnsmasq per network, each with its own pid-file)
// the lease file moat keeps its journal beside follows the pid file, so
// that instances do not share one journal; in every other case the
// lease file is the one given, or the default.
func TestInstanceLeaseFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"libvirt", []string{"--leasefile-ro", "--pid-file=/run/libvirt/network/default.pid"}, "/run/libvirt/network/default.leases"},
		{"pid file without .pid", []string{"-9", "-x", "/run/net1"}, "/run/net1.leases"},
		{"explicit lease file wins", []string{"--leasefile-ro", "--pid-file=/run/a.pid", "--dhcp-leasefile=/var/lib/a.leases"}, "/var/lib/a.leases"},
		{"explicit default wins", []string{"--dhcp-leasefile", "--leasefile-ro", "--pid-file=/run/a.pid"}, DefaultLeaseFile},
		{"writable lease file", []string{"--pid-file=/run/a.pid"}, DefaultLeaseFile},
		{"default pid file", []string{"--leasefile-ro"}, DefaultLeaseFile},
		{"no pid file", []string{"--leasefile-ro", "--pid-file="}, DefaultLeaseFile},
	} {
		cfg, err := Parse(tc.args, "")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if cfg.DHCP.LeaseFile != tc.want {
			t.Errorf("%s: lease file %q, want %q", tc.name, cfg.DHCP.LeaseFile, tc.want)
		}
	}
}
