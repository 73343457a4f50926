package masterd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/testutil"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func ifc(name string, index int, addrs ...string) ifaceState {
	st := ifaceState{name: name, index: index, loopback: name == "lo"}
	for _, a := range addrs {
		st.addrs = append(st.addrs, netip.MustParseAddr(a))
	}
	return st
}

func target(ap string, scope int) dynTarget {
	return dynTarget{ap: netip.MustParseAddrPort(ap), scope: scope}
}

func TestDynamicTargets(t *testing.T) {
	ifaces := []ifaceState{
		ifc("lo", 1, "127.0.0.1", "::1"),
		ifc("eth0", 2, "192.0.2.1", "2001:db8::1", "fe80::1%eth0"),
		ifc("virbr0", 3, "192.168.122.1", "fe80::1%virbr0"),
		ifc("veth7", 4, "fe80::7%veth7"),
	}
	cfg := func(edit func(c *config.Config)) *config.Config {
		c := config.Defaults()
		edit(c)
		return c
	}
	tests := []struct {
		name string
		cfg  *config.Config
		want []dynTarget
	}{
		{"everything", cfg(func(c *config.Config) {}), []dynTarget{
			target("127.0.0.1:53", 0), target("192.0.2.1:53", 0), target("192.168.122.1:53", 0),
			target("[::1]:53", 0), target("[2001:db8::1]:53", 0),
			target("[fe80::1%eth0]:53", 2), target("[fe80::1%virbr0]:53", 3), target("[fe80::7%veth7]:53", 4),
		}},
		{"interface adds loopback", cfg(func(c *config.Config) { c.Interfaces = []string{"virbr0"} }), []dynTarget{
			target("127.0.0.1:53", 0), target("192.168.122.1:53", 0), target("[::1]:53", 0), target("[fe80::1%virbr0]:53", 3),
		}},
		{"interface that does not exist yet", cfg(func(c *config.Config) { c.Interfaces = []string{"virbr9"} }), []dynTarget{
			target("127.0.0.1:53", 0), target("[::1]:53", 0),
		}},
		{"wildcard and except-interface", cfg(func(c *config.Config) {
			c.Interfaces = []string{"v*"}
			c.ExceptInterfaces = []string{"veth*", "lo"}
		}), []dynTarget{target("192.168.122.1:53", 0), target("[fe80::1%virbr0]:53", 3)}},
		{"except-interface alone", cfg(func(c *config.Config) { c.ExceptInterfaces = []string{"eth0", "veth7"} }), []dynTarget{
			target("127.0.0.1:53", 0), target("192.168.122.1:53", 0), target("[::1]:53", 0), target("[fe80::1%virbr0]:53", 3),
		}},
		{"listen-address only: no loopback", cfg(func(c *config.Config) {
			c.ListenAddresses = []netip.Addr{netip.MustParseAddr("192.0.2.1")}
		}), []dynTarget{target("192.0.2.1:53", 0)}},
		{"listen-address found nowhere is still tried", cfg(func(c *config.Config) {
			c.ListenAddresses = []netip.Addr{netip.MustParseAddr("127.0.1.1"), netip.MustParseAddr("10.9.9.9")}
		}), []dynTarget{target("10.9.9.9:53", 0), target("127.0.1.1:53", 0)}},
		{"except-interface beats listen-address", cfg(func(c *config.Config) {
			c.ListenAddresses = []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("127.0.0.1")}
			c.ExceptInterfaces = []string{"eth0"}
		}), []dynTarget{target("127.0.0.1:53", 0)}},
		{"listen-address plus interface", cfg(func(c *config.Config) {
			c.ListenAddresses = []netip.Addr{netip.MustParseAddr("192.0.2.1")}
			c.Interfaces = []string{"veth7"}
		}), []dynTarget{target("127.0.0.1:53", 0), target("192.0.2.1:53", 0), target("[::1]:53", 0), target("[fe80::7%veth7]:53", 4)}},
		{"bare interface= is loopback only", cfg(func(c *config.Config) { c.Interfaces = []string{""} }), []dynTarget{
			target("127.0.0.1:53", 0), target("[::1]:53", 0),
		}},
		{"port", cfg(func(c *config.Config) { c.Interfaces = []string{"lo"}; c.Port = 5353 }), []dynTarget{
			target("127.0.0.1:5353", 0), target("[::1]:5353", 0),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dynamicTargets(tt.cfg, ifaces); !slices.Equal(got, tt.want) {
				t.Errorf("dynamicTargets =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

// An address on two interfaces (a VRRP address, a moved address) is one
// socket; the same link-local address on two interfaces is two.
func TestDynamicTargetsDuplicates(t *testing.T) {
	ifaces := []ifaceState{ifc("eth0", 2, "192.0.2.1", "fe80::1%eth0"), ifc("eth1", 3, "192.0.2.1", "fe80::1%eth1")}
	want := []dynTarget{target("192.0.2.1:53", 0), target("[fe80::1%eth0]:53", 2), target("[fe80::1%eth1]:53", 3)}
	if got := dynamicTargets(config.Defaults(), ifaces); !slices.Equal(got, want) {
		t.Errorf("dynamicTargets = %v, want %v", got, want)
	}
}

func TestDiffTargets(t *testing.T) {
	a, b, c := target("192.0.2.1:53", 0), target("192.0.2.2:53", 0), target("[fe80::1%eth0]:53", 2)
	recreated := target("[fe80::1%eth0]:53", 9) // eth0 removed and made again
	tests := []struct {
		name                string
		have                []dynTarget
		want                []dynTarget
		wantOpen, wantClose []dynTarget
	}{
		{"start", nil, []dynTarget{a, b}, []dynTarget{a, b}, nil},
		{"unchanged", []dynTarget{a, b}, []dynTarget{a, b}, nil, nil},
		{"one appears one goes", []dynTarget{a, c}, []dynTarget{a, b}, []dynTarget{b}, []dynTarget{c}},
		{"same address new interface index", []dynTarget{c}, []dynTarget{recreated}, []dynTarget{recreated}, []dynTarget{c}},
		{"all gone", []dynTarget{a, b, c}, nil, nil, []dynTarget{a, b, c}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have := map[dynTarget]bool{}
			for _, x := range tt.have {
				have[x] = true
			}
			open, closing := diffTargets(have, tt.want)
			if !slices.Equal(open, tt.wantOpen) || !slices.Equal(closing, tt.wantClose) {
				t.Errorf("diffTargets = open %v close %v, want open %v close %v", open, closing, tt.wantOpen, tt.wantClose)
			}
		})
	}
}

func TestCheckRunOptions(t *testing.T) {
	c := config.Defaults()
	c.BindInterfaces, c.Runtime.BindDynamic = true, true
	if err := checkRunOptions(c); err == nil || err.Error() != "cannot set --bind-interfaces and --bind-dynamic" {
		t.Errorf("bind-interfaces with bind-dynamic: %v, want dnsmasq's refusal", err)
	}
	c.BindInterfaces = false
	if err := checkRunOptions(c); err != nil {
		t.Errorf("bind-dynamic alone: %v", err)
	}
}

// fakeInterfaces is a scan whose result the test changes.
type fakeInterfaces struct {
	mu     sync.Mutex
	ifaces []ifaceState
}

func (f *fakeInterfaces) set(ifaces ...ifaceState) {
	f.mu.Lock()
	f.ifaces = ifaces
	f.mu.Unlock()
}

func (f *fakeInterfaces) scan() ([]ifaceState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ifaces), nil
}

// freeLoopbackPort is a port free for UDP and TCP on 127.0.0.1; the test
// uses it on other 127/8 addresses too, which lo holds.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		s, err := openUDP(netip.MustParseAddrPort("127.0.0.1:0"), false)
		if err != nil {
			t.Fatal(err)
		}
		sa, err := unix.Getsockname(int(s.file.Fd()))
		s.file.Close()
		if err != nil {
			t.Fatal(err)
		}
		port := sa.(*unix.SockaddrInet4).Port
		if socks, err := openDynamic(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))); err == nil {
			closeSockets(socks)
			return port
		}
	}
	t.Fatal("no port free for UDP and TCP in 20 tries")
	return 0
}

