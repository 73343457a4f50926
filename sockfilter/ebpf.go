package sockfilter

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// ExpectEntries bounds the expect map: one entry per local port and
// family that ever carried a query.
const ExpectEntries = 2 * 65536

// ExpectSetEntries bounds the expect-set map: the queries outstanding at
// once on shared (fixed-port) sockets.
const ExpectSetEntries = 65536

// ManyIDs, as an expect-map value, marks a port whose socket carries many
// queries at once (a fixed query port): its replies must have an ID in
// the expect-set map instead (SetKey).
const ManyIDs = 1 << 16

// __sk_buff field offsets a socket filter may read.
const (
	skbLen      = 0  // __sk_buff.len
	skbProtocol = 16 // __sk_buff.protocol (big-endian, in the low 16 bits)
)

// Objects are the loaded eBPF programs and maps. The master holds them;
// dnsd gets the descriptors of Upstream and Expect.
type Objects struct {
	Upstream *ebpf.Program
	Listener *ebpf.Program
	// Expect maps ExpectKey(port, ipv6) to the transaction ID (in the
	// low 16 bits) dnsd expects on that port, or to ManyIDs.
	Expect *ebpf.Map
	// ExpectSet holds SetKey(key, id) for each query outstanding on a
	// ManyIDs port.
	ExpectSet *ebpf.Map
	// Counters is a per-CPU array of uint64 indexed by Reason.
	Counters *ebpf.Map
}

// Load creates the maps and loads both programs. It needs CAP_BPF (or
// root) on kernels with unprivileged eBPF disabled, as all current
// distributions ship them.
func Load() (*Objects, error) {
	o := &Objects{}
	var err error
	o.Counters, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "moat_drops", Type: ebpf.PerCPUArray,
		KeySize: 4, ValueSize: 8, MaxEntries: uint32(numReasons),
	})
	if err != nil {
		return nil, fmt.Errorf("create counters map: %w", err)
	}
	o.Expect, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "moat_expect", Type: ebpf.Hash,
		KeySize: 4, ValueSize: 4, MaxEntries: ExpectEntries,
	})
	if err != nil {
		o.Close()
		return nil, fmt.Errorf("create expect map: %w", err)
	}
	o.ExpectSet, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "moat_expect_set", Type: ebpf.Hash,
		KeySize: 8, ValueSize: 4, MaxEntries: ExpectSetEntries,
	})
	if err != nil {
		o.Close()
		return nil, fmt.Errorf("create expect-set map: %w", err)
	}
	o.Upstream, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "moat_upstream", Type: ebpf.SocketFilter, License: "GPL",
		Instructions: upstreamInsns(o.Expect.FD(), o.ExpectSet.FD(), o.Counters.FD()),
	})
	if err != nil {
		o.Close()
		return nil, fmt.Errorf("load upstream filter: %w", err)
	}
	o.Listener, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "moat_listener", Type: ebpf.SocketFilter, License: "GPL",
		Instructions: listenerInsns(o.Counters.FD()),
	})
	if err != nil {
		o.Close()
		return nil, fmt.Errorf("load listener filter: %w", err)
	}
	return o, nil
}

// Close releases every object (filters already attached stay).
func (o *Objects) Close() error {
	var errs []error
	for _, c := range []interface{ Close() error }{o.Upstream, o.Listener, o.Expect, o.ExpectSet, o.Counters} {
		switch v := c.(type) {
		case *ebpf.Program:
			if v != nil {
				errs = append(errs, v.Close())
			}
		case *ebpf.Map:
			if v != nil {
				errs = append(errs, v.Close())
			}
		}
	}
	return errors.Join(errs...)
}

// Stats reads the counters, summed over CPUs.
func (o *Objects) Stats() (Stats, error) {
	var st Stats
	for r := range numReasons {
		var perCPU []uint64
		if err := o.Counters.Lookup(uint32(r), &perCPU); err != nil {
			return st, fmt.Errorf("read counter %s: %w", r, err)
		}
		for _, v := range perCPU {
			st[r] += v
		}
	}
	return st, nil
}

