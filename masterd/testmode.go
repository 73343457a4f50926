package masterd

import (
	"errors"
	"fmt"
	"io"
	"net"
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
	return errors.Join(errs...)
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