// dnsdEnd receives what the master sends, as dnsd would.
type dnsdEnd struct{ conn *ipc.Conn }

// next returns the next SocketsChanged, closing the descriptors (the test
// plays a dnsd that has gone, so only the master's copies remain).
func (e dnsdEnd) next(t *testing.T) *ipcpb.SocketsChanged {
	t.Helper()
	if err := e.conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	m, fds, err := e.conn.Recv()
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	sc := m.GetSocketsChanged()
	if sc == nil {
		t.Fatalf("received %s, want sockets_changed", ipc.MessageName(m))
	}
	return sc
}

// nothingPending checks that no message waits.
func (e dnsdEnd) nothingPending(t *testing.T) {
	t.Helper()
	_ = e.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if m, fds, err := e.conn.Recv(); err == nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		t.Errorf("unexpected %v", m)
	}
}

func socketNames(socks []*ipcpb.Socket) []string {
	var out []string
	for _, s := range socks {
		out = append(out, s.GetKind().String()+" "+s.GetAddress())
	}
	return out
}

// bindable reports whether the test can bind UDP on ap: false while the
// master (or anyone) holds it.
func bindable(t *testing.T, ap netip.AddrPort) bool {
	t.Helper()
	s, err := openUDP(ap, false)
	if err != nil {
		if !errors.Is(err, unix.EADDRINUSE) {
			t.Fatalf("bind %s: %v", ap, err)
		}
		return false
	}
	s.file.Close()
	return true
}

