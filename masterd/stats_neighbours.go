package masterd

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"

	"google.golang.org/protobuf/proto"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Netlink neighbour message layout (linux/neighbour.h).
const (
	ndmsgLen     = 12 // family, pad, pad, ifindex, state, flags, type
	ndaDst       = 1
	ndaLLAddr    = 2
	nudIncomplte = 0x01
	nudFailed    = 0x20
)

// readNeighbours dumps the kernel's neighbour tables (ARP and NDP) over
// rtnetlink: the addresses add-mac can name. dnsmasq reads the same table
// with netlink; dnsd cannot, so the master does it for it.
func readNeighbours() ([]*ipcpb.Neighbour, error) {
	b, err := syscall.NetlinkRIB(syscall.RTM_GETNEIGH, syscall.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("netlink neighbour dump: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil, fmt.Errorf("netlink neighbour dump: %w", err)
	}
	var out []*ipcpb.Neighbour
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWNEIGH {
			continue
		}
		if nb, ok := parseNeighbour(m.Data); ok {
			out = append(out, nb)
		}
	}
	return out, nil
}

// parseNeighbour reads one ndmsg and its attributes: a usable entry has a
// destination address and a link-layer address and is neither incomplete
// nor failed.
func parseNeighbour(data []byte) (*ipcpb.Neighbour, bool) {
	if len(data) < ndmsgLen {
		return nil, false
	}
	state := binary.NativeEndian.Uint16(data[8:10])
	if state&(nudIncomplte|nudFailed) != 0 {
		return nil, false
	}
	var dst netip.Addr
	var mac []byte
	for rest := data[ndmsgLen:]; len(rest) >= 4; {
		l := int(binary.NativeEndian.Uint16(rest[0:2]))
		typ := binary.NativeEndian.Uint16(rest[2:4])
		if l < 4 || l > len(rest) {
			break
		}
		val := rest[4:l]
		switch typ {
		case ndaDst:
			if a, ok := netip.AddrFromSlice(val); ok {
				dst = a.Unmap()
			}
		case ndaLLAddr:
			mac = append([]byte(nil), val...)
		}
		step := (l + 3) &^ 3
		if step > len(rest) {
			break
		}
		rest = rest[step:]
	}
	if !dst.IsValid() || len(mac) == 0 || len(mac) > 20 || allZero(mac) {
		return nil, false
	}
	return &ipcpb.Neighbour{Address: dst.AsSlice(), Mac: mac}, true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// fitNetState trims a NetState to the IPC limits: at most the allowed
// counts, and under the message size cap (large link addresses could
// exceed it before the count does). It reports how many neighbours it
// dropped.
func fitNetState(ns *ipcpb.NetState) int {
	dropped := 0
	if len(ns.LocalNetworks) > ipc.MaxLocalNetworks {
		ns.LocalNetworks = ns.LocalNetworks[:ipc.MaxLocalNetworks]
	}
	if len(ns.Neighbours) > ipc.MaxNeighbours {
		dropped += len(ns.Neighbours) - ipc.MaxNeighbours
		ns.Neighbours = ns.Neighbours[:ipc.MaxNeighbours]
	}
	const budget = ipc.MaxMessageSize - 1024
	for len(ns.Neighbours) > 0 && proto.Size(&ipcpb.Envelope{Msg: &ipcpb.Envelope_NetState{NetState: ns}}) > budget {
		cut := max(len(ns.Neighbours)/10, 1)
		dropped += cut
		ns.Neighbours = ns.Neighbours[:len(ns.Neighbours)-cut]
	}
	return dropped
}
