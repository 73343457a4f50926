package masterd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os/user"
	"strconv"

	"github.com/moatdns/moat/internal/config"
)

// testModeChecks is what `moatd --test` checks beyond parsing: the checks
// the master makes at start that dnsmasq's --test makes too (dnsmasq does
// them while parsing). Checks dnsmasq leaves to its start (max-port below
// min-port, bind-interfaces with bind-dynamic, interfaces and addresses
// that do not exist) stay out, so that --test accepts what dnsmasq's
// accepts. Errors read like the parser's: "where: option: what".
func testModeChecks(cfg *config.Config) error {
	var errs []error
	// dnsmasq resolves a link-local server's scope interface while
	// parsing ("bad interface name"); the master would skip the server
	// with a log line.
	for _, s := range cfg.Servers {
		zone := s.Addr.Addr().Zone()
		if zone == "" {
			continue
		}
		if err := zoneExists(zone); err != nil {
			name := "server"
			if s.RevPrefix.IsValid() {
				name = "rev-server"
			}
			errs = append(errs, fmt.Errorf("%s: %s: %w", s.Source, name, err))
		}
	}
	// The same condition as checkUpstreamConfig's (dns_upstream.go), which
	// also checks the ports, as dnsmasq's --test does not.
	if cfg.Upstream.NoPoll && !cfg.NoResolv && len(cfg.ResolvFiles) > 1 {
		errs = append(errs, errors.New("no-poll: only one resolv.conf file allowed in no-poll mode"))
	}
	errs = append(errs, rootWorkerUsers(cfg)...)
	return errors.Join(errs...)
}

// rootWorkerUsers is moat's own refusal, which the start makes too
// (lookupAccount): no worker runs as uid 0 or group 0. dnsmasq accepts
// user=root, so a configuration switched from dnsmasq can carry it;
// --test says so rather than the start. A user or group this host does
// not have is left to the start, as dnsmasq's --test leaves it.
func rootWorkerUsers(cfg *config.Config) []error {
	var errs []error
	seen := map[string]bool{}
	for _, role := range workerRoles {
		name, option := cfg.RoleUser(role)
		if u, err := user.Lookup(name); err == nil && u.Uid == "0" && !seen[option] {
			seen[option] = true
			errs = append(errs, fmt.Errorf("%s: %s is uid 0: moat runs no worker as root (name an unprivileged user)", option, name))
		}
	}
	if cfg.Group != "" {
		if g, err := user.LookupGroup(cfg.Group); err == nil && g.Gid == "0" {
			errs = append(errs, fmt.Errorf("group: %s is gid 0: moat runs no worker in group 0 (name an unprivileged group)", cfg.Group))
		}
	}
	return errs
}

// zoneExists checks an address's zone as the master uses it: an interface
// name, or (moat's extension; dnsmasq knows names only) an index.
func zoneExists(zone string) error {
	if ix, err := strconv.Atoi(zone); err == nil {
		if _, err := net.InterfaceByIndex(ix); err != nil {
			return fmt.Errorf("scope %%%s: bad interface name (no interface has that index)", zone)
		}
		return nil
	}
	if _, err := net.InterfaceByName(zone); err != nil {
		return fmt.Errorf("scope %%%s: bad interface name (no such interface)", zone)
	}
	return nil
}

// runTestMode is `moatd --test`: the warnings a start would log (options
// accepted but not acted on: enable-dbus, dnssec, ipset...), then the
// checks above, then dnsmasq's verdict line. It returns the exit code.
func runTestMode(cfg *config.Config, w io.Writer) int {
	for _, warn := range cfg.Warnings() {
		fmt.Fprintf(w, "moatd: warning: %s\n", warn)
	}
	if err := testModeChecks(cfg); err != nil {
		fmt.Fprintf(w, "moatd: %v\n", err)
		return 1
	}
	fmt.Fprintln(w, "moatd: syntax check OK.")
	return 0
}
