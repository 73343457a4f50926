package masterd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// bind-dynamic (area H): like bind-interfaces, one UDP and one TCP socket
// per address, but the set follows the interfaces. The master subscribes
// to rtnetlink's address and link groups (dnsd cannot: it has no netlink),
// and on every change rescans, opens sockets for addresses that appeared,
// closes those of addresses that vanished, and tells dnsd with a
// SocketsChanged message. A restarted dnsd gets the whole current set the
// same way right after its (empty) SocketSet, under the same lock, so no
// change falls between the two.

// pollInterval is how often the addresses are rescanned when rtnetlink
// cannot be subscribed to.
const pollInterval = time.Second

// eventSettle gathers a burst of rtnetlink messages (an address comes
// with several) into one rescan.
const eventSettle = 20 * time.Millisecond

// dynamicListeners owns bind-dynamic's sockets.
type dynamicListeners struct {
	cfg  *config.Config
	log  *logger
	scan func() ([]ifaceState, error) // scanInterfaces; tests give their own

	// events is the rtnetlink subscription, made before the first scan
	// so that no change falls between the two; nil with eventsErr when
	// the master cannot subscribe (then watch polls).
	events    *os.File
	eventsErr error

	mu      sync.Mutex
	bound   map[dynTarget][]openSocket
	failing map[dynTarget]string // the bind error last logged, so it is logged once
	conn    *ipc.Conn            // the dnsd that has the current set; nil while none
	// listenerFilter attaches the socket filter to a UDP socket
	// (sockfilter.go); nil: none.
	listenerFilter func(fd int) error
}

// setListenerFilter attaches fn to the UDP sockets bound now and to
// every one opened later.
func (d *dynamicListeners) setListenerFilter(fn func(fd int) error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.listenerFilter = fn
	for _, socks := range d.bound {
		d.filterLocked(socks)
	}
}

// filterLocked attaches the listener filter to the UDP sockets of socks;
// a failure is logged (the packets then reach dnsd's own checks).
func (d *dynamicListeners) filterLocked(socks []openSocket) {
	if d.listenerFilter == nil {
		return
	}
	for _, s := range socks {
		if s.desc.GetKind() != ipcpb.Socket_KIND_DNS_UDP {
			continue
		}
		if err := attachFile(s.file, d.listenerFilter); err != nil {
			d.log.printf("master", "socket filter on %s: %v", s.desc.GetAddress(), err)
		}
	}
}

// checkRunOptions is what dnsmasq refuses at start but not in --test.
func checkRunOptions(cfg *config.Config) error {
	if cfg.Runtime.BindDynamic && cfg.BindInterfaces {
		return errors.New("cannot set --bind-interfaces and --bind-dynamic")
	}
	return nil
}

// startBindDynamic opens the sockets of the addresses there are now. A
// failure to bind one is logged and tried again at the next change, as
// dnsmasq does in this mode; only a failure to read the interfaces is
// fatal. The plan it returns lists the addresses for the checks that want
// them (a resolv-file naming one of our own addresses).
func startBindDynamic(cfg *config.Config, log *logger) (*dynamicListeners, listenPlan, error) {
	d := newDynamicListeners(cfg, log, scanInterfaces)
	d.events, d.eventsErr = subscribeAddrEvents()
	if err := d.refresh(); err != nil {
		d.close()
		return nil, listenPlan{}, err
	}
	if ifaces, err := d.scan(); err == nil {
		for _, name := range missingInterfaces(cfg, ifaces) {
			log.printf("master", "warning: interface %s does not currently exist", name)
		}
	}
	return d, listenPlan{binds: d.addresses()}, nil
}

func newDynamicListeners(cfg *config.Config, log *logger, scan func() ([]ifaceState, error)) *dynamicListeners {
	return &dynamicListeners{cfg: cfg, log: log, scan: scan, bound: map[dynTarget][]openSocket{}, failing: map[dynTarget]string{}}
}

// addresses lists what is bound now, sorted.
func (d *dynamicListeners) addresses() []netip.AddrPort {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]netip.AddrPort, 0, len(d.bound))
	for t := range d.bound {
		out = append(out, t.ap)
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	return out
}

// refresh rescans and brings the sockets (and dnsd's) in line.
func (d *dynamicListeners) refresh() error {
	ifaces, err := d.scan()
	if err != nil {
		return fmt.Errorf("bind-dynamic: %w", err)
	}
	want := dynamicTargets(d.cfg, ifaces)
	d.mu.Lock()
	defer d.mu.Unlock()
	have := make(map[dynTarget]bool, len(d.bound))
	for t := range d.bound {
		have[t] = true
	}
	opening, closing := diffTargets(have, want)
	var removed []string
	for _, t := range closing {
		for _, s := range d.bound[t] {
			removed = append(removed, s.desc.GetAddress())
		}
		d.log.closeSockets(d.bound[t])
		delete(d.bound, t)
		delete(d.failing, t)
	}
	removed = slices.Compact(removed) // a UDP and a TCP socket per address
	var added []openSocket
	for _, t := range opening {
		socks, err := openDynamic(t.ap)
		if err != nil {
			if msg := err.Error(); d.failing[t] != msg {
				d.failing[t] = msg
				d.log.printf("master", "failed to create listening socket for %s: %v", t.ap.Addr(), err)
			}
			continue
		}
		delete(d.failing, t)
		d.filterLocked(socks)
		d.bound[t] = socks
		d.log.auditSockets(auditSocketOpen, socks)
		added = append(added, socks...)
	}
	for t := range d.failing {
		if !slices.Contains(want, t) {
			delete(d.failing, t) // gone: a new failure is news again
		}
	}
	if d.conn != nil && (len(added) > 0 || len(removed) > 0) {
		if err := sendSocketsChanged(d.conn, added, removed); err != nil {
			// The worker is gone or going; its successor gets the whole
			// set from attach.
			d.log.printf("master", "bind-dynamic: tell dnsd: %v", err)
			d.conn = nil
		}
	}
	return nil
}

