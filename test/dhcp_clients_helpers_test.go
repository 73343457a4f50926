package test

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/testutil"
)

// Real DHCP clients, each run once in a client namespace with every file
// it writes (lease database, pid file, script output) in a temporary
// directory, so the test machine's own files stay untouched. Each client
// runs a script of ours that configures nothing and records its
// environment when it binds; clientLease reads that record.

// customOption is the site-specific option (RFC 2132 section 2: 224-254)
// the option tests configure and each client is told to ask for.
const (
	customOptionCode  = 224
	customOptionValue = "moat-custom"
)

// clientLease is what a client's script saw when it bound a lease, in
// each client's own words (env) and normalised.
type clientLease struct {
	addr    netip.Addr
	router  string // first router
	dns     string // DNS servers, space-separated
	domain  string
	custom  string // the custom option decoded as a string
	leaseTS string // lease time in seconds, as the client reported it
	env     map[string]string
}

// recordScript writes a client script that saves its environment to
// out.env (atomically, through a rename) when reason (or $1 for udhcpc)
// is one of the binding events, and exits 0 for every other event.
func recordScript(t *testing.T, dir string) (script, record string) {
	t.Helper()
	script = filepath.Join(dir, "record.sh")
	record = filepath.Join(dir, "out.env")
	body := fmt.Sprintf(`#!/bin/sh
# $1 is udhcpc's event; $reason is dhclient's and dhcpcd's.
case "$1:$reason" in
bound:*|*:BOUND|*:REBOOT|*:RENEW)
	env > %[1]s.tmp && mv %[1]s.tmp %[1]s ;;
esac
exit 0
`, record)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, record
}

// readEnvFile parses `env` output: NAME=value per line.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env, sc.Err()
}

// runClient runs argv inside ns until the record file appears or the
// process exits, then ends it (SIGKILL: no release is sent) and returns
// the recorded environment. Clients that stay in the foreground after
// binding (dhclient -d) are ended this way; one-shot ones exit by
// themselves.
func runClient(t *testing.T, ns *netns, record string, wrap []string, argv ...string) map[string]string {
	t.Helper()
	env, out, err := runClientOnce(ns, 25*time.Second, record, wrap, argv...)
	if err != nil {
		t.Fatalf("%s bound no lease: %v\n%s", argv[0], err, out)
	}
	return env
}

// runClientOnce is runClient without the test: it may run on any
// goroutine. It returns the client's output with the error.
func runClientOnce(ns *netns, limit time.Duration, record string, wrap []string, argv ...string) (map[string]string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	full := append([]string{"netns", "exec", ns.name}, append(wrap, argv...)...)
	cmd := exec.Command("ip", full...)
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s: %w", argv[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return <-exited
	}
	var exitErr error
wait:
	for {
		select {
		case exitErr = <-exited:
			break wait
		case <-ctx.Done():
			stop()
			exitErr = fmt.Errorf("still running after %v", limit)
			break wait
		case <-time.After(50 * time.Millisecond):
			if _, err := os.Stat(record); err == nil {
				// The lease is recorded; the client may stay to renew.
				stop()
				break wait
			}
		}
	}
	env, err := readEnvFile(record)
	if err != nil {
		return nil, out.String(), fmt.Errorf("no lease recorded (%v; exit: %v)", err, exitErr)
	}
	return env, out.String(), nil
}

// firstField returns the first space-separated word of s.
func firstField(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func parseLeaseAddr(t *testing.T, client, s string, env map[string]string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("%s recorded address %q: %v\nenv: %v", client, s, err, env)
	}
	return a
}

// runUdhcpc runs busybox udhcpc once (-q: quit once bound, -n: fail if
// no lease) on iface, asking for the custom option too. extra goes
// before the interface arguments (e.g. -C, -x 0x3d:...).
func runUdhcpc(t *testing.T, ns *netns, iface string, extra ...string) clientLease {
	t.Helper()
	testutil.RequireCommand(t, "busybox")
	dir := t.TempDir()
	script, record := recordScript(t, dir)
	env := runClient(t, ns, record, nil, udhcpcArgv(dir, script, iface, 5, extra...)...)
	l := clientLease{env: env, router: firstField(env["router"]), dns: env["dns"],
		domain: env["domain"], leaseTS: env["lease"]}
	l.addr = parseLeaseAddr(t, "udhcpc", env["ip"], env)
	// udhcpc passes options it has no name for as hex bytes.
	l.custom = decodeHexString(env[fmt.Sprintf("opt%d", customOptionCode)])
	return l
}

