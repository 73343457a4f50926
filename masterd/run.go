// Package masterd is moat's only privileged code: it parses the
// configuration, opens every listening socket, starts the dnsd and dhcpd
// workers confined, supervises and restarts them, reads every file they
// need and relays it over IPC, and answers signals. It trusts no worker.
package masterd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/moatdns/moat/internal/config"
)

// DefaultConfigFile is read when the command line names no conf-file, as
// dnsmasq reads /etc/dnsmasq.conf: switching is a change of binary name.
const DefaultConfigFile = "/etc/dnsmasq.conf"

// Version is moat's release, printed by --version and logged at start.
const Version = "0.1.0"

// master is the running master process.
type master struct {
	cfg     *config.Config
	log     *logger
	sandbox sandboxPlan
	plan    listenPlan
	dns     dnsData
	dhcp    dhcpData      // dhcpd's configuration and hosts files (dhcpdata.go)
	leases  *leaseService // dhcpd's lease commits (dhcpleases.go); nil without DHCP
	sups    []*supervisor
	exe     string         // worker binary; "" = selfExe (tests set it)
	stats   statsState     // area D: SIGUSR1 requests to dnsd (stats.go)
	script  *scriptService // issue 4: the dhcp-script helper (dhcpscript.go); nil without dhcp-script

	// dynamic holds bind-dynamic's sockets; nil without it (area H,
	// binddynamic.go).
	dynamic *dynamicListeners

	filters *socketFilters // issue 5: socket filters (sockfilter.go); nil without DNS

	fatal chan error // issue 7: a worker that keeps dying ends the master (supervise.go: fail)

	// sd is the conversation with systemd after READY=1 (sdnotify.go);
	// nil outside systemd. Only the main loop sets it.
	sd *sdSession
}

// Run is the master's main; it returns the process exit code.
func Run(args []string) int {
	if wantPrintPolicy(args) { // issue 7: every role's privileges, for docs/policy.md (printpolicy.go)
		return printPolicyMain(args, os.Stdout, os.Stderr)
	}
	cfg, err := config.Parse(args, DefaultConfigFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "moatd: %v\n", err)
		return 1
	}
	switch {
	case cfg.Help:
		printHelp(os.Stdout)
		return 0
	case cfg.Version:
		fmt.Printf("moatd version %s (reads dnsmasq 2.90's configuration language)\n", Version)
		return 0
	case cfg.PrintConfig:
		fmt.Print(cfg.String())
		return 0
	case cfg.Test:
		return runTestMode(cfg, os.Stderr) // warnings, then what dnsmasq --test checks beyond parsing (testmode.go)
	case cfg.CheckSandbox:
		return checkSandbox(cfg)
	case !cfg.KeepInForeground && !cfg.NoDaemon && os.Getenv(readyFDEnv) == "":
		return daemonize(args)
	}
	ready := daemonReadyNotifier()
	if err := runMaster(cfg, ready); err != nil {
		ready.fail(err)
		fmt.Fprintf(os.Stderr, "moatd: %v\n", err)
		return 1
	}
	return 0
}

