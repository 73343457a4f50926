package dnsd

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// bigTableItems is the size (in messages, about 64 KiB each) above which
// a received table is followed by returning freed memory to the kernel.
const bigTableItems = 16

// freeMemoryDelay is how long after a big table the memory is returned.
const freeMemoryDelay = 2 * time.Second

// localSet is the local data last received: the zone of the static table
// and the dynamic table's records, and the zone built from both. Only
// Serve's goroutine touches it.
type localSet struct {
	static  *localZone
	dynamic []*ipcpb.LocalRecord
	zone    *localZone
	leases  *leaseTable // TABLE_LEASE_NAMES (local_leases.go)
}

// receiveLocalTable takes a completed TABLE_LOCAL_RECORDS or
// TABLE_LOCAL_DYNAMIC (handled reports which): it checks every record,
// rebuilds the zone and, once dnsd serves, swaps it in. A bad record is
// an error: the master never sends one.
func (s *Server) receiveLocalTable(kind ipcpb.Table, items []*ipcpb.TableItem) (handled bool, err error) {
	set := &s.localSet
	static, dynamic := set.static, set.dynamic
	switch kind {
	case ipcpb.Table_TABLE_LOCAL_RECORDS:
		if static, err = newStaticZone(ipc.LocalRecordsOf(items)); err != nil {
			return true, fmt.Errorf("ipc: %s: %w", kind, err)
		}
	case ipcpb.Table_TABLE_LOCAL_DYNAMIC:
		dynamic = ipc.LocalRecordsOf(items)
	case ipcpb.Table_TABLE_LEASE_NAMES: // issue 4: DHCP lease names (local_leases.go)
		if err := s.receiveLeaseNames(items); err != nil {
			return true, err
		}
	default:
		return false, nil
	}
	if static == nil {
		static, _ = newStaticZone(nil)
	}
	z, err := static.withDynamic(dynamic)
	if err != nil {
		return true, fmt.Errorf("ipc: %s: %w", kind, err)
	}
	z.leases = set.leases
	set.static, set.dynamic, set.zone = static, dynamic, z
	s.installLocal(z)
	if len(items) > bigTableItems {
		// A long address= list leaves much garbage from decoding, alive
		// until the tables that follow it are in (the assembler keeps the
		// last one): give the memory back then, rather than keep it as
		// heap headroom of an idle server.
		time.AfterFunc(freeMemoryDelay, debug.FreeOSMemory)
	}
	return true, nil
}

// installLocal swaps a new zone into the serving state, keeping the
// configuration, hosts and cache; installCache gives the new state a new
// fast-path stamp, so no cached answer confirmed before the change is
// served without passing the local stages again. Before the first
// install there is nothing to swap: install picks the zone up.
func (s *Server) installLocal(z *localZone) {
	old := s.st.Load()
	if old == nil {
		return
	}
	next := *old
	next.local = z
	installCache(old, &next)
	s.st.Store(&next)
}