// ExpectID records id as the transaction ID expected on the local port
// (through the map object; dnsd uses ExpectFD with the bare descriptor).
func (o *Objects) ExpectID(port uint16, ipv6 bool, id uint16) error {
	return o.Expect.Update(ExpectKey(port, ipv6), uint32(id), ebpf.UpdateAny)
}

// protoIPv6 is ETH_P_IPV6 as __sk_buff.protocol reads on this host
// (network byte order in a native-endian load).
var protoIPv6 = int32(binary.NativeEndian.Uint16([]byte{0x86, 0xdd}))

// countAndReturn ends a program: it adds one to the counter of the
// reason in R9 and returns R8 (0 drops, all ones keeps the packet).
func countAndReturn(counters int) asm.Instructions {
	return asm.Instructions{
		asm.StoreMem(asm.RFP, -8, asm.R9, asm.Word).WithSymbol("count"),
		asm.LoadMapPtr(asm.R1, counters),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "ret"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R0, asm.R8).WithSymbol("ret"),
		asm.Return(),
	}
}

// verdict sets R8/R9 for countAndReturn and jumps there.
func verdict(label string, keep bool, r Reason) asm.Instructions {
	v := int32(0)
	if keep {
		v = -1
	}
	return asm.Instructions{
		asm.Mov.Imm(asm.R8, v).WithSymbol(label),
		asm.Mov.Imm(asm.R9, int32(r)),
		asm.Ja.Label("count"),
	}
}

// upstreamInsns is the upstream filter. LD_ABS loads (which read the
// packet in network order and return the host-order value, and end the
// program with 0 when out of bounds) need the context in R6.
func upstreamInsns(expect, set, counters int) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, skbLen, asm.Word),
		asm.JLT.Imm(asm.R2, headerLen, "short"),
		asm.LoadAbs(offFlags, asm.Byte),
		asm.JSet.Imm(asm.R0, qrBit, "reply"),
		asm.Ja.Label("not_reply"),
		// The key: local port, bit 16 for IPv6.
		asm.LoadAbs(offDstPort, asm.Half).WithSymbol("reply"),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.LoadMem(asm.R2, asm.R6, skbProtocol, asm.Word),
		asm.JNE.Imm(asm.R2, protoIPv6, "key"),
		asm.Or.Imm(asm.R7, 1<<16),
		asm.StoreMem(asm.RFP, -4, asm.R7, asm.Word).WithSymbol("key"),
		asm.LoadAbs(offID, asm.Half),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.LoadMapPtr(asm.R1, expect),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"), // no ID recorded for this port
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.JSet.Imm(asm.R1, ManyIDs, "many"),
		asm.JNE.Reg(asm.R1, asm.R7, "wrong_id"),
		asm.Ja.Label("pass"),
		// A port with many queries: is (key, ID) outstanding?
		asm.LoadMem(asm.R1, asm.RFP, -4, asm.Word).WithSymbol("many"),
		asm.LSh.Imm(asm.R1, 16),
		asm.Or.Reg(asm.R1, asm.R7),
		asm.StoreMem(asm.RFP, -16, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, set),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "wrong_id"),
		asm.Ja.Label("pass"),
	}
	insns = append(insns, verdict("short", false, UpstreamShort)...)
	insns = append(insns, verdict("not_reply", false, UpstreamNotReply)...)
	insns = append(insns, verdict("wrong_id", false, UpstreamWrongID)...)
	insns = append(insns, verdict("pass", true, UpstreamPassed)...)
	return append(insns, countAndReturn(counters)...)
}

// listenerInsns is the listener filter.
func listenerInsns(counters int) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, skbLen, asm.Word),
		asm.JLT.Imm(asm.R2, headerLen, "short"),
		asm.LoadAbs(offFlags, asm.Byte),
		asm.JSet.Imm(asm.R0, qrBit, "reply"),
		asm.Ja.Label("pass"),
	}
	insns = append(insns, verdict("short", false, ListenerShort)...)
	insns = append(insns, verdict("reply", false, ListenerReply)...)
	insns = append(insns, verdict("pass", true, ListenerPassed)...)
	return append(insns, countAndReturn(counters)...)
}