// udhcpcArgv is a one-shot udhcpc on iface: it quits once bound (-q),
// gives up after tries DISCOVERs a second apart (-n -t -T) and asks for
// the custom option too.
func udhcpcArgv(dir, script, iface string, tries int, extra ...string) []string {
	argv := append([]string{"busybox", "udhcpc", "-f", "-q", "-n", "-t", fmt.Sprint(tries), "-T", "1",
		"-s", script, "-p", filepath.Join(dir, "pid"), "-O", fmt.Sprint(customOptionCode)}, extra...)
	return append(argv, "-i", iface)
}

func decodeHexString(h string) string {
	var b []byte
	for i := 0; i+1 < len(h); i += 2 {
		var v byte
		if _, err := fmt.Sscanf(h[i:i+2], "%02x", &v); err != nil {
			return "undecodable hex " + h
		}
		b = append(b, v)
	}
	return string(b)
}

// runDhclient runs ISC dhclient in the foreground with its own config,
// lease file, pid file and script, and ends it once the script recorded
// the lease.
func runDhclient(t *testing.T, ns *netns, iface string) clientLease {
	t.Helper()
	testutil.RequireCommand(t, "dhclient")
	dir := t.TempDir()
	script, record := recordScript(t, dir)
	conf := filepath.Join(dir, "dhclient.conf")
	// The request list replaces dhclient's default one; the custom option
	// needs a declaration to be asked for and passed as a string.
	body := fmt.Sprintf(`option moat-custom code %d = string;
request subnet-mask, broadcast-address, routers, domain-name,
	domain-name-servers, dhcp-lease-time, moat-custom;
timeout 15;
retry 1;
`, customOptionCode)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	env := runClient(t, ns, record, nil, "dhclient", "-4", "-d", "-1", "-v",
		"-cf", conf, "-lf", filepath.Join(dir, "dhclient.leases"),
		"-pf", filepath.Join(dir, "dhclient.pid"), "-sf", script, iface)
	l := clientLease{env: env, router: firstField(env["new_routers"]), dns: env["new_domain_name_servers"],
		domain: env["new_domain_name"], custom: env["new_moat_custom"], leaseTS: env["new_dhcp_lease_time"]}
	l.addr = parseLeaseAddr(t, "dhclient", env["new_ip_address"], env)
	return l
}

// runDhcpcd runs dhcpcd once (-1) for IPv4 with a config of ours and our
// script instead of its hooks. dhcpcd keeps its database and run files in
// fixed places (/var/lib/dhcpcd, /run), so it runs in a mount namespace
// of its own with fresh tmpfs there: nothing of the machine's is written.
func runDhcpcd(t *testing.T, ns *netns, iface string) clientLease {
	t.Helper()
	testutil.RequireCommand(t, "dhcpcd")
	testutil.RequireCommand(t, "unshare")
	dir := t.TempDir()
	script, record := recordScript(t, dir)
	conf := filepath.Join(dir, "dhcpcd.conf")
	// noarp: no ARP probe of the offered address (seconds of waiting);
	// the custom option is defined, then requested by name.
	body := fmt.Sprintf(`define %d string moat_custom
option moat_custom
option domain_name_servers, domain_name, routers
ipv4only
noarp
noipv4ll
nohook resolv.conf, hostname
`, customOptionCode)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	wrap := []string{"unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs moat-dhcpcd /var/lib/dhcpcd && mount -t tmpfs moat-dhcpcd /run && exec "$@"`, "sh"}
	env := runClient(t, ns, record, wrap, "dhcpcd", "-4", "-1", "-B", "-d", "-t", "15",
		"-f", conf, "-c", script, iface)
	l := clientLease{env: env, router: firstField(env["new_routers"]), dns: env["new_domain_name_servers"],
		domain: env["new_domain_name"], custom: env["new_moat_custom"], leaseTS: env["new_dhcp_lease_time"]}
	l.addr = parseLeaseAddr(t, "dhcpcd", env["new_ip_address"], env)
	return l
}