func TestDynamicListenersFollowAddresses(t *testing.T) {
	port := freeLoopbackPort(t)
	ap := func(a string) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(a), uint16(port)) }
	cfg := config.Defaults()
	cfg.Port = port
	cfg.Interfaces = []string{"dummy0"}
	log, logBuf := dynLogger()
	fake := &fakeInterfaces{}
	fake.set(ifc("dummy0", 5, "127.0.0.2"))
	d := newDynamicListeners(cfg, log, fake.scan)
	defer d.close()
	if err := d.refresh(); err != nil {
		t.Fatal(err)
	}
	if got, want := d.addresses(), []netip.AddrPort{ap("127.0.0.2")}; !slices.Equal(got, want) {
		t.Fatalf("bound %v, want %v", got, want)
	}

	mf, wf, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	master, worker := ipc.NewConn(mf), dnsdEnd{ipc.NewConn(wf)}
	defer master.Close()
	defer worker.conn.Close()
	if err := d.attach(master); err != nil {
		t.Fatal(err)
	}
	first := worker.next(t)
	if got, want := socketNames(first.GetAdded()), []string{"KIND_DNS_UDP " + ap("127.0.0.2").String(), "KIND_DNS_TCP " + ap("127.0.0.2").String()}; !slices.Equal(got, want) || len(first.GetRemoved()) != 0 {
		t.Errorf("attach sent added %v removed %v, want added %v", got, first.GetRemoved(), want)
	}

	// 127.0.0.3 appears, 127.0.0.2 moves to an interface not served.
	fake.set(ifc("dummy0", 5, "127.0.0.3"), ifc("dummy1", 6, "127.0.0.2"))
	if bindable(t, ap("127.0.0.2")) {
		t.Fatal("127.0.0.2 bindable while the master holds it")
	}
	if err := d.refresh(); err != nil {
		t.Fatal(err)
	}
	change := worker.next(t)
	if got, want := change.GetRemoved(), []string{ap("127.0.0.2").String()}; !slices.Equal(got, want) {
		t.Errorf("removed %v, want %v", got, want)
	}
	if got, want := socketNames(change.GetAdded()), []string{"KIND_DNS_UDP " + ap("127.0.0.3").String(), "KIND_DNS_TCP " + ap("127.0.0.3").String()}; !slices.Equal(got, want) {
		t.Errorf("added %v, want %v", got, want)
	}
	if !bindable(t, ap("127.0.0.2")) {
		t.Error("the master still holds 127.0.0.2's socket after it left the served interface")
	}

	// Nothing changed: nothing is sent.
	if err := d.refresh(); err != nil {
		t.Fatal(err)
	}
	worker.nothingPending(t)

	// An address that cannot be bound (not local) is logged once and
	// tried again at every change.
	fake.set(ifc("dummy0", 5, "127.0.0.3", "192.0.2.77"))
	for range 2 {
		if err := d.refresh(); err != nil {
			t.Fatal(err)
		}
	}
	worker.nothingPending(t)
	if n := strings.Count(logBuf.String(), "failed to create listening socket for 192.0.2.77"); n != 1 {
		t.Errorf("bind failure logged %d times, want once:\n%s", n, logBuf.String())
	}

	// A dnsd that went away is not written to again; its successor gets
	// the whole set.
	worker.conn.Close()
	fake.set(ifc("dummy0", 5, "127.0.0.3", "127.0.0.4"))
	if err := d.refresh(); err != nil {
		t.Fatal(err)
	}
	if d.conn != nil {
		t.Error("a failed send left the connection attached")
	}
	mf2, wf2, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	master2, worker2 := ipc.NewConn(mf2), dnsdEnd{ipc.NewConn(wf2)}
	defer master2.Close()
	defer worker2.conn.Close()
	if err := d.attach(master2); err != nil {
		t.Fatal(err)
	}
	if got, want := len(worker2.next(t).GetAdded()), 4; got != want {
		t.Errorf("a new dnsd got %d sockets, want %d (two addresses)", got, want)
	}
}

