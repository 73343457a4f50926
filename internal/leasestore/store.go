// Package leasestore owns the master's durable DHCPv4 lease store: the
// append-only lease journal (records encoded by internal/leases), fsynced
// with group commit before a lease is acknowledged; its periodic
// compaction into a snapshot that becomes the new journal; the import of
// an existing dnsmasq leases file on first start; the dnsmasq-compatible
// leases file rewritten atomically for the scripts and tools that read
// it; and lease expiry. It is used by masterd only, the one process that
// may write these files.
//
// Files, for a leases file L (dhcp-leasefile):
//
//	L              dnsmasq's format, derived from the journal, never read back
//	               except to import it when there is no journal yet
//	L.journal      the authoritative lease journal
//	L.journal.tmp  a compaction in progress (removed at Open)
//	L.tmp          a leases file rewrite in progress (removed at Open)
//	L.journal.lock flock(2)ed while a Store is open, so two daemons never
//	               write one journal
//
// Every acknowledged change is in L.journal after a crash of any process
// at any moment (the journal is fsynced before Commit returns, and every
// replacement of L.journal is a fsynced file renamed over it followed by
// a fsync of the directory).
package leasestore

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/leases"
)

// Defaults of Options.
const (
	DefaultFileInterval    = time.Second
	DefaultQueueSize       = 4096
	DefaultMaxGroupBytes   = 1 << 20
	DefaultCompactMinBytes = 4 << 20
	DefaultCompactInterval = time.Hour
	DefaultSyncGap         = 2 * time.Millisecond
)

// Suffixes of the files next to the leases file.
const (
	JournalSuffix = ".journal"
	tmpSuffix     = ".tmp"
	lockSuffix    = ".lock"
	damagedSuffix = ".damaged"
)

// Options says where the store lives and how it behaves. Only LeaseFile
// is required; zero values take the defaults.
type Options struct {
	// LeaseFile is the dnsmasq-format leases file (dhcp-leasefile).
	LeaseFile string
	// Journal is the journal's path; "" means LeaseFile + JournalSuffix.
	Journal string
	// LeaseFileRO (leasefile-ro): never read or write LeaseFile; the
	// journal is still kept.
	LeaseFileRO bool

	// FileInterval is the shortest time between two rewrites of
	// LeaseFile (dnsmasq rewrites on every change, which is what limits
	// its rate).
	FileInterval time.Duration
	// QueueSize bounds the commits waiting for the journal writer; a
	// Commit beyond it waits (until its context ends). The commits that
	// queue while one fsync runs form the next group and share the next
	// fsync: under load groups grow by themselves, and a lone commit is
	// never delayed to wait for company.
	QueueSize int
	// MaxGroupBytes bounds the bytes written by one group.
	MaxGroupBytes int
	// SyncGap is the shortest time between the starts of two journal
	// fsyncs: a commit that comes sooner after the last one waits for
	// the rest of the gap, and those that come meanwhile join its group.
	// Under load this bounds the fsyncs a second (each costs the disk
	// two writes, the data and the inode, and on a virtual machine an
	// exit to the hypervisor for each, CPU the DHCP server needs); a
	// lone commit after a quiet spell is never delayed. Negative: no gap.
	SyncGap time.Duration
	// CompactMinBytes: the journal is compacted when the bytes appended
	// since the last snapshot reach both this and the snapshot's size.
	CompactMinBytes int64
	// CompactInterval: the journal is also compacted this often when
	// anything was appended since the last snapshot.
	CompactInterval time.Duration

	// Now is the clock used to leave expired leases out of LeaseFile;
	// nil means time.Now.
	Now func() time.Time
	// Logf receives what an operator should know (a torn journal tail,
	// unreadable leases file lines, failed rewrites); nil discards it.
	Logf func(format string, args ...any)

	// hooks replace file operations in tests that inject faults.
	hooks *hooks
}

// hooks are the file operations a test can make fail.
type hooks struct {
	syncJournal  func(f *os.File) error // the group commit's fdatasync
	syncSnapshot func(f *os.File) error // a compaction snapshot's
}

// OptionsFromConfig takes the store's options from the DHCP configuration.
func OptionsFromConfig(d *config.DHCPConfig) Options {
	return Options{LeaseFile: d.LeaseFile, LeaseFileRO: d.LeaseFileRO}
}

