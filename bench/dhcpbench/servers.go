package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// serverSpec says how to start one server under test in dir.
type serverSpec struct {
	describe string
	// dropTime is perfdhcp's -d: how long an answer may take before the
	// request counts as dropped. The ping check delays every new OFFER
	// by its 3 s echo wait, so that server gets more.
	dropTime time.Duration
	start    func(b *bench, dir string) (*exec.Cmd, error)
}

// leaseMax is dhcp-lease-max for moat and dnsmasq: above the simulated
// clients (dnsmasq's default of 1000 would refuse most of them).
const leaseMax = 200000

var serverSpecs = map[string]serverSpec{
	"moat": {
		describe: "moat, no-ping, ACK after fsync",
		dropTime: time.Second,
		start:    func(b *bench, dir string) (*exec.Cmd, error) { return b.startMoat(dir, false) },
	},
	"moat-ping": {
		describe: "moat, ping check on, ACK after fsync",
		dropTime: 5 * time.Second,
		start:    func(b *bench, dir string) (*exec.Cmd, error) { return b.startMoat(dir, true) },
	},
	"dnsmasq": {
		describe: "dnsmasq --no-ping",
		dropTime: time.Second,
		start:    (*bench).startDnsmasq,
	},
	"kea": {
		describe: "Kea dhcp4, memfile",
		dropTime: time.Second,
		start:    (*bench).startKea,
	},
}

type bench struct {
	o    options
	dir  string
	link *link
}

// startLogged runs argv in the server namespace on the server CPU with
// its output in dir/server.log.
func (b *bench) startLogged(dir string, env []string, argv ...string) (*exec.Cmd, error) {
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	cmd := inNS(b.link.srvNS, b.o.serverCPU, argv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	logf.Close() // the child has its own descriptor
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	return cmd, nil
}

func (b *bench) startMoat(dir string, ping bool) (*exec.Cmd, error) {
	conf := fmt.Sprintf(`port=0
interface=%s
bind-interfaces
dhcp-range=%s,%s,%s,12h
dhcp-lease-max=%d
dhcp-leasefile=%s/leases
quiet-dhcp
pid-file=%s/moatd.pid
run-dir=%s/run
`, b.link.srvIf, poolStart, poolEnd, netmask, leaseMax, dir, dir, dir)
	if !ping {
		conf += "no-ping\n"
	}
	path := filepath.Join(dir, "moatd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return b.startLogged(dir, nil, b.o.moatd, "--conf-file="+path, "--keep-in-foreground", "--log-facility=-")
}

func (b *bench) startDnsmasq(dir string) (*exec.Cmd, error) {
	return b.startLogged(dir, nil, b.o.dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null",
		"--port=0", "--interface="+b.link.srvIf, "--bind-interfaces",
		fmt.Sprintf("--dhcp-range=%s,%s,%s,12h", poolStart, poolEnd, netmask),
		"--dhcp-lease-max="+strconv.Itoa(leaseMax), "--dhcp-leasefile="+filepath.Join(dir, "leases"),
		"--no-ping", "--quiet-dhcp", "--pid-file="+filepath.Join(dir, "dnsmasq.pid"), "--log-facility=-")
}

func (b *bench) startKea(dir string) (*exec.Cmd, error) {
	// UDP sockets suffice: perfdhcp acts as a relay (giaddr set), so
	// every answer is a unicast to it.
	conf := fmt.Sprintf(`{"Dhcp4": {
  "interfaces-config": {"interfaces": [%q], "dhcp-socket-type": "udp"},
  "lease-database": {"type": "memfile", "persist": true, "name": %q, "lfc-interval": 3600},
  "valid-lifetime": 43200,
  "subnet4": [{"id": 1, "subnet": "198.18.0.0/%d", "pools": [{"pool": "%s - %s"}]}],
  "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "WARN"}]
}}
`, b.link.srvIf, filepath.Join(dir, "leases.csv"), prefixLen, poolStart, poolEnd)
	path := filepath.Join(dir, "kea-dhcp4.json")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	// Kea's lock and pid files go to the work directory, not /run.
	return b.startLogged(dir, []string{"KEA_LOCKFILE_DIR=" + dir, "KEA_PIDFILE_DIR=" + dir}, b.o.kea, "-c", path)
}

// stop ends a server this program started: SIGTERM, then SIGKILL.
func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
