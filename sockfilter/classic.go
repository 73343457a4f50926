package sockfilter

import (
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Classic BPF forms of the filters. They need no privilege to attach
// (SO_ATTACH_FILTER) but have no maps: no transaction-ID check (the
// expected ID differs per socket and classic BPF cannot read it from
// anywhere but its own constants) and no counters.

// ClassicUpstream is the upstream filter in classic BPF: length and QR.
func ClassicUpstream() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtLen},
		bpf.JumpIf{Cond: bpf.JumpLessThan, Val: headerLen, SkipTrue: 3},
		bpf.LoadAbsolute{Off: offFlags, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpBitsNotSet, Val: qrBit, SkipTrue: 1},
		bpf.RetConstant{Val: acceptAll},
		bpf.RetConstant{Val: 0},
	}
}

// ClassicListener is the listener filter in classic BPF.
func ClassicListener() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtLen},
		bpf.JumpIf{Cond: bpf.JumpLessThan, Val: headerLen, SkipTrue: 3},
		bpf.LoadAbsolute{Off: offFlags, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: qrBit, SkipTrue: 1},
		bpf.RetConstant{Val: acceptAll},
		bpf.RetConstant{Val: 0},
	}
}

// Classic is an assembled classic filter, ready to attach many times.
type Classic struct {
	insns []unix.SockFilter
}

// AssembleClassic assembles a classic program.
func AssembleClassic(prog []bpf.Instruction) (*Classic, error) {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble classic filter: %w", err)
	}
	c := &Classic{insns: make([]unix.SockFilter, len(raw))}
	for i, r := range raw {
		c.insns[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return c, nil
}

// MustClassic is AssembleClassic for the package's own programs.
func MustClassic(prog []bpf.Instruction) *Classic {
	c, err := AssembleClassic(prog)
	if err != nil {
		panic(err)
	}
	return c
}

// Attach attaches the filter to the socket fd (SO_ATTACH_FILTER).
func (c *Classic) Attach(fd int) error {
	fp := unix.SockFprog{Len: uint16(len(c.insns)), Filter: &c.insns[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return fmt.Errorf("SO_ATTACH_FILTER: %w", err)
	}
	return nil
}