func (o Options) withDefaults() (Options, error) {
	if o.LeaseFile == "" {
		return o, errors.New("lease store: no leases file path")
	}
	if o.Journal == "" {
		o.Journal = o.LeaseFile + JournalSuffix
	}
	if o.FileInterval <= 0 {
		o.FileInterval = DefaultFileInterval
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxGroupBytes <= 0 {
		o.MaxGroupBytes = DefaultMaxGroupBytes
	}
	if o.SyncGap == 0 {
		o.SyncGap = DefaultSyncGap
	}
	if o.CompactMinBytes <= 0 {
		o.CompactMinBytes = DefaultCompactMinBytes
	}
	if o.CompactInterval <= 0 {
		o.CompactInterval = DefaultCompactInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.hooks == nil {
		o.hooks = &hooks{}
	}
	if o.hooks.syncJournal == nil {
		o.hooks.syncJournal = fdatasync
	}
	if o.hooks.syncSnapshot == nil {
		o.hooks.syncSnapshot = fdatasync
	}
	return o, nil
}

// Errors of the store.
var (
	ErrClosed = errors.New("lease store closed")
	ErrLocked = errors.New("lease journal is in use by another process")
)

// Store is the open lease store. Its methods are safe for concurrent use.
type Store struct {
	opts     Options
	dir      string // the journal's directory, fsynced after renames
	lockFile *os.File

	reqs      chan *request
	compactCh chan chan error
	quit      chan struct{} // closed by Close: stop accepting
	stopped   chan struct{} // closed when the journal writer has exited
	fileDirty chan struct{} // a change for LeaseFile (capacity 1)
	fileDone  chan struct{} // closed when the leases file writer has exited
	closeOnce sync.Once
	closeErr  error

	// mu guards the lease state: the table, meta and the expiry heap.
	// The journal writer changes it (after fsync); everyone reads it.
	mu        sync.RWMutex
	table     *leases.Table
	meta      map[netip.Addr]leaseMeta
	nextOrder uint64
	expiries  expiryHeap

	// Owned by the journal writer goroutine.
	journal  *os.File
	size     int64       // bytes of the journal that are written and good
	snapSize int64       // the journal's size right after the last snapshot
	failed   error       // set when a sync failed: the journal must be replaced
	bg       *background // a compaction writing its snapshot, or nil
	group    []byte
	lastSync time.Time // when the last journal fsync started

	v6       []string // DHCPv6 lines of the leases file, kept verbatim
	recovery Recovery
	stats    counters
}

// leaseMeta is what the store keeps per lease beside the table: its place
// in dnsmasq's list order and its expiry, for the heap.
type leaseMeta struct {
	order   uint64 // creation order: dnsmasq writes newest first
	expires int64
}

// Recovery says how Open found the store.
type Recovery struct {
	// Source is "journal", "leasefile" (imported on first start) or
	// "empty" (neither existed).
	Source string
	Leases int // leases in the table after Open
	// Records is the number of journal records replayed.
	Records int
	// TornBytes were cut off the journal's end: a record a crash left
	// half-written (never acknowledged), or damage.
	TornBytes int64
	// BadLines are the leases file lines that could not be imported.
	BadLines []error
}

// Stats counts what the store did since Open.
type Stats struct {
	Commits      uint64 // Commit and Expire calls acknowledged
	Records      uint64 // records made durable
	Syncs        uint64 // journal fsyncs (groups written)
	Compactions  uint64
	FileWrites   uint64 // rewrites of the leases file
	FileErrors   uint64 // failed rewrites of the leases file
	JournalBytes int64
}

type counters struct {
	commits, records, syncs, compactions, fileWrites, fileErrors atomic.Uint64
	journalBytes                                                 atomic.Int64
}

// Recovery returns what Open found.
func (s *Store) Recovery() Recovery { return s.recovery }

// Stats returns the counters.
func (s *Store) Stats() Stats {
	return Stats{
		Commits:      s.stats.commits.Load(),
		Records:      s.stats.records.Load(),
		Syncs:        s.stats.syncs.Load(),
		Compactions:  s.stats.compactions.Load(),
		FileWrites:   s.stats.fileWrites.Load(),
		FileErrors:   s.stats.fileErrors.Load(),
		JournalBytes: s.stats.journalBytes.Load(),
	}
}

// JournalPath and LeaseFilePath are the files in use.
func (s *Store) JournalPath() string   { return s.opts.Journal }
func (s *Store) LeaseFilePath() string { return s.opts.LeaseFile }

// View calls fn with the lease table, read-locked: fn must not change
// it, keep it, or call other Store methods. Only durable (acknowledged)
// changes are in it.
func (s *Store) View(fn func(t *leases.Table)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(s.table)
}

// Lease returns the lease at addr.
func (s *Store) Lease(addr netip.Addr) (leases.Lease, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.table.ByAddr(addr)
}

// Leases returns every lease, sorted by address.
func (s *Store) Leases() []leases.Lease {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.table.All()
}

// Len is the number of leases.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.table.Len()
}

// Close stops accepting commits, writes the ones already queued, brings
// the leases file up to date and closes the files. It returns the first
// error of those steps; calling it again returns the same.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.stopped
		<-s.fileDone
		var errs []error
		if s.journal != nil {
			if err := s.journal.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close lease journal: %w", err))
			}
		}
		if err := s.lockFile.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close lease journal lock: %w", err))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Store) journalTmp() string   { return s.opts.Journal + tmpSuffix }
func (s *Store) leaseFileTmp() string { return s.opts.LeaseFile + tmpSuffix }

func dirOf(path string) string { return filepath.Dir(path) }
