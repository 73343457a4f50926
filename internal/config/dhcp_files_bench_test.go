package config

import (
	"fmt"
	"strings"
	"testing"
)

// bigHostsFile is a dhcp-hostsfile of n lines "MAC,address,name", as
// libvirt or a provisioning tool writes them.
func bigHostsFile(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "02:00:00:%02x:%02x:%02x,10.%d.%d.%d,h%d\n", byte(i>>16), byte(i>>8), byte(i), byte(i>>16), byte(i>>8), byte(i), i)
	}
	return b.String()
}

// BenchmarkReadDHCPHosts reads a dhcp-hostsfile of 100,000 hosts from a
// reader, as the master does from the file.
func BenchmarkReadDHCPHosts(b *testing.B) {
	const n = 100_000
	text := bigHostsFile(n)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		hosts, errs, err := ReadDHCPHosts(strings.NewReader(text), "h", nil)
		if err != nil || len(errs) != 0 || len(hosts) != n {
			b.Fatalf("%d hosts, %d errors, %v", len(hosts), len(errs), err)
		}
	}
}

// BenchmarkDHCPFileHosts reads the same file from its text, as dhcpd
// does with what the master streamed.
func BenchmarkDHCPFileHosts(b *testing.B) {
	const n = 100_000
	files := []DHCPFileText{{Name: "h", Text: bigHostsFile(n)}}
	b.SetBytes(int64(len(files[0].Text)))
	b.ReportAllocs()
	for b.Loop() {
		hosts, errs := DHCPFileHosts(nil, files, nil)
		if len(errs) != 0 || len(hosts) != n {
			b.Fatalf("%d hosts, %d errors", len(hosts), len(errs))
		}
	}
}
