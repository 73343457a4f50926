package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func openDHCPFixture(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func dhcpErrorTexts(errs []error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestReadDHCPHosts(t *testing.T) {
	name := "testdata/dhcp_files/mixed.hostsfile"
	existing := []DHCPHost{{Name: "cfg", Addr: dhcpIP("192.168.122.13")}}
	hosts, errs, err := ReadDHCPHosts(openDHCPFixture(t, name), name, existing)
	if err != nil {
		t.Fatal(err)
	}
	want := []DHCPHost{
		{HWAddrs: []HWAddr{dhcpMAC("00:16:3e:77:e2:ed")}, Addr: dhcpIP("192.168.122.10"), Name: "a", Domain: "example.com", Lease: LeaseInfinite},
		{ClientID: []byte("client one"), Addr: dhcpIP("192.168.122.11")},
	}
	if !reflect.DeepEqual(hosts, want) {
		t.Errorf("hosts:\ngot  %+v\nwant %+v", hosts, want)
	}
	wantErrs := []string{
		name + `:4: dhcp-host: bad DHCP host name "-bad-host": character '-'`,
		name + ":5: dhcp-host: duplicate dhcp-host IP address 192.168.122.10",
		name + ":7: dhcp-host: duplicate dhcp-host IP address 192.168.122.13",
	}
	if got := dhcpErrorTexts(errs); strings.Join(got, "\n") != strings.Join(wantErrs, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantErrs, "\n"))
	}
}

func TestReadDHCPHostsCorpus(t *testing.T) {
	for _, tc := range []struct {
		file  string
		hosts int
		errs  int // IPv6 lines: not supported yet
	}{
		{"testdata/dhcp_files/libvirt-leasetime.hostsfile", 2, 0},
		{"testdata/dhcp_files/libvirt-dhcp6.hostsfile", 2, 5},
		{"testdata/dhcp_files/proxmox-ethers.hostsfile", 1, 2},
	} {
		hosts, errs, err := ReadDHCPHosts(openDHCPFixture(t, tc.file), tc.file, nil)
		if err != nil || len(hosts) != tc.hosts || len(errs) != tc.errs {
			t.Errorf("%s: %d hosts, errors %q, %v", tc.file, len(hosts), dhcpErrorTexts(errs), err)
		}
		for _, e := range errs {
			if !strings.Contains(e.Error(), "not supported yet (DHCPv6)") {
				t.Errorf("%s: %v", tc.file, e)
			}
		}
	}
	hosts, _, _ := ReadDHCPHosts(openDHCPFixture(t, "testdata/dhcp_files/libvirt-leasetime.hostsfile"), "x", nil)
	if len(hosts) == 2 && (hosts[0].Lease != 1200 || hosts[1].Name != "b" || hosts[1].Addr != dhcpIP("192.168.122.11")) {
		t.Errorf("libvirt hosts: %+v", hosts)
	}
}

func TestReadEthers(t *testing.T) {
	name := "testdata/dhcp_files/ethers"
	hosts, errs, err := ReadEthers(openDHCPFixture(t, name), name)
	if err != nil {
		t.Fatal(err)
	}
	eth := func(s string) []HWAddr { h := dhcpMAC(s); h.Type = 1; return []HWAddr{h} }
	want := []DHCPHost{
		{HWAddrs: eth("00:11:22:33:44:55"), IgnoreClientID: true, Addr: dhcpIP("192.168.1.10")},
		{HWAddrs: eth("00:11:22:33:44:cc"), IgnoreClientID: true, Name: "host2"},
	}
	if !reflect.DeepEqual(hosts, want) {
		t.Errorf("hosts:\ngot  %+v\nwant %+v", hosts, want)
	}
	wantErrs := []string{
		name + `:3: bad line: "00-11-22-33-44-66" is not an Ethernet address`,
		name + ":5: duplicate name or IP address 192.168.1.10",
		name + ":6: bad line: needs a hardware address and an address or name",
		name + `:7: bad line: "zz:11:22:33:44:99" is not an Ethernet address`,
		name + `:8: bad address "1.2.3"`,
		name + `:9: bad name "-bad"`,
	}
	if got := dhcpErrorTexts(errs); strings.Join(got, "\n") != strings.Join(wantErrs, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantErrs, "\n"))
	}
}

func TestReadHostsLimits(t *testing.T) {
	long := strings.Repeat("x", maxLineBytes+1) + "\nab:cd,ok\nx\x00y\n"
	hosts, errs, err := ReadDHCPHosts(strings.NewReader(long), "f", nil)
	if err != nil || len(hosts) != 1 || len(errs) != 2 {
		t.Errorf("%d hosts, %q, %v", len(hosts), dhcpErrorTexts(errs), err)
	}
	defer func(n int) { hostsFileLimit = n }(hostsFileLimit)
	hostsFileLimit = 1 << 16
	_, _, err = ReadDHCPHosts(&endlessHostsFile{}, "big", nil)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("endlessHostsFile file: %v", err)
	}
}

// endlessHostsFile is a file that never ends, of short lines.
type endlessHostsFile struct{}

func (endlessHostsFile) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "ab:cd,x\n"[i%8]
	}
	return len(p), nil
}
