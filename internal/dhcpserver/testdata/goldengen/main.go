// Command goldengen records how dnsmasq 2.90 answers scripted DHCP
// exchanges, for dhcpserver's golden test. It needs root (network
// namespaces) and the dnsmasq binary; run it from the module root:
//
//	go run ./internal/dhcpserver/testdata/goldengen < internal/dhcpserver/testdata/golden-scenarios.txt > internal/dhcpserver/testdata/dnsmasq-exchanges.txt
//
// Each scenario runs a fresh dnsmasq (--no-ping, its own lease file) on
// 10.77.0.1/24 in one namespace; a client in a second namespace, over a
// veth pair, sends each step's packet and captures what comes back on its
// link (AF_PACKET, so unicast replies to an address it does not have are
// seen too). The output has, per scenario, the options; per step the
// packet sent; per reply its IP destination, Ethernet destination and
// bytes:
//
//	scenario<TAB>name<TAB>dnsmasq options
//	send<TAB>source address:port<TAB>destination address<TAB>hex
//	reply<TAB>address:port<TAB>MAC<TAB>hex
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	nsServer  = "moatdx-s"
	nsClient  = "moatdx-c"
	ifServer  = "mxs0"
	ifClient  = "mxc0"
	serverNet = "10.77.0.1/24"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "client" {
		err = client(os.Args[2:])
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "goldengen:", err)
		os.Exit(1)
	}
}

func sh(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

type scenario struct {
	name   string
	args   []string
	routes [][]string // ip route arguments in the server's namespace
	steps  []string
}

func readScenarios() ([]scenario, error) {
	var out []scenario
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "scenario "):
			out = append(out, scenario{name: strings.TrimPrefix(line, "scenario ")})
		case len(out) == 0:
			return nil, fmt.Errorf("%q before the first scenario", line)
		case strings.HasPrefix(line, "args "):
			out[len(out)-1].args = strings.Fields(strings.TrimPrefix(line, "args "))
		case strings.HasPrefix(line, "route "):
			out[len(out)-1].routes = append(out[len(out)-1].routes, strings.Fields(strings.TrimPrefix(line, "route ")))
		default:
			out[len(out)-1].steps = append(out[len(out)-1].steps, line)
		}
	}
	return out, sc.Err()
}

func run() error {
	scenarios, err := readScenarios()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "goldengen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	_ = exec.Command("ip", "netns", "del", nsServer).Run()
	_ = exec.Command("ip", "netns", "del", nsClient).Run()
	for _, c := range [][]string{
		{"ip", "netns", "add", nsServer},
		{"ip", "netns", "add", nsClient},
		{"ip", "link", "add", ifServer, "netns", nsServer, "type", "veth", "peer", "name", ifClient, "netns", nsClient},
		{"ip", "-n", nsServer, "addr", "add", serverNet, "dev", ifServer},
		{"ip", "-n", nsServer, "link", "set", ifServer, "up"},
		{"ip", "-n", nsClient, "link", "set", ifClient, "up"},
		{"ip", "-n", nsClient, "link", "set", ifClient, "promisc", "on"},
	} {
		if err := sh(c...); err != nil {
			return err
		}
	}
	defer exec.Command("ip", "netns", "del", nsServer).Run()
	defer exec.Command("ip", "netns", "del", nsClient).Run()
	for _, s := range scenarios {
		if err := play(dir, s); err != nil {
			return fmt.Errorf("scenario %s: %w", s.name, err)
		}
	}
	return nil
}

