package leasestore

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/leases"
)

// markFileDirty tells the leases file writer that the table changed.
func (s *Store) markFileDirty() {
	if s.opts.LeaseFileRO {
		return
	}
	select {
	case s.fileDirty <- struct{}{}:
	default: // already pending
	}
}

// runLeaseFile rewrites the leases file after changes, at most once per
// FileInterval, and once more at Close if anything changed since.
func (s *Store) runLeaseFile() {
	defer close(s.fileDone)
	var last time.Time
	for {
		select {
		case <-s.fileDirty:
		case <-s.stopped:
			s.finalLeaseFile()
			return
		}
		if wait := time.Until(last.Add(s.opts.FileInterval)); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-s.stopped:
				timer.Stop()
				s.rewriteLeaseFile()
				return
			}
		}
		// Changes from here on signal again and are written next time.
		select {
		case <-s.fileDirty:
		default:
		}
		last = time.Now()
		s.rewriteLeaseFile()
	}
}

// finalLeaseFile writes the file at Close if a change is still pending.
func (s *Store) finalLeaseFile() {
	select {
	case <-s.fileDirty:
		s.rewriteLeaseFile()
	default:
	}
}

// rewriteLeaseFile writes the leases file and counts the outcome; the
// journal is authoritative, so a failure is logged, never fatal.
func (s *Store) rewriteLeaseFile() {
	if err := s.writeLeaseFile(); err != nil {
		s.stats.fileErrors.Add(1)
		s.opts.Logf("%v", err)
		return
	}
	s.stats.fileWrites.Add(1)
}

// LeaseFileBytes returns the leases file as the store would write it
// now: the live leases newest first (dnsmasq's list order: a new lease
// at the head, a renewed one in its place), then the DHCPv6 lines found
// at Open.
func (s *Store) LeaseFileBytes() []byte {
	now := s.opts.Now()
	all := s.ordered(true)
	live := slices.DeleteFunc(all, func(l leases.Lease) bool { return l.Expired(now) })
	buf := make([]byte, 0, len(live)*64)
	for i, l := range live {
		buf = leases.AppendFileLine(buf, l)
		if i%yieldEvery == yieldEvery-1 {
			runtime.Gosched() // see ordered
		}
	}
	for _, v6 := range s.v6 {
		buf = append(append(buf, v6...), '\n')
	}
	return buf
}

// yieldEvery is how many leases file lines are formatted between two
// chances for other goroutines to run.
const yieldEvery = 2000

// writeLeaseFile replaces the leases file atomically: a reader sees the
// old file or the new one, never a part.
func (s *Store) writeLeaseFile() error {
	data := s.LeaseFileBytes()
	tmp := s.leaseFileTmp()
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("write leases file: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		// A rename of an unsynced file can leave an empty file after a
		// power loss on some file systems.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.opts.LeaseFile)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write leases file %s: %w", s.opts.LeaseFile, err)
	}
	return nil
}
