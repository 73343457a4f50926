package masterd

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/config"
)

// What bind-dynamic serves: the interfaces and their addresses as the
// kernel reports them, and the choice of addresses dnsmasq's rules make.

// ifaceState is one interface as bind-dynamic sees it.
type ifaceState struct {
	name     string
	index    int
	loopback bool
	// addrs are the interface's usable addresses: IPv6 addresses still in
	// duplicate address detection (or failed it) cannot be bound yet and
	// are left out, as dnsmasq leaves them. Link-local IPv6 addresses
	// carry the interface name as their zone.
	addrs []netip.Addr
}

// dynTarget is one address bind-dynamic listens on. scope is the
// interface index of a link-local address (the socket is bound to that
// index, so an interface removed and made again under the same name
// between two scans is a new target); 0 otherwise.
type dynTarget struct {
	ap    netip.AddrPort
	scope int
}

// dynamicTargets applies dnsmasq's rules to the interfaces now: with
// neither listen-address nor interface every interface is served; with
// interface= the matching interfaces and the loopback interface; an
// address named by listen-address wherever it is; except-interface
// always wins (also over listen-address, as in dnsmasq's iface_check).
// A listen-address found on no interface is still tried (127.0.1.1 can
// be bound while lo holds 127.0.0.1/8; an address not local fails and is
// tried again at the next change). The result is sorted.
func dynamicTargets(cfg *config.Config, ifaces []ifaceState) []dynTarget {
	everything := len(cfg.ListenAddresses) == 0 && len(cfg.Interfaces) == 0
	listed := func(a netip.Addr) bool {
		return slices.Contains(cfg.ListenAddresses, a.WithZone("").Unmap())
	}
	used := map[netip.Addr]bool{}
	seen := map[dynTarget]bool{}
	var out []dynTarget
	add := func(a netip.Addr, scope int) {
		t := dynTarget{ap: netip.AddrPortFrom(a, uint16(cfg.Port)), scope: scope}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, ifc := range ifaces {
		excluded := slices.ContainsFunc(cfg.ExceptInterfaces, func(p string) bool { return ifaceMatch(p, ifc.name) })
		chosen := everything || ifc.loopback && len(cfg.Interfaces) > 0
		for _, p := range cfg.Interfaces {
			chosen = chosen || p != "" && ifaceMatch(p, ifc.name)
		}
		for _, a := range ifc.addrs {
			if listed(a) {
				used[a.WithZone("").Unmap()] = true
			}
			if excluded || !chosen && !listed(a) {
				continue
			}
			scope := 0
			if a.Zone() != "" {
				scope = ifc.index
			}
			add(a, scope)
		}
	}
	for _, a := range cfg.ListenAddresses {
		if !used[a] {
			add(a, 0)
		}
	}
	slices.SortFunc(out, compareTargets)
	return out
}

// missingInterfaces lists the interface= names (not wildcards) that match
// no interface now: dnsmasq warns of them in bind-dynamic mode, where they
// are no error (they may appear later).
func missingInterfaces(cfg *config.Config, ifaces []ifaceState) []string {
	var out []string
	for _, p := range cfg.Interfaces {
		if p == "" || strings.HasSuffix(p, "*") {
			continue
		}
		if !slices.ContainsFunc(ifaces, func(st ifaceState) bool { return st.name == p }) {
			out = append(out, p)
		}
	}
	return out
}

func compareTargets(a, b dynTarget) int {
	if c := a.ap.Compare(b.ap); c != 0 {
		return c
	}
	return a.scope - b.scope
}

// diffTargets returns what to open (in want, not in have) and what to
// close (in have, not in want), both sorted.
func diffTargets(have map[dynTarget]bool, want []dynTarget) (open, closing []dynTarget) {
	wanted := make(map[dynTarget]bool, len(want))
	for _, t := range want {
		wanted[t] = true
		if !have[t] {
			open = append(open, t)
		}
	}
	for t := range have {
		if !wanted[t] {
			closing = append(closing, t)
		}
	}
	slices.SortFunc(open, compareTargets)
	slices.SortFunc(closing, compareTargets)
	return open, closing
}

// scanInterfaces reads the interfaces (names, loopback flag) and, with an
// rtnetlink dump, their addresses with the flags net.Interface.Addrs
// leaves out.
func scanInterfaces() ([]ifaceState, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	dump, err := syscall.NetlinkRIB(unix.RTM_GETADDR, unix.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("dump addresses: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(dump)
	if err != nil {
		return nil, fmt.Errorf("parse address dump: %w", err)
	}
	byIndex := map[int][]netip.Addr{}
	for _, m := range msgs {
		a, ok := parseAddrMessage(m)
		if ok && a.usable {
			byIndex[a.index] = append(byIndex[a.index], a.addr)
		}
	}
	out := make([]ifaceState, 0, len(ifs))
	for _, ifc := range ifs {
		st := ifaceState{name: ifc.Name, index: ifc.Index, loopback: ifc.Flags&net.FlagLoopback != 0}
		for _, a := range byIndex[ifc.Index] {
			if a.Is6() && a.IsLinkLocalUnicast() {
				a = a.WithZone(ifc.Name)
			}
			st.addrs = append(st.addrs, a)
		}
		out = append(out, st)
	}
	return out, nil
}

// ifAddr is one RTM_NEWADDR message.
type ifAddr struct {
	index  int
	addr   netip.Addr
	usable bool // not tentative (IPv6 DAD running) and not DAD-failed
}

// parseAddrMessage reads an RTM_NEWADDR message: struct ifaddrmsg
// (family, prefix length, flags, scope, index in host order), then
// attributes. IFA_LOCAL is the local address where there is one (on a
// point-to-point link IFA_ADDRESS is the peer's); IFA_FLAGS, when
// present, holds the flags in full.
func parseAddrMessage(m syscall.NetlinkMessage) (ifAddr, bool) {
	if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
		return ifAddr{}, false
	}
	family := m.Data[0]
	flags := uint32(m.Data[2])
	out := ifAddr{index: int(binary.NativeEndian.Uint32(m.Data[4:8]))}
	var local, address []byte
	ok := routeAttrs(m.Data[unix.SizeofIfAddrmsg:], func(typ uint16, val []byte) {
		switch typ {
		case unix.IFA_LOCAL:
			local = val
		case unix.IFA_ADDRESS:
			address = val
		case unix.IFA_FLAGS:
			if len(val) == 4 {
				flags = binary.NativeEndian.Uint32(val)
			}
		}
	})
	if !ok {
		return ifAddr{}, false
	}
	raw := address
	if local != nil {
		raw = local
	}
	addr, isAddr := netip.AddrFromSlice(raw)
	switch {
	case !isAddr:
		return ifAddr{}, false
	case family == unix.AF_INET && !addr.Is4(), family == unix.AF_INET6 && !addr.Is6():
		return ifAddr{}, false
	case family != unix.AF_INET && family != unix.AF_INET6:
		return ifAddr{}, false
	}
	out.addr = addr
	out.usable = flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0
	return out, true
}

// routeAttrs calls f for each rtattr in b (length and type in host order,
// values padded to 4 bytes). It reports false for an attribute that runs
// past the end, where syscall.ParseNetlinkRouteAttr would panic.
func routeAttrs(b []byte, f func(typ uint16, val []byte)) bool {
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		if n < 4 || n > len(b) {
			return false
		}
		f(binary.NativeEndian.Uint16(b[2:4]), b[4:n])
		b = b[min((n+3)&^3, len(b)):]
	}
	return true
}
