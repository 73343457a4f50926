// Command goldengen records how dnsmasq 2.90 encodes dhcp-option values,
// for dhcpopts' golden test. It needs root (network namespaces) and the
// dnsmasq binary; run it from the module root:
//
//	go run ./internal/dhcpopts/testdata/goldengen < internal/dhcpopts/testdata/golden-specs.txt > internal/dhcpopts/testdata/dnsmasq-golden.txt
//
// Each input line is the value of a dhcp-option-force line. The tool
// first asks `dnsmasq --test` whether dnsmasq accepts it; accepted lines
// are grouped into batches with distinct option numbers, served by a real
// dnsmasq in a network namespace, and the option bytes of its OFFER to a
// DISCOVER (sent from a second namespace over a veth pair) are printed:
//
//	ok<TAB><spec><TAB><hex>
//	err<TAB><spec><TAB><dnsmasq's message>
package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	nsServer = "moatgold-s"
	nsClient = "moatgold-c"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "alloc" {
		if err := allocGolden(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "goldengen:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "client" {
		if err := client(); err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
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

type spec struct {
	text string
	code int // option number on the wire
}

func run() error {
	dir, err := os.MkdirTemp("", "goldengen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var specs []spec
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		conf := filepath.Join(dir, "test.conf")
		if err := os.WriteFile(conf, []byte("dhcp-option-force="+line+"\n"), 0o644); err != nil {
			return err
		}
		out, err := exec.Command("dnsmasq", "--test", "-C", conf).CombinedOutput()
		if err != nil {
			msg := strings.TrimSpace(string(out))
			msg = strings.TrimPrefix(msg, "dnsmasq: ")
			msg = strings.Split(msg, " at line ")[0]
			fmt.Printf("err\t%s\t%s\n", line, msg)
			continue
		}
		specs = append(specs, spec{text: line, code: wireCode(line)})
	}
	if err := sc.Err(); err != nil {
		return err
	}
	_ = exec.Command("ip", "netns", "del", nsServer).Run()
	_ = exec.Command("ip", "netns", "del", nsClient).Run()
	for _, c := range [][]string{
		{"ip", "netns", "add", nsServer},
		{"ip", "netns", "add", nsClient},
		{"ip", "link", "add", "mgs0", "netns", nsServer, "type", "veth", "peer", "name", "mgc0", "netns", nsClient},
		{"ip", "-n", nsServer, "addr", "add", "10.77.0.1/24", "dev", "mgs0"},
		{"ip", "-n", nsServer, "link", "set", "mgs0", "up"},
		{"ip", "-n", nsClient, "link", "set", "mgc0", "up"},
	} {
		if err := sh(c...); err != nil {
			return err
		}
	}
	defer exec.Command("ip", "netns", "del", nsServer).Run()
	defer exec.Command("ip", "netns", "del", nsClient).Run()

	// Batches: distinct wire codes, at most 8 specs each.
	for len(specs) > 0 {
		var batch, rest []spec
		used := map[int]bool{}
		for _, s := range specs {
			if len(batch) < 8 && !used[s.code] {
				used[s.code] = true
				batch = append(batch, s)
			} else {
				rest = append(rest, s)
			}
		}
		specs = rest
		if err := serve(dir, batch); err != nil {
			return err
		}
	}
	return nil
}

var codeRE = regexp.MustCompile(`^(?:(?:tag|set|vendor|encap|vi-encap):[^,]*,|[a-z][a-z0-9-]*,)*(?:option:([^,]+)|([0-9]+))`)

// wireCode is the option number that carries the value in the reply: the
// option itself, or 43/125/the encap option for sub-options.
func wireCode(s string) int {
	switch {
	case strings.Contains(s, "vendor:"):
		return 43
	case strings.Contains(s, "vi-encap:"):
		return 125
	case strings.HasPrefix(s, "encap:"):
		n, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(s, "encap:"), ",", 2)[0])
		return n
	}
	m := codeRE.FindStringSubmatch(s)
	if m == nil {
		return -1
	}
	if m[2] != "" {
		n, _ := strconv.Atoi(m[2])
		return n
	}
	return nameCodes[strings.ToLower(m[1])]
}

var nameCodes = map[string]int{}

func init() {
	out, err := exec.Command("dnsmasq", "--help", "dhcp").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				nameCodes[strings.ToLower(f[1])] = n
			}
		}
	}
}

func serve(dir string, batch []spec) error {
	var conf bytes.Buffer
	for _, s := range batch {
		fmt.Fprintf(&conf, "dhcp-option-force=%s\n", s.text)
	}
	path := filepath.Join(dir, "batch.conf")
	if err := os.WriteFile(path, conf.Bytes(), 0o644); err != nil {
		return err
	}
	srv := exec.Command("ip", "netns", "exec", nsServer, "dnsmasq", "-d", "--conf-file="+path,
		"--port=0", "--no-resolv", "--no-ping", "--interface=mgs0", "--bind-interfaces",
		"--dhcp-range=10.77.0.10,10.77.0.200,255.255.255.0,4w", "--dhcp-leasefile="+filepath.Join(dir, "leases"),
		"--pid-file=")
	var logs bytes.Buffer
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	}()
	time.Sleep(300 * time.Millisecond)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var out []byte
	for attempt := 0; attempt < 5; attempt++ {
		out, err = exec.Command("ip", "netns", "exec", nsClient, self, "client").Output()
		if err == nil {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("no offer for batch %v: %v\n%s", batch, err, logs.String())
	}
	opts := map[int]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, " ", 2)
		n, _ := strconv.Atoi(f[0])
		if len(f) == 2 {
			opts[n] = f[1]
		} else {
			opts[n] = ""
		}
	}
	for _, s := range batch {
		h, ok := opts[s.code]
		if !ok {
			fmt.Printf("missing\t%s\t\n", s.text)
			continue
		}
		fmt.Printf("ok\t%s\t%s\n", s.text, h)
	}
	return nil
}

