//go:build tools

// This file pins, in go.mod, the libraries the DHCP server
// (github.com/insomniacslk/dhcp) and the eBPF socket filter
// (github.com/cilium/ebpf) are built on, so that every build of this
// foundation already resolves the versions those parts will use.
package tools

import (
	_ "github.com/cilium/ebpf/asm"
	_ "github.com/insomniacslk/dhcp/dhcpv4"
)
