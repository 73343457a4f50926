package masterd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// The master keeps TABLE_LOCAL_DYNAMIC current without a reload, as
// dnsmasq does: hostsdir directories are watched with inotify (a file
// written, moved in, moved out or deleted is re-read at once), and polled
// when inotify cannot watch them (a directory that does not exist yet);
// interface addresses (interface-name, localise-queries) are polled.
const (
	localPollInterval = 2 * time.Second
	// hostsDirSettle lets a burst of events (an editor's save, a script
	// writing several files) end before the directory is re-read.
	hostsDirSettle = 50 * time.Millisecond
)

// hostsDirFiles lists a hostsdir's files the way dnsmasq reads them:
// regular files in alphabetical order, without dotfiles, editor backups
// ("name~") and autosave files ("#name#").
func hostsDirFiles(dir string, log *logger) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if log != nil {
			log.printf("master", "cannot access directory %s: %v", dir, err)
		}
		return nil
	}
	var out []string
	for _, e := range entries {
		if ignoredHostsFile(e.Name()) {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	sort.Strings(out)
	return out
}

// ignoredHostsFile is dnsmasq's filter for files in hosts directories.
func ignoredHostsFile(name string) bool {
	return name == "" || name[0] == '.' || strings.HasSuffix(name, "~") ||
		(len(name) > 1 && name[0] == '#' && name[len(name)-1] == '#')
}

// dirSignature describes a directory's files (names, sizes, times) for
// polling: a changed signature means "re-read".
func dirSignature(dir string) string {
	var b strings.Builder
	for _, f := range hostsDirFiles(dir, nil) {
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", f, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

// watchLocalData runs until ctx ends, re-sending TABLE_LOCAL_DYNAMIC to
// dnsd whenever a hostsdir file or a watched interface address changes.
func (m *master) watchLocalData(ctx context.Context) {
	l := &m.cfg.Local
	pollIfaces := len(l.InterfaceNames) > 0 || l.LocaliseQueries
	if len(l.HostsDirs) == 0 && !pollIfaces {
		return
	}
	w := newDirWatcher(l.HostsDirs, m.log)
	defer w.close()
	events := make(chan bool, 1)
	go w.run(ctx, events)
	// A file written between the load and the first watch is caught here.
	m.refreshLocalDynamic(len(l.HostsDirs) > 0, pollIfaces)

	tick := time.NewTicker(localPollInterval)
	defer tick.Stop()
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case lost := <-events:
			if lost {
				w.watchesLost()
			}
			if settle == nil {
				settle = time.After(hostsDirSettle)
			}
		case <-settle:
			settle = nil
			m.refreshLocalDynamic(true, false)
		case <-tick.C:
			dirs := w.pollChanged()
			if dirs || pollIfaces {
				m.refreshLocalDynamic(dirs, pollIfaces)
			}
		}
	}
}

// refreshLocalDynamic rebuilds the hostsdir part, the interface part or
// both, and sends the table to dnsd if it changed.
func (m *master) refreshLocalDynamic(dirs, ifaces bool) {
	d := &m.dns
	d.local.sendMu.Lock()
	defer d.local.sendMu.Unlock()
	d.mu.Lock()
	if d.local.cfg == nil {
		d.mu.Unlock()
		return
	}
	old := d.local.dynamic()
	if dirs {
		d.local.dirRecs = readHostsDirs(d.local.cfg, d.local.domains, m.log)
	}
	if ifaces {
		d.local.ifaceRecs = interfaceRecords(d.local.cfg, nil)
	}
	dyn := d.local.dynamic()
	if sameRecords(old, dyn) {
		d.mu.Unlock()
		return
	}
	d.local.dynGen++
	gen := d.local.dynGen
	d.mu.Unlock()
	err := m.withRole("dnsd", func(c *ipc.Conn) error {
		return ipc.SendLocalRecords(c, ipcpb.Table_TABLE_LOCAL_DYNAMIC, gen, dyn)
	})
	if err != nil {
		m.log.printf("master", "send local data to dnsd: %v", err)
	}
}

func sameRecords(a, b []*ipcpb.LocalRecord) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// dirWatcher watches hostsdir directories with inotify; directories it
// cannot watch are polled by signature.
type dirWatcher struct {
	log     *logger
	fd      int // -1 without inotify
	file    *os.File
	watched map[string]bool
	polled  map[string]string // dir -> last signature
}

const dirWatchMask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

func newDirWatcher(dirs []string, log *logger) *dirWatcher {
	w := &dirWatcher{log: log, fd: -1, watched: map[string]bool{}, polled: map[string]string{}}
	if len(dirs) == 0 {
		return w
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		log.printf("master", "hostsdir: inotify unavailable (%v); polling every %v", err, localPollInterval)
	} else {
		w.fd = fd
		w.file = os.NewFile(uintptr(fd), "inotify")
	}
	for _, d := range dirs {
		w.tryWatch(d)
		w.polled[d] = dirSignature(d)
	}
	return w
}

// tryWatch adds an inotify watch on dir and reports whether it is new; on
// failure dir stays polled.
func (w *dirWatcher) tryWatch(dir string) bool {
	if w.fd < 0 || w.watched[dir] {
		return false
	}
	if _, err := unix.InotifyAddWatch(w.fd, dir, dirWatchMask); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			w.log.printf("master", "hostsdir %s: cannot watch (%v); polling it", dir, err)
		}
		return false
	}
	w.watched[dir] = true
	return true
}

// pollChanged checks the directories inotify does not watch (trying to
// watch them again) and reports whether any of them changed. A directory
// that has just become watched counts as changed: a file written while
// the watch was being added would be seen by neither.
func (w *dirWatcher) pollChanged() bool {
	changed := false
	for dir, sig := range w.polled {
		if w.watched[dir] {
			continue
		}
		newlyWatched := w.tryWatch(dir)
		if now := dirSignature(dir); now != sig || newlyWatched {
			w.polled[dir] = now
			changed = true
		}
	}
	return changed
}

// run reads inotify events until ctx ends and reports each batch on
// events (coalesced): true when a watch ended (the directory was removed
// or moved), which the caller handles by polling again.
func (w *dirWatcher) run(ctx context.Context, events chan<- bool) {
	if w.file == nil {
		return
	}
	stop := context.AfterFunc(ctx, func() { _ = w.file.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 64<<10)
	for {
		n, err := w.file.Read(buf)
		if err != nil {
			return
		}
		lost := false
		// struct inotify_event: wd int32, mask, cookie, len uint32, name.
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			nameLen := binary.NativeEndian.Uint32(buf[off+12:])
			off += unix.SizeofInotifyEvent + int(nameLen)
			if mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0 {
				lost = true
			}
		}
		select {
		case events <- lost:
		default:
			if lost {
				select {
				case <-ctx.Done():
					return
				case events <- lost:
				}
			}
		}
	}
}

// watchesLost moves every watched directory back to polling; the kernel
// names the watch that ended, not the directory, and this is rare.
func (w *dirWatcher) watchesLost() {
	for d := range w.watched {
		delete(w.watched, d)
		w.polled[d] = ""
	}
}

func (w *dirWatcher) close() {
	if w.file != nil {
		w.file.Close()
	}
}
