package sockfilter

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// What dnsd does with the descriptors it was given, with bare system
// calls: attaching a loaded program needs no privilege, and the map
// update is the one bpf(2) command (with delete) dnsd's seccomp policy
// allows. These avoid cilium/ebpf's Map type, whose constructor from a
// descriptor asks the kernel about the map (BPF_OBJ_GET_INFO_BY_FD).

// AttachProgram attaches the loaded eBPF program progFD to the socket fd
// (SO_ATTACH_BPF), replacing any filter it had.
func AttachProgram(fd, progFD int) error {
	if e := AttachProgramRaw(fd, progFD); e != 0 {
		return fmt.Errorf("SO_ATTACH_BPF: %w", e)
	}
	return nil
}

// AttachProgramRaw is AttachProgram without the runtime's system-call
// bookkeeping, for dnsd's miss path.
func AttachProgramRaw(fd, progFD int) syscall.Errno {
	v := int32(progFD)
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ATTACH_BPF,
		uintptr(unsafe.Pointer(&v)), 4, 0)
	return e
}

// mapElemAttr is the BPF_MAP_*_ELEM part of union bpf_attr.
type mapElemAttr struct {
	mapFD uint32
	_     uint32
	key   unsafe.Pointer
	value unsafe.Pointer
	flags uint64
}

// ExpectRaw records id as the transaction ID expected on the local port
// in the expect map mapFD (BPF_MAP_UPDATE_ELEM).
func ExpectRaw(mapFD int, key uint32, id uint16) syscall.Errno {
	value := uint32(id)
	return mapUpdate(mapFD, unsafe.Pointer(&key), unsafe.Pointer(&value))
}

// ExpectManyRaw marks the local port of key as one whose socket carries
// many queries at once (a fixed query port): replies pass only with an
// ID added by AddIDRaw.
func ExpectManyRaw(mapFD int, key uint32) syscall.Errno {
	value := uint32(ManyIDs)
	return mapUpdate(mapFD, unsafe.Pointer(&key), unsafe.Pointer(&value))
}

// ForgetRaw removes the entry of key from the expect map mapFD
// (BPF_MAP_DELETE_ELEM); ENOENT when there was none.
func ForgetRaw(mapFD int, key uint32) syscall.Errno {
	return mapDelete(mapFD, unsafe.Pointer(&key))
}

// SetKey is the expect-set map's key for one outstanding query.
func SetKey(key uint32, id uint16) uint64 { return uint64(key)<<16 | uint64(id) }

// AddIDRaw adds id to the IDs outstanding on key's port in the
// expect-set map setFD (before the query is sent).
func AddIDRaw(setFD int, key uint32, id uint16) syscall.Errno {
	k, one := SetKey(key, id), uint32(1)
	return mapUpdate(setFD, unsafe.Pointer(&k), unsafe.Pointer(&one))
}

// RemoveIDRaw removes id from the IDs outstanding on key's port (the
// query is answered or given up).
func RemoveIDRaw(setFD int, key uint32, id uint16) syscall.Errno {
	k := SetKey(key, id)
	return mapDelete(setFD, unsafe.Pointer(&k))
}

func mapUpdate(fd int, key, value unsafe.Pointer) syscall.Errno {
	attr := mapElemAttr{mapFD: uint32(fd), key: key, value: value}
	_, _, e := unix.RawSyscall(unix.SYS_BPF, unix.BPF_MAP_UPDATE_ELEM, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	return e
}

func mapDelete(fd int, key unsafe.Pointer) syscall.Errno {
	attr := mapElemAttr{mapFD: uint32(fd), key: key}
	_, _, e := unix.RawSyscall(unix.SYS_BPF, unix.BPF_MAP_DELETE_ELEM, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	return e
}