func play(dir string, s scenario) error {
	leases := filepath.Join(dir, s.name+".leases")
	args := append([]string{"netns", "exec", nsServer, "dnsmasq", "-d", "--port=0", "--no-ping", "--interface=" + ifServer,
		"--bind-interfaces", "--dhcp-leasefile=" + leases, "--pid-file=", "--log-dhcp"}, s.args...)
	srv := exec.Command("ip", args...)
	logf, err := os.Create(filepath.Join(dir, s.name+".log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	}()
	for _, r := range s.routes {
		if err := sh(append([]string{"ip", "-n", nsServer, "route", "add"}, r...)...); err != nil {
			return err
		}
		defer exec.Command("ip", append([]string{"-n", nsServer, "route", "del"}, r...)...).Run()
	}
	time.Sleep(400 * time.Millisecond)
	fmt.Printf("scenario\t%s\t%s\n", s.name, strings.Join(s.args, " "))
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for i, step := range s.steps {
		pkt, from, to, extra, err := build(step, uint32(i+1))
		if err != nil {
			return fmt.Errorf("%q: %w", step, err)
		}
		for _, a := range extra {
			if err := sh("ip", "-n", nsClient, "addr", "add", a, "dev", ifClient); err != nil {
				return err
			}
		}
		src := netip.AddrPortFrom(netip.IPv4Unspecified(), 68)
		if from.IsValid() {
			src = netip.AddrPortFrom(from, 68)
			if err := sh("ip", "-n", nsClient, "addr", "add", from.String()+"/24", "dev", ifClient); err != nil {
				return err
			}
		}
		fmt.Printf("send\t%s\t%s\t%s\n", src, to, hex.EncodeToString(pkt))
		out, err := exec.Command("ip", "netns", "exec", nsClient, self, "client", ifClient, from.String(), to.String(), hex.EncodeToString(pkt)).Output()
		if from.IsValid() {
			_ = sh("ip", "-n", nsClient, "addr", "del", from.String()+"/24", "dev", ifClient)
		}
		for _, a := range extra {
			_ = sh("ip", "-n", nsClient, "addr", "del", a, "dev", ifClient)
		}
		if err != nil {
			log, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("client: %v\n%s", err, log)
		}
		os.Stdout.Write(out)
	}
	return nil
}

// build makes the packet of one step.
func build(step string, xid uint32) (pkt []byte, from, to netip.Addr, extra []string, err error) {
	f := strings.Fields(step)
	types := map[string]byte{"discover": 1, "request": 3, "decline": 4, "release": 7, "inform": 8, "bootp": 0}
	typ, ok := types[f[0]]
	if !ok {
		return nil, from, to, nil, fmt.Errorf("unknown message %q", f[0])
	}
	to = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	p := make([]byte, 240)
	p[0], p[1], p[2] = 1, 1, 6
	mac, _ := net.ParseMAC("02:00:00:00:00:01")
	var opts []byte
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "bcast":
			p[10] = 0x80
		case "mac":
			if mac, err = net.ParseMAC(v); err != nil {
				return nil, from, to, nil, err
			}
		case "xid":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, from, to, nil, err
			}
			xid = uint32(n)
		case "ciaddr", "giaddr":
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, from, to, nil, err
			}
			b := a.As4()
			copy(p[map[string]int{"ciaddr": 12, "giaddr": 24}[k]:], b[:])
		case "from":
			if from, err = netip.ParseAddr(v); err != nil {
				return nil, from, to, nil, err
			}
		case "to":
			if to, err = netip.ParseAddr(v); err != nil {
				return nil, from, to, nil, err
			}
		case "addr":
			extra = append(extra, v)
		case "file":
			copy(p[108:235], v)
		case "opt", "str":
			c, data, _ := strings.Cut(v, ":")
			code, err := strconv.ParseUint(c, 10, 8)
			if err != nil {
				return nil, from, to, nil, err
			}
			b := []byte(data)
			if k == "opt" {
				if b, err = hex.DecodeString(data); err != nil {
					return nil, from, to, nil, err
				}
			}
			opts = append(append(opts, byte(code), byte(len(b))), b...)
		default:
			return nil, from, to, nil, fmt.Errorf("unknown field %q", k)
		}
	}
	binary.BigEndian.PutUint32(p[4:], xid)
	copy(p[28:], mac)
	copy(p[236:], []byte{99, 130, 83, 99})
	if f[0] != "bootp" {
		p = append(p, 53, 1, typ)
	}
	p = append(append(p, opts...), 255)
	return p, from, to, extra, nil
}

// client sends one packet from port 68 and prints the DHCP messages to
// port 68 (clients) or 67 (relays) seen on the link within a short wait.
func client(args []string) error {
	ifname, from, to, pktHex := args[0], args[1], args[2], args[3]
	pkt, err := hex.DecodeString(pktHex)
	if err != nil {
		return err
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	const ethPIP = 0x0800
	proto := int(ethPIP>>8 | (ethPIP&0xff)<<8)
	cfd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, proto)
	if err != nil {
		return err
	}
	defer syscall.Close(cfd)
	if err := syscall.Bind(cfd, &syscall.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifi.Index}); err != nil {
		return err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	for _, o := range []int{syscall.SO_BROADCAST, syscall.SO_REUSEADDR} {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, o, 1); err != nil {
			return err
		}
	}
	if err := syscall.BindToDevice(fd, ifname); err != nil {
		return err
	}
	var bind [4]byte
	if a, err := netip.ParseAddr(from); err == nil {
		bind = a.As4()
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: 68, Addr: bind}); err != nil {
		return err
	}
	dst := netip.MustParseAddr(to).As4()
	if err := syscall.Sendto(fd, pkt, 0, &syscall.SockaddrInet4{Port: 67, Addr: dst}); err != nil {
		return err
	}
	tv := syscall.Timeval{Usec: 100000}
	if err := syscall.SetsockoptTimeval(cfd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	buf := make([]byte, 65536)
	deadline := time.Now().Add(600 * time.Millisecond)
	for time.Now().Before(deadline) {
		n, sa, err := syscall.Recvfrom(cfd, buf, 0)
		if err != nil {
			continue // timeout: look at the clock again
		}
		if ll, ok := sa.(*syscall.SockaddrLinklayer); !ok || ll.Pkttype == syscall.PACKET_OUTGOING || n < 14+20+8 {
			continue
		}
		dmac, ip := net.HardwareAddr(buf[:6]), buf[14:n]
		ihl := int(ip[0]&15) * 4
		if ip[9] != syscall.IPPROTO_UDP || len(ip) < ihl+8 {
			continue
		}
		udp := ip[ihl:]
		port := binary.BigEndian.Uint16(udp[2:])
		if port != 68 && port != 67 {
			continue
		}
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), port)
		fmt.Printf("reply\t%s\t%s\t%s\n", dst, dmac, hex.EncodeToString(udp[8:]))
	}
	return nil
}