// runMaster opens everything, starts the workers and serves signals until
// SIGTERM or SIGINT.
func runMaster(cfg *config.Config, ready *readyNotifier) error {
	log, err := newLogger(cfg.LogFacility, cfg.NoDaemon)
	if err != nil {
		return err
	}
	defer log.close()
	logConfigWarnings(cfg, log) // issue 6: options accepted but not acted on (log.go)
	m := &master{cfg: cfg, log: log, fatal: make(chan error, 1)}
	if m.sandbox, err = planSandbox(cfg); err != nil {
		return err
	}
	m.sandbox.logHardening(log) // issue 7: the deployment mode's layers, once (hardening.go)

	if err := checkRunOptions(cfg); err != nil { // area H: bind-interfaces with bind-dynamic (binddynamic.go)
		return err
	}
	var dnsSockets []openSocket
	if cfg.Port != 0 && cfg.Runtime.BindDynamic { // area H: the sockets follow the addresses (binddynamic.go)
		if m.dynamic, m.plan, err = startBindDynamic(cfg, log); err != nil {
			return err
		}
		defer m.dynamic.close()
	}
	if cfg.Port != 0 && !cfg.Runtime.BindDynamic {
		if m.plan, err = planListeners(cfg); err != nil {
			return err
		}
		if dnsSockets, err = openDNSSockets(m.plan, cfg.Port); err != nil {
			return err
		}
		defer closeSockets(dnsSockets)
		log.auditSockets(auditSocketOpen, dnsSockets) // issue 7 (audit.go)
	}
	pidFile := cfg.PidFile
	if pidFile != "" {
		if err := writePidFile(pidFile); err != nil {
			return err
		}
		defer os.Remove(pidFile)
	}

	if cfg.Port != 0 {
		if err := m.dns.load(cfg, m.plan, log); err != nil {
			return err
		}
		if dnsSockets, err = m.startSocketFilters(cfg, dnsSockets); err != nil { // issue 5 (sockfilter.go)
			return err
		}
		defer m.filters.close(log)
		if m.dynamic != nil { // bind-dynamic's sockets get the listener filter too
			m.dynamic.setListenerFilter(m.filters.listener)
		}
		m.sups = append(m.sups, newSupervisor(m, "dnsd", dnsSockets, m.dns.send))
	} else {
		log.printf("master", "DNS service disabled (port=0)")
	}
	if cfg.DHCP.Enabled() {
		if err := m.dhcp.load(cfg, log); err != nil {
			return err
		}
		if m.leases, err = openLeaseService(cfg, m.dhcp.hasHostAddr, log); err != nil {
			return err
		}
		defer m.leases.close()
		dhcpSockets, err := openDHCPSockets(cfg, log)
		if err != nil {
			return err
		}
		defer closeSockets(dhcpSockets)
		log.auditSockets(auditSocketOpen, dhcpSockets) // issue 7 (audit.go)
		dhcpLinks, err := openDHCPLinks(cfg, log)      // issue 4: each interface's sockets, as interfaces come and go (dhcp_links.go)
		if err != nil {
			return err
		}
		defer dhcpLinks.close()
		m.sups = append(m.sups, newSupervisor(m, "dhcpd", dhcpSockets, m.configureDHCP(dhcpLinks)))
		stopScript, err := m.startScript() // issue 4: the dhcp-script helper (dhcpscript.go)
		if err != nil {
			return err
		}
		defer stopScript()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range m.sups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx)
		}()
	}
	wg.Add(1)
	go func() { // area D: local networks and neighbours for dnsd (stats.go)
		defer wg.Done()
		m.refreshNetState(ctx)
	}()
	wg.Add(1)
	go func() { // area C: resolv-file polling (resolvpoll.go)
		defer wg.Done()
		m.pollResolv(ctx)
	}()
	wg.Add(1)
	go func() { // area A: hostsdir and interface addresses for dnsd (dns_hostsdir.go)
		defer wg.Done()
		m.watchLocalData(ctx)
	}()
	wg.Add(1)
	go func() { // issue 4: interface= and except-interface as interfaces come and go (listen_follow.go)
		defer wg.Done()
		m.followInterfaces(ctx)
	}()
	wg.Add(1)
	go func() { // issue 4: lease expiry and lease names for dnsd (dhcpleases.go, dhcpnames.go)
		defer wg.Done()
		m.serveLeases(ctx)
	}()
	wg.Add(1)
	go func() { // area H: bind-dynamic follows address changes (binddynamic.go)
		defer wg.Done()
		m.dynamic.watch(ctx)
	}()
	wg.Add(1)
	go func() { // issue 6: moatctl's control socket and /metrics (control.go, metrics.go)
		defer wg.Done()
		m.serveControl(ctx)
	}()
	defer wg.Wait()

	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(signals)

	started := time.Now()
	allReady := m.allReady(ctx)
	var heartbeat <-chan time.Time // the watchdog's proof that this loop runs (sdnotify.go)
	for {
		select {
		case err := <-m.fatal: // issue 7: a worker kept dying (supervise.go)
			cancel()
			return err
		case <-allReady:
			allReady = nil
			log.printf("master", "started, version %s cachesize %d, ready in %v", Version, cfg.CacheSize, time.Since(started).Round(time.Millisecond))
			ready.ok()
			m.notifySystemd(ctx, &wg) // issue 6: READY=1, watchdog, reload and stop notices for systemd (sdnotify.go)
			heartbeat = m.sd.heartbeatTicks(ctx)
		case <-heartbeat:
			m.sd.beat()
		case sig := <-signals:
			switch sig {
			case syscall.SIGHUP:
				m.sd.reloading() // RELOADING=1 ... READY=1 once done (sdnotify.go)
				m.reload()
				m.sd.reloaded()
			case syscall.SIGUSR1:
				m.dumpStats() // area D: statistics to the log (stats.go)
				// issue 5: socket filter counters (sockfilter.go)
				m.filters.logStats(log)
			case syscall.SIGUSR2:
				log.reopenOnSignal() // issue 6: reopen the log file, as dnsmasq (log.go)
			default:
				log.printf("master", "exiting on receipt of %v", sig)
				cancel()
				return nil
			}
		}
	}
}

// allReady is closed once every worker has been ready once.
func (m *master) allReady(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for _, s := range m.sups {
			select {
			case <-s.firstReady:
			case <-ctx.Done():
				return
			}
		}
		close(done)
	}()
	return done
}

// reload does what dnsmasq's SIGHUP does: re-read hosts files and
// resolv-file and hand dnsd the new generation (which also clears its
// cache), and re-read dhcp-hostsfile and /etc/ethers for dhcpd.
func (m *master) reload() {
	if m.cfg.DHCP.Enabled() {
		m.reloadDHCP()
	}
	m.script.rerun() // issue 4: "old" for every lease, as dnsmasq's SIGHUP (dhcpscript.go)
	if m.cfg.Port == 0 {
		return
	}
	if err := m.dns.load(m.cfg, m.plan, m.log); err != nil {
		m.log.printf("master", "reload: %v (keeping the old data)", err)
		return
	}
	if err := m.withRole("dnsd", m.dns.send); err != nil {
		m.log.printf("master", "reload: send to dnsd: %v", err)
	}
}

// reloadDHCP re-reads dhcpd's files and sends it the new generation; on
// failure dhcpd keeps the old one.
func (m *master) reloadDHCP() {
	if err := m.dhcp.load(m.cfg, m.log); err != nil {
		m.log.printf("master", "reload: %v (keeping the old DHCP data)", err)
		return
	}
	if err := m.withRole("dhcpd", m.dhcp.send); err != nil {
		m.log.printf("master", "reload: send to dhcpd: %v", err)
	}
}

// writePidFile writes the master's pid; dnsmasq writes it before dropping
// privileges, and so do we.
func writePidFile(path string) error {
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("pid-file: %w", err)
	}
	return nil
}