// TestDynamicListenersManyAddresses: more sockets than one message may
// carry travel in several.
func TestDynamicListenersManyAddresses(t *testing.T) {
	port := freeLoopbackPort(t)
	cfg := config.Defaults()
	cfg.Port = port
	log, _ := dynLogger()
	var addrs []string
	for i := range 20 {
		addrs = append(addrs, fmt.Sprintf("127.0.1.%d", i+1))
	}
	fake := &fakeInterfaces{}
	fake.set(ifc("lo", 1, addrs...))
	d := newDynamicListeners(cfg, log, fake.scan)
	defer d.close()
	if err := d.refresh(); err != nil {
		t.Fatal(err)
	}
	mf, wf, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	master, worker := ipc.NewConn(mf), dnsdEnd{ipc.NewConn(wf)}
	defer master.Close()
	defer worker.conn.Close()
	if err := d.attach(master); err != nil {
		t.Fatal(err)
	}
	if a, b := len(worker.next(t).GetAdded()), len(worker.next(t).GetAdded()); a != ipc.MaxFDs || a+b != 40 {
		t.Errorf("messages carried %d and %d sockets, want %d and %d", a, b, ipc.MaxFDs, 40-ipc.MaxFDs)
	}
	worker.nothingPending(t)
}

// TestScanInterfacesReadsTheKernel: the real dump finds the loopback
// interface and its address.
func TestScanInterfacesReadsTheKernel(t *testing.T) {
	ifaces, err := scanInterfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range ifaces {
		if st.loopback && slices.Contains(st.addrs, netip.MustParseAddr("127.0.0.1")) {
			return
		}
	}
	t.Errorf("no loopback interface with 127.0.0.1 in %+v", ifaces)
}

// TestDynamicWatchStopsWithContext: watch returns when its context ends,
// following rtnetlink or (without a subscription) polling.
func TestDynamicWatchStopsWithContext(t *testing.T) {
	for _, subscribed := range []bool{true, false} {
		t.Run(fmt.Sprintf("subscribed=%v", subscribed), func(t *testing.T) {
			log, _ := dynLogger()
			d := newDynamicListeners(config.Defaults(), log, (&fakeInterfaces{}).scan)
			if subscribed {
				if d.events, d.eventsErr = subscribeAddrEvents(); d.eventsErr != nil {
					t.Fatal(d.eventsErr)
				}
			} else {
				d.eventsErr = errors.New("no rtnetlink in this test")
			}
			defer d.close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				d.watch(ctx)
				close(done)
			}()
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("watch did not return after its context ended")
			}
		})
	}
}

func dynLogger() (*logger, *testutil.SyncBuffer) {
	buf := &testutil.SyncBuffer{}
	return &logger{w: buf, pid: os.Getpid()}, buf
}

// addrMessage builds an RTM_NEWADDR message as the kernel sends it.
func addrMessage(family, flags byte, index uint32, attrs ...[]byte) syscall.NetlinkMessage {
	data := []byte{family, 24, flags, 0, 0, 0, 0, 0}
	binary.NativeEndian.PutUint32(data[4:], index)
	for _, a := range attrs {
		data = append(data, a...)
	}
	return syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_NEWADDR}, Data: data}
}

