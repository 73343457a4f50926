package leasestore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/leases"
)

// Open opens the store: it takes the journal's lock, replays the journal
// (cutting off a torn tail) or, when there is no journal yet, imports the
// leases file (so moat can start from the file dnsmasq left), and starts
// the journal writer and the leases file writer. The directories must
// exist. Close releases it.
func Open(opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{
		opts:      opts,
		dir:       dirOf(opts.Journal),
		reqs:      make(chan *request, opts.QueueSize),
		compactCh: make(chan chan error),
		quit:      make(chan struct{}),
		stopped:   make(chan struct{}),
		fileDirty: make(chan struct{}, 1),
		fileDone:  make(chan struct{}),
		table:     leases.NewTable(),
		meta:      map[netip.Addr]leaseMeta{},
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	if err := s.load(); err != nil {
		if s.journal != nil {
			s.journal.Close()
		}
		s.lockFile.Close()
		return nil, err
	}
	s.recovery.Leases = s.table.Len()
	s.stats.journalBytes.Store(s.size)
	go s.runJournal()
	go s.runLeaseFile()
	s.markFileDirty() // the file may lag behind the journal after a crash
	return s, nil
}

// lock takes an exclusive flock on the lock file beside the journal. The
// kernel drops it when the process dies, so a crash never leaves it held.
func (s *Store) lock() error {
	path := s.opts.Journal + lockSuffix
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("open lease journal lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%s: %w", s.opts.Journal, ErrLocked)
		}
		return fmt.Errorf("lock %s: %w", path, err)
	}
	s.lockFile = f
	return nil
}

// load builds the table from the journal, or from the leases file when
// there is no journal, and leaves s.journal open for appending.
func (s *Store) load() error {
	// Leftovers of a compaction or rewrite a crash interrupted: never
	// renamed, so never in use.
	for _, p := range []string{s.journalTmp(), s.leaseFileTmp()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale %s: %w", p, err)
		}
	}
	res, haveJournal, err := s.replay()
	if err != nil {
		return err
	}
	file, bad, haveFile, err := s.readLeaseFile()
	// A journal without even its header (empty) holds nothing: treat it
	// as absent, so a leases file is still imported.
	if haveJournal && res.Valid > 0 {
		s.recovery.Source = "journal"
		if err != nil {
			// Only its DHCPv6 lines were wanted; the rewrite replaces it.
			s.opts.Logf("%v (ignored: the journal has the leases)", err)
		}
		s.v6 = file.V6
		return s.openForAppend(res)
	}
	if err != nil {
		return err
	}
	s.v6 = file.V6
	if haveFile {
		s.recovery.Source = "leasefile"
		s.recovery.BadLines = bad
		// dnsmasq writes newest first: put the last line first so the
		// file comes back out in the same order.
		for _, l := range slices.Backward(file.Leases) {
			s.applyLocked(leases.PutRecord(l))
		}
		if len(s.recovery.BadLines) > 0 {
			s.opts.Logf("leases file %s: %d lines not imported, first: %v", s.opts.LeaseFile, len(s.recovery.BadLines), s.recovery.BadLines[0])
		}
		s.opts.Logf("imported %d leases from %s into %s", s.table.Len(), s.opts.LeaseFile, s.opts.Journal)
	} else {
		s.recovery.Source = "empty"
	}
	// The first journal is a snapshot put in place like any compaction.
	if err := s.compact(); err != nil {
		return fmt.Errorf("create lease journal: %w", err)
	}
	return nil
}

// readLeaseFile reads the dnsmasq leases file, if there is one to read.
// It returns the lines it could not read beside the file.
func (s *Store) readLeaseFile() (leases.File, []error, bool, error) {
	if s.opts.LeaseFileRO {
		return leases.File{}, nil, false, nil
	}
	f, err := os.Open(s.opts.LeaseFile)
	if errors.Is(err, fs.ErrNotExist) {
		return leases.File{}, nil, false, nil
	}
	if err != nil {
		return leases.File{}, nil, false, fmt.Errorf("open leases file: %w", err)
	}
	defer f.Close()
	file, bad, err := leases.ReadFile(f)
	if err != nil {
		return leases.File{}, nil, false, fmt.Errorf("%s: %w", s.opts.LeaseFile, err)
	}
	return file, bad, true, nil
}

// replay applies the journal's good records to the table.
func (s *Store) replay() (leases.ReplayResult, bool, error) {
	f, err := os.Open(s.opts.Journal)
	if errors.Is(err, fs.ErrNotExist) {
		return leases.ReplayResult{}, false, nil
	}
	if err != nil {
		return leases.ReplayResult{}, false, fmt.Errorf("open lease journal: %w", err)
	}
	defer f.Close()
	res, err := leases.Replay(f, func(r leases.Record) error {
		s.applyLocked(r)
		return nil
	})
	if err != nil {
		return res, true, fmt.Errorf("%s: %w", s.opts.Journal, err)
	}
	s.recovery.Records = res.Records
	s.recovery.TornBytes = res.Torn
	return res, true, nil
}

// openForAppend opens the replayed journal for writing and cuts off its
// torn tail, so that new records follow the last good one.
func (s *Store) openForAppend(res leases.ReplayResult) error {
	if res.Torn > int64(s.opts.MaxGroupBytes) {
		// More than one group can leave torn: damage, not a crash.
		// Keep the evidence before cutting it off.
		if err := copyFile(s.opts.Journal, s.opts.Journal+damagedSuffix); err != nil {
			return fmt.Errorf("keep damaged lease journal: %w", err)
		}
		s.opts.Logf("lease journal %s: %d bytes after offset %d are damaged; a copy is in %s", s.opts.Journal, res.Torn, res.Valid, s.opts.Journal+damagedSuffix)
	} else if res.Torn > 0 {
		s.opts.Logf("lease journal %s: cut %d bytes of a torn record at offset %d", s.opts.Journal, res.Torn, res.Valid)
	}
	f, err := os.OpenFile(s.opts.Journal, os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open lease journal: %w", err)
	}
	s.journal = f
	if res.Torn > 0 {
		if err := f.Truncate(res.Valid); err != nil {
			return fmt.Errorf("truncate lease journal: %w", err)
		}
		if err := s.opts.hooks.syncJournal(f); err != nil {
			return fmt.Errorf("sync lease journal: %w", err)
		}
	}
	if _, err := f.Seek(res.Valid, io.SeekStart); err != nil {
		return fmt.Errorf("seek lease journal: %w", err)
	}
	s.size = res.Valid
	// snapSize 0: a long journal is compacted at the first commit.
	s.snapSize = 0
	return nil
}

// copyFile copies src to dst and syncs dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// fdatasync flushes a file's data and the metadata needed to read it
// (its size), which is what an append needs.
func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