// openDynamic opens one UDP and one TCP socket on ap. One UDP socket, not
// a SO_REUSEPORT group: the networks bind-dynamic serves (VM and
// container bridges) are small, and each socket costs dnsd a goroutine
// and its batch buffers.
func openDynamic(ap netip.AddrPort) ([]openSocket, error) {
	u, err := openUDP(ap, false)
	if err != nil {
		return nil, err
	}
	t, err := openTCP(ap)
	if err != nil {
		closeSockets([]openSocket{u})
		return nil, err
	}
	return []openSocket{u, t}, nil
}

// sendSocketsChanged sends removed and added in as many messages as the
// descriptor cap needs, the removals first.
func sendSocketsChanged(conn *ipc.Conn, added []openSocket, removed []string) error {
	if err := checkRoleSockets("dnsd", added); err != nil {
		return err
	}
	for first := true; first || len(added) > 0; first = false {
		n := min(len(added), ipc.MaxFDs)
		msg := &ipcpb.SocketsChanged{}
		if first {
			msg.Removed = removed
		}
		fds := make([]int, 0, n)
		for _, s := range added[:n] {
			msg.Added = append(msg.Added, s.desc)
			fds = append(fds, int(s.file.Fd()))
		}
		added = added[n:]
		if len(msg.Added) == 0 && len(msg.Removed) == 0 {
			return nil
		}
		if err := conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_SocketsChanged{SocketsChanged: msg}}, fds...); err != nil {
			return err
		}
	}
	return nil
}

// attach gives a starting dnsd every current socket and makes it the one
// that hears of changes. A nil d (no bind-dynamic) does nothing.
func (d *dynamicListeners) attach(conn *ipc.Conn) error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conn = nil
	targets := make([]dynTarget, 0, len(d.bound))
	for t := range d.bound {
		targets = append(targets, t)
	}
	slices.SortFunc(targets, compareTargets)
	var all []openSocket
	for _, t := range targets {
		all = append(all, d.bound[t]...)
	}
	if err := sendSocketsChanged(conn, all, nil); err != nil {
		return fmt.Errorf("bind-dynamic sockets: %w", err)
	}
	d.conn = conn
	return nil
}

// watch follows address changes until ctx ends: rtnetlink events where
// the master may subscribe, else a rescan every pollInterval. A nil d
// returns at once.
func (d *dynamicListeners) watch(ctx context.Context) {
	if d == nil {
		return
	}
	events := d.events
	if events == nil {
		d.log.printf("master", "bind-dynamic: %v; checking the interfaces every %v instead", d.eventsErr, pollInterval)
		everyTick(ctx, pollInterval, d.refreshLogged)
		return
	}
	followAddrEvents(ctx, events, d.log, "bind-dynamic", d.refreshLogged)
}

// followAddrEvents calls refresh after each burst of rtnetlink events
// until ctx ends (which closes events). Should events fail, it says so
// and calls refresh every pollInterval instead. what names the follower
// in that line.
func followAddrEvents(ctx context.Context, events *os.File, log *logger, what string, refresh func()) {
	stop := context.AfterFunc(ctx, func() { _ = events.Close() }) // unblocks Read
	defer stop()
	buf := make([]byte, 64<<10)
	for ctx.Err() == nil {
		if _, err := events.Read(buf); err != nil && ctx.Err() == nil && !errors.Is(err, unix.ENOBUFS) {
			// ENOBUFS: events were lost, which a rescan makes good.
			log.printf("master", "%s: read rtnetlink: %v; checking the interfaces every %v instead", what, err, pollInterval)
			everyTick(ctx, pollInterval, refresh)
			return
		}
		drainEvents(events, buf)
		if ctx.Err() != nil {
			return
		}
		refresh()
	}
}

// drainEvents reads what follows an event within eventSettle.
func drainEvents(events *os.File, buf []byte) {
	for range 1000 { // bounded: a flood is cut short by the next rescan anyway
		if err := events.SetReadDeadline(time.Now().Add(eventSettle)); err != nil {
			return
		}
		if _, err := events.Read(buf); err != nil && !errors.Is(err, unix.ENOBUFS) {
			break
		}
	}
	_ = events.SetReadDeadline(time.Time{})
}

// refreshLogged is refresh for the followers, which log its error.
func (d *dynamicListeners) refreshLogged() {
	if err := d.refresh(); err != nil {
		d.log.printf("master", "%v", err)
	}
}

// everyTick runs f every interval until ctx ends: the fallback of the
// rtnetlink watchers and the resolv-file poll.
func everyTick(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// subscribeAddrEvents opens an rtnetlink socket subscribed to address
// and link changes, as a pollable file (so Close and deadlines work).
func subscribeAddrEvents() (*os.File, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink socket: %w", err)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_LINK}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("subscribe to rtnetlink address events: %w", err)
	}
	return os.NewFile(uintptr(fd), "rtnetlink"), nil
}

// close closes every socket; dnsd (being stopped) keeps its own copies
// until it exits.
func (d *dynamicListeners) close() {
	if d == nil {
		return
	}
	if d.events != nil {
		_ = d.events.Close() // a second Close (watch's) only returns an error
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for t, socks := range d.bound {
		closeSockets(socks)
		delete(d.bound, t)
	}
	d.conn = nil
}
