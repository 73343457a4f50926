package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// asm is a tiny classic-BPF assembler with forward labels. Conditional
// jumps in classic BPF reach at most 255 instructions; the binary search
// over system call numbers jumps further than that near its root, so a jump
// whose target is out of reach is rewritten as a short conditional jump to
// an unconditional (32-bit) jump, and the layout is recomputed until it no
// longer changes.
type asm struct {
	items  []asmItem
	labels int
}

type label int

type itemKind int

const (
	kindInsn  itemKind = iota // a plain instruction
	kindCond                  // conditional jump to t / f
	kindGoto                  // unconditional jump to t
	kindLabel                 // marks the address of the next instruction
)

type asmItem struct {
	kind itemKind
	insn bpf.Instruction
	cond bpf.JumpTest
	val  uint32
	t, f label
	// long forms, decided by layout: the true / false edge goes through
	// an extra unconditional jump placed right after the conditional one.
	longT, longF bool
}

func (a *asm) newLabel() label {
	a.labels++
	return label(a.labels)
}

func (a *asm) mark(l label) { a.items = append(a.items, asmItem{kind: kindLabel, t: l}) }

func (a *asm) emit(ins bpf.Instruction) {
	a.items = append(a.items, asmItem{kind: kindInsn, insn: ins})
}

func (a *asm) jump(cond bpf.JumpTest, val uint32, t, f label) {
	a.items = append(a.items, asmItem{kind: kindCond, cond: cond, val: val, t: t, f: f})
}

func (a *asm) jumpTo(l label) { a.items = append(a.items, asmItem{kind: kindGoto, t: l}) }

func (a *asm) ret(act Action) { a.emit(bpf.RetConstant{Val: uint32(act)}) }

func (a *asm) load(off uint32) { a.emit(bpf.LoadAbsolute{Off: off, Size: 4}) }

func (it asmItem) size() int {
	switch it.kind {
	case kindLabel:
		return 0
	case kindCond:
		n := 1
		if it.longT {
			n++
		}
		if it.longF {
			n++
		}
		return n
	default:
		return 1
	}
}

// layout assigns addresses to items and labels.
func (a *asm) layout() (addr []int, labelAddr map[label]int, total int) {
	addr = make([]int, len(a.items))
	labelAddr = make(map[label]int, a.labels)
	pc := 0
	for i, it := range a.items {
		addr[i] = pc
		if it.kind == kindLabel {
			labelAddr[it.t] = pc
		}
		pc += it.size()
	}
	return addr, labelAddr, pc
}

// assemble resolves labels and returns the program.
func (a *asm) assemble() ([]bpf.Instruction, error) {
	var addr []int
	var at map[label]int
	var total int
	// Each pass can only turn short edges into long ones, so this ends
	// after at most one pass per edge.
	for pass := 0; ; pass++ {
		if pass > 2*len(a.items)+1 {
			return nil, fmt.Errorf("seccomp: assembler layout did not converge")
		}
		addr, at, total = a.layout()
		changed := false
		for i := range a.items {
			it := &a.items[i]
			if it.kind != kindCond {
				continue
			}
			next := addr[i] + 1
			for _, e := range []struct {
				l    label
				long *bool
			}{{it.t, &it.longT}, {it.f, &it.longF}} {
				target, ok := at[e.l]
				if !ok {
					return nil, fmt.Errorf("seccomp: assembler: undefined label %d", e.l)
				}
				if target < next {
					return nil, fmt.Errorf("seccomp: assembler: backward jump to label %d", e.l)
				}
				if !*e.long && target-next > 255 {
					*e.long = true
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}

	prog := make([]bpf.Instruction, 0, total)
	for i, it := range a.items {
		switch it.kind {
		case kindLabel:
		case kindInsn:
			prog = append(prog, it.insn)
		case kindGoto:
			target, ok := at[it.t]
			if !ok || target < addr[i]+1 {
				return nil, fmt.Errorf("seccomp: assembler: bad goto label %d", it.t)
			}
			prog = append(prog, bpf.Jump{Skip: uint32(target - (addr[i] + 1))})
		case kindCond:
			next := addr[i] + 1
			tAddr, fAddr := at[it.t], at[it.f]
			var skipT, skipF int
			if it.longT {
				skipT = 0 // the goto right after
			} else {
				skipT = tAddr - next
			}
			if it.longF {
				skipF = 0
				if it.longT {
					skipF = 1
				}
			} else {
				skipF = fAddr - next
			}
			prog = append(prog, bpf.JumpIf{Cond: it.cond, Val: it.val, SkipTrue: uint8(skipT), SkipFalse: uint8(skipF)})
			pc := next
			if it.longT {
				prog = append(prog, bpf.Jump{Skip: uint32(tAddr - (pc + 1))})
				pc++
			}
			if it.longF {
				prog = append(prog, bpf.Jump{Skip: uint32(fAddr - (pc + 1))})
			}
		}
	}
	if len(prog) != total {
		return nil, fmt.Errorf("seccomp: assembler: emitted %d instructions, laid out %d", len(prog), total)
	}
	return prog, nil
}