// client sends one DISCOVER (vendor class PXEClient, max message size
// 1500) and prints "code hex" for each option of the OFFER.
func client() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "dhcp")
	defer f.Close()
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1); err != nil {
		return err
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return err
	}
	if err := syscall.BindToDevice(fd, "mgc0"); err != nil {
		return err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: 68}); err != nil {
		return err
	}
	pkt := make([]byte, 236)
	pkt[0], pkt[1], pkt[2] = 1, 1, 6
	copy(pkt[4:8], []byte{0x12, 0x34, 0x56, 0x78})
	pkt[10] = 0x80 // broadcast
	copy(pkt[28:34], []byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x01})
	if len(os.Args) > 2 {
		mac, err := net.ParseMAC(os.Args[2])
		if err != nil {
			return err
		}
		copy(pkt[28:34], mac)
	}
	pkt = append(pkt, 99, 130, 83, 99)
	pkt = append(pkt, 53, 1, 1, 57, 2, 0x05, 0xdc)
	pkt = append(pkt, 60, 9)
	pkt = append(pkt, "PXEClient"...)
	pkt = append(pkt, 255)
	if err := syscall.Sendto(fd, pkt, 0, &syscall.SockaddrInet4{Port: 67, Addr: [4]byte{255, 255, 255, 255}}); err != nil {
		return err
	}
	tv := syscall.Timeval{Sec: 2}
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for i := 0; i < 10; i++ {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		reply := buf[:n]
		if n < 240 || reply[0] != 2 || !bytes.Equal(reply[4:8], []byte{0x12, 0x34, 0x56, 0x78}) {
			continue
		}
		opts := parseOptions(reply[240:])
		if o, ok := opts[52]; ok && len(o) == 1 {
			if o[0]&1 != 0 {
				for k, v := range parseOptions(reply[108:236]) {
					opts[k] = v
				}
			}
			if o[0]&2 != 0 {
				for k, v := range parseOptions(reply[44:108]) {
					opts[k] = v
				}
			}
		}
		for k, v := range opts {
			fmt.Printf("%d %s\n", k, hex.EncodeToString(v))
		}
		fmt.Printf("yiaddr %d.%d.%d.%d\n", reply[16], reply[17], reply[18], reply[19])
		return nil
	}
	return fmt.Errorf("no offer")
}

func parseOptions(b []byte) map[int][]byte {
	out := map[int][]byte{}
	for i := 0; i < len(b); {
		c := b[i]
		if c == 0 {
			i++
			continue
		}
		if c == 255 || i+1 >= len(b) {
			break
		}
		l := int(b[i+1])
		if i+2+l > len(b) {
			break
		}
		out[int(c)] = append(out[int(c)], b[i+2:i+2+l]...)
		i += 2 + l
	}
	return out
}

// allocGolden records the address dnsmasq offers each MAC read from
// stdin, for the range given as arguments (dhcp-range value, then extra
// dnsmasq options): "goldengen alloc 10.77.0.10,10.77.0.200 [--dhcp-sequential-ip]".
func allocGolden(args []string) error {
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
		{"ip", "link", "add", "mgs0", "netns", nsServer, "type", "veth", "peer", "name", "mgc0", "netns", nsClient},
		{"ip", "-n", nsServer, "addr", "add", "10.77.0.1/16", "dev", "mgs0"},
		{"ip", "-n", nsServer, "addr", "add", "192.168.0.1/23", "dev", "mgs0"},
		{"ip", "-n", nsServer, "link", "set", "mgs0", "up"},
		{"ip", "-n", nsClient, "link", "set", "mgc0", "up"},
	} {
		if err := sh(c...); err != nil {
			return err
		}
	}
	defer exec.Command("ip", "netns", "del", nsServer).Run()
	defer exec.Command("ip", "netns", "del", nsClient).Run()
	srvArgs := append([]string{"netns", "exec", nsServer, "dnsmasq", "-d", "--port=0", "--no-ping",
		"--interface=mgs0", "--bind-interfaces", "--dhcp-range=" + args[0],
		"--dhcp-leasefile=" + filepath.Join(dir, "leases"), "--pid-file="}, args[1:]...)
	srv := exec.Command("ip", srvArgs...)
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	}()
	time.Sleep(300 * time.Millisecond)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		mac := strings.TrimSpace(sc.Text())
		if mac == "" {
			continue
		}
		out, err := exec.Command("ip", "netns", "exec", nsClient, self, "client", mac).Output()
		if err != nil {
			return fmt.Errorf("%s: %v", mac, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if a, ok := strings.CutPrefix(line, "yiaddr "); ok {
				fmt.Printf("%s %s %s\n", args[0], mac, a)
			}
		}
	}
	return sc.Err()
}
