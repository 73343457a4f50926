package masterd

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/moatdns/moat/internal/testutil"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

var linksNetnsCounter atomic.Int32

// inNamedNetns runs fn inside a new named network namespace (so that
// ip(8) can change its interfaces with -n), on the test's own goroutine,
// locked to its thread and never unlocked: the thread, left in the
// namespace, ends with the test. The namespace is removed afterwards.
func inNamedNetns(t *testing.T, fn func(ns string)) {
	t.Helper()
	testutil.RequireRoot(t, "a network namespace and veth interfaces")
	ns := fmt.Sprintf("moat-links-%d-%d", os.Getpid(), linksNetnsCounter.Add(1))
	ip(t, "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	runtime.LockOSThread()
	f, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	fn(ns)
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Errorf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// nextChange reads the next message, which must be a DHCPSocketsChanged,
// and closes its descriptors.
func nextChange(t *testing.T, c *ipc.Conn) (*ipcpb.DHCPSocketsChanged, int) {
	t.Helper()
	m, fds, err := c.Recv()
	closeFDs(fds)
	if err != nil {
		t.Fatal(err)
	}
	sc := m.GetDhcpSocketsChanged()
	if sc == nil {
		t.Fatalf("got %s, want DHCPSocketsChanged", ipc.MessageName(m))
	}
	return sc, len(fds)
}

func nextInterfaces(t *testing.T, c *ipc.Conn) []*ipcpb.DHCPInterface {
	t.Helper()
	m, fds, err := c.Recv()
	closeFDs(fds)
	if err != nil {
		t.Fatal(err)
	}
	if m.GetDhcpInterfaces() == nil {
		t.Fatalf("got %s, want DHCPInterfaces", ipc.MessageName(m))
	}
	return m.GetDhcpInterfaces().GetInterfaces()
}

// TestDHCPLinksFollowInterfaces: an interface created after start with an
// address in a dhcp-range gets its sockets, sent to dhcpd with its
// description; one deleted is named as removed (its sockets closed); one
// re-created under the same name gets new sockets.
func TestDHCPLinksFollowInterfaces(t *testing.T) {
	inNamedNetns(t, func(ns string) {
		cfg := parseConfig(t, "--port=0", "--dhcp-range=10.7.0.50,10.7.0.99,1h")
		log, out := testLogger()
		d, err := openDHCPLinks(cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		defer d.close()
		if len(d.links) != 0 {
			t.Errorf("links at start: %v, want none", d.names())
		}
		master, worker := testConnPair(t)
		d.conn = master

		addLink := func() {
			ip(t, "-n", ns, "link", "add", "br7", "type", "veth", "peer", "name", "br7p")
			ip(t, "-n", ns, "addr", "add", "10.7.0.1/24", "dev", "br7")
			ip(t, "-n", ns, "link", "set", "br7", "up")
		}
		addLink()
		d.refresh()
		sc, fds := nextChange(t, worker)
		if fds != 2 || len(sc.GetAdded()) != 2 || len(sc.GetInterfaces()) != 1 || sc.GetInterfaces()[0].GetName() != "br7" ||
			strings.Join(sc.GetInterfaces()[0].GetPrefixes(), ",") != "10.7.0.1/24" {
			t.Errorf("appeared: %v with %d descriptors, want br7's two sockets", sc, fds)
		}
		if ifs := nextInterfaces(t, worker); len(ifs) != 1 || ifs[0].GetName() != "br7" {
			t.Errorf("interfaces after br7 appeared: %v", ifs)
		}
		firstIndex := d.links["br7"].index
		udp := d.links["br7"].socks[0].file

		ip(t, "-n", ns, "link", "del", "br7")
		d.refresh()
		if sc, fds := nextChange(t, worker); fds != 0 || strings.Join(sc.GetRemoved(), ",") != "br7" || len(sc.GetAdded()) != 0 {
			t.Errorf("deleted: %v, want br7 removed", sc)
		}
		if ifs := nextInterfaces(t, worker); len(ifs) != 0 {
			t.Errorf("interfaces after br7 went: %v", ifs)
		}
		if _, err := udp.Stat(); err == nil {
			t.Error("the deleted interface's socket is still open in the master")
		}

		addLink()
		d.refresh()
		if sc, fds := nextChange(t, worker); fds != 2 || sc.GetInterfaces()[0].GetIndex() == uint32(firstIndex) {
			t.Errorf("re-created: %v with %d descriptors, want new sockets on a new index (old %d)", sc, fds, firstIndex)
		}
		nextInterfaces(t, worker)
		for _, want := range []string{"DHCP interface br7 appeared", "DHCP interface br7: gone"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, out.String())
			}
		}
	})
}
