package masterd

import (
	"fmt"
	"os"

	"github.com/moatdns/moat/internal/config"
	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/sockfilter"
	"golang.org/x/sys/unix"
)

// Issue 5: the socket filters (the sockfilter package; SECURITY.md
// "Socket filters"). The master loads the eBPF objects (it is the only
// process that may), attaches the listener filter to the DNS UDP sockets
// it opened (the filter belongs to the socket, so dnsd inherits it), and
// passes dnsd the upstream program and the expect maps as three more
// descriptors of its SocketSet, which dnsd attaches to every upstream
// query socket. Where eBPF does not load (no CAP_BPF) and the mode
// allows, the classic filters are used: the master attaches the classic
// listener filter, dnsd the classic upstream one (DNSConfig.socket_filter
// tells it).

// socketFilters is what the master holds for the filters.
type socketFilters struct {
	mode   sockfilter.Mode
	active sockfilter.Active
	objs   *sockfilter.Objects // nil unless active is eBPF
	why    string              // why eBPF is not active, for the log
	passed []openSocket        // the duplicates in dnsd's SocketSet
	// listener attaches the listener filter to a :53 UDP socket; nil
	// when none is active. bind-dynamic's sockets get it as they open.
	listener func(fd int) error
}

// startSocketFilters sets up the filters socket-filter= asks for on the
// DNS sockets, logs which are active, and returns dnsd's sockets with the
// eBPF descriptors appended when eBPF is active.
func (m *master) startSocketFilters(cfg *config.Config, sockets []openSocket) ([]openSocket, error) {
	f, err := loadSocketFilters(cfg.SocketFilter)
	if err != nil {
		return nil, err
	}
	m.filters = f
	m.log.auditSocketFilters(f) // issue 7 (audit.go)
	var listener func(fd int) error
	switch f.active {
	case sockfilter.ActiveEBPF:
		prog := f.objs.Listener.FD()
		listener = func(fd int) error { return sockfilter.AttachProgram(fd, prog) }
	case sockfilter.ActiveClassic:
		listener = sockfilter.MustClassic(sockfilter.ClassicListener()).Attach
	}
	f.listener = listener
	if listener != nil {
		for _, s := range sockets {
			if s.desc.GetKind() != ipcpb.Socket_KIND_DNS_UDP {
				continue
			}
			if err := attachFile(s.file, listener); err != nil {
				return nil, fmt.Errorf("socket filter on %s: %w", s.desc.GetAddress(), err)
			}
		}
	}
	m.log.printf("master", "socket filters: %s", f.describe())
	if f.active != sockfilter.ActiveEBPF {
		return sockets, nil
	}
	extra, err := f.dnsdDescriptors()
	if err != nil {
		return nil, err
	}
	f.passed = extra
	return append(sockets, extra...), nil
}

// loadSocketFilters decides the active filters for mode (a config
// value: "" is auto).
func loadSocketFilters(modeText string) (*socketFilters, error) {
	mode := sockfilter.ModeAuto
	if modeText != "" {
		var err error
		if mode, err = sockfilter.ParseMode(modeText); err != nil {
			return nil, err
		}
	}
	f := &socketFilters{mode: mode}
	switch mode {
	case sockfilter.ModeOff:
		f.why = "socket-filter=off"
		return f, nil
	case sockfilter.ModeClassic:
		f.active, f.why = sockfilter.ActiveClassic, "socket-filter=classic"
		return f, nil
	}
	objs, err := sockfilter.Load()
	if err != nil {
		if mode == sockfilter.ModeEBPF {
			return nil, fmt.Errorf("socket-filter=ebpf: %w", err)
		}
		f.active, f.why = sockfilter.ActiveClassic, err.Error()
		return f, nil
	}
	f.active, f.objs = sockfilter.ActiveEBPF, objs
	return f, nil
}

// dnsdDescriptors are the upstream program and the expect map as dnsd's
// SocketSet entries (duplicates: closeSockets closes them).
func (f *socketFilters) dnsdDescriptors() ([]openSocket, error) {
	var out []openSocket
	for _, d := range []struct {
		kind ipcpb.Socket_Kind
		fd   int
		name string
	}{
		{ipcpb.Socket_KIND_BPF_UPSTREAM_PROG, f.objs.Upstream.FD(), "bpf-upstream-prog"},
		{ipcpb.Socket_KIND_BPF_EXPECT_MAP, f.objs.Expect.FD(), "bpf-expect-map"},
		{ipcpb.Socket_KIND_BPF_EXPECT_SET_MAP, f.objs.ExpectSet.FD(), "bpf-expect-set-map"},
	} {
		nfd, err := unix.FcntlInt(uintptr(d.fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			closeSockets(out)
			return nil, fmt.Errorf("dup %s: %w", d.name, err)
		}
		out = append(out, openSocket{desc: &ipcpb.Socket{Kind: d.kind}, file: os.NewFile(uintptr(nfd), d.name)})
	}
	return out, nil
}

// describe says which filters are active, for the log.
func (f *socketFilters) describe() string {
	if f == nil {
		return "none (DNS disabled)"
	}
	switch f.active {
	case sockfilter.ActiveEBPF:
		return fmt.Sprintf("mode %s: eBPF (upstream: length, QR, transaction ID; listener: length, QR)", f.mode)
	case sockfilter.ActiveClassic:
		return fmt.Sprintf("mode %s: classic BPF (length, QR; no transaction-ID check, no counters): %s", f.mode, f.why)
	}
	return fmt.Sprintf("mode %s: none", f.mode)
}

// stats reads the drop counters; ok is false without eBPF.
func (f *socketFilters) stats() (st sockfilter.Stats, ok bool, err error) {
	if f == nil || f.objs == nil {
		return st, false, nil
	}
	st, err = f.objs.Stats()
	return st, err == nil, err
}

// logStats logs the drop counters (SIGUSR1, and at exit); nothing
// without eBPF.
func (f *socketFilters) logStats(log *logger) {
	if st, ok, err := f.stats(); ok {
		log.printf("master", "socket filter counters: %s", &st)
	} else if err != nil {
		log.printf("master", "socket filter counters: %v", err)
	}
}

// close logs the final counters and releases the eBPF objects.
func (f *socketFilters) close(log *logger) {
	if f == nil || f.objs == nil {
		return
	}
	f.logStats(log)
	closeSockets(f.passed)
	_ = f.objs.Close()
}

// attachFile runs attach on f's descriptor.
func attachFile(f *os.File, attach func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var aerr error
	if err := rc.Control(func(fd uintptr) { aerr = attach(int(fd)) }); err != nil {
		return err
	}
	return aerr
}

// socketFilterMode is DNSConfig.socket_filter for cfg: dnsd attaches the
// classic upstream filter when it is given no eBPF program, unless this
// is "off".
func socketFilterMode(cfg *config.Config) string {
	if cfg.SocketFilter == "" {
		return "auto"
	}
	return cfg.SocketFilter
}