func ifaAttr(typ uint16, value []byte) []byte {
	b := make([]byte, 4, 4+len(value)+3)
	binary.NativeEndian.PutUint16(b, uint16(4+len(value)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, value...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func TestParseAddrMessage(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.1").AsSlice()
	peer := netip.MustParseAddr("192.0.2.254").AsSlice()
	v6 := netip.MustParseAddr("2001:db8::1").AsSlice()
	tests := []struct {
		name   string
		m      syscall.NetlinkMessage
		want   ifAddr
		wantOK bool
	}{
		{"ipv4", addrMessage(unix.AF_INET, 0, 2, ifaAttr(unix.IFA_ADDRESS, v4), ifaAttr(unix.IFA_LOCAL, v4)),
			ifAddr{index: 2, addr: netip.MustParseAddr("192.0.2.1"), usable: true}, true},
		{"point-to-point: IFA_LOCAL is ours", addrMessage(unix.AF_INET, 0, 3, ifaAttr(unix.IFA_ADDRESS, peer), ifaAttr(unix.IFA_LOCAL, v4)),
			ifAddr{index: 3, addr: netip.MustParseAddr("192.0.2.1"), usable: true}, true},
		{"ipv6", addrMessage(unix.AF_INET6, 0, 4, ifaAttr(unix.IFA_ADDRESS, v6)),
			ifAddr{index: 4, addr: netip.MustParseAddr("2001:db8::1"), usable: true}, true},
		{"ipv6 tentative", addrMessage(unix.AF_INET6, unix.IFA_F_TENTATIVE, 4, ifaAttr(unix.IFA_ADDRESS, v6)),
			ifAddr{index: 4, addr: netip.MustParseAddr("2001:db8::1")}, true},
		{"ipv6 DAD failed in IFA_FLAGS", addrMessage(unix.AF_INET6, 0, 4, ifaAttr(unix.IFA_ADDRESS, v6), ifaAttr(unix.IFA_FLAGS, u32(unix.IFA_F_DADFAILED))),
			ifAddr{index: 4, addr: netip.MustParseAddr("2001:db8::1")}, true},
		{"IFA_FLAGS clears the short flags", addrMessage(unix.AF_INET6, unix.IFA_F_TENTATIVE, 4, ifaAttr(unix.IFA_ADDRESS, v6), ifaAttr(unix.IFA_FLAGS, u32(unix.IFA_F_PERMANENT))),
			ifAddr{index: 4, addr: netip.MustParseAddr("2001:db8::1"), usable: true}, true},
		{"family and address disagree", addrMessage(unix.AF_INET, 0, 2, ifaAttr(unix.IFA_ADDRESS, v6)), ifAddr{}, false},
		{"other family", addrMessage(unix.AF_PACKET, 0, 2, ifaAttr(unix.IFA_ADDRESS, v4)), ifAddr{}, false},
		{"no address", addrMessage(unix.AF_INET, 0, 2), ifAddr{}, false},
		{"short address", addrMessage(unix.AF_INET, 0, 2, ifaAttr(unix.IFA_ADDRESS, v4[:3])), ifAddr{}, false},
		{"short header", syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_NEWADDR}, Data: []byte{2, 24}}, ifAddr{}, false},
		{"not RTM_NEWADDR", syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_DELADDR}, Data: addrMessage(unix.AF_INET, 0, 2, ifaAttr(unix.IFA_ADDRESS, v4)).Data}, ifAddr{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseAddrMessage(tt.m)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("parseAddrMessage = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// FuzzParseAddrMessage: whatever the bytes, parsing neither panics nor
// returns an address of the wrong size for its family.
func FuzzParseAddrMessage(f *testing.F) {
	f.Add(addrMessage(unix.AF_INET, 0, 2, ifaAttr(unix.IFA_LOCAL, []byte{192, 0, 2, 1})).Data)
	f.Add(addrMessage(unix.AF_INET6, unix.IFA_F_TENTATIVE, 4, ifaAttr(unix.IFA_ADDRESS, make([]byte, 16)), ifaAttr(unix.IFA_FLAGS, u32(0))).Data)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := parseAddrMessage(syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_NEWADDR}, Data: data})
		if ok && (data[0] == unix.AF_INET) != got.addr.Is4() {
			t.Errorf("family %d, address %v", data[0], got.addr)
		}
	})
}

func TestMissingInterfaces(t *testing.T) {
	cfg := config.Defaults()
	cfg.Interfaces = []string{"", "lo", "virbr9", "veth*", "eth0", "tap0"}
	got := missingInterfaces(cfg, []ifaceState{ifc("lo", 1), ifc("eth0", 2)})
	if want := []string{"virbr9", "tap0"}; !slices.Equal(got, want) {
		t.Errorf("missingInterfaces = %v, want %v (wildcards and the bare interface= are never missing)", got, want)
	}
}
