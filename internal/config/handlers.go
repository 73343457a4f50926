package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Handlers for the options moat implements, one per option, in the order
// of Config's fields. Each follows dnsmasq 2.90's one_opt() for that
// option; where dnsmasq silently accepts nonsense (an empty number reads
// as 0, cache sizes above the maximum are clamped, unknown log-queries
// words are ignored) moat reports an error instead.

var errMissingValue = errors.New("missing value")

// parseDecimal reads a non-negative decimal number as dnsmasq's
// atoi_check does (digits only: no sign, no spaces, no 0x).
func parseDecimal(s string, max int, what string) (int, error) {
	if s == "" {
		return 0, errors.New("empty value")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not %s", s, what)
		}
	}
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
		if n > max {
			return 0, fmt.Errorf("%q is out of range (0 to %d)", s, max)
		}
	}
	return n, nil
}

func setPort(p *parser, v value, _ location) error {
	n, err := parseDecimal(v.text, 65535, "a port number")
	if err != nil {
		return err
	}
	p.cfg.Port = n
	return nil
}

func setListenAddress(p *parser, v value, _ location) error {
	for _, part := range v.split(',') {
		a, err := netip.ParseAddr(part.text)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("%q is not an IP address", part.text)
		}
		p.cfg.ListenAddresses = append(p.cfg.ListenAddresses, a)
	}
	return nil
}

// maxInterfaceName is IFNAMSIZ-1 on Linux.
const maxInterfaceName = 15

// checkInterfaceName accepts what can name a Linux interface, an alias
// label (eth0:1) or a pattern with one trailing '*'.
func checkInterfaceName(name string) error {
	if len(name) > maxInterfaceName {
		return fmt.Errorf("%q is longer than %d bytes", name, maxInterfaceName)
	}
	if i := strings.IndexByte(name, '*'); i >= 0 && i != len(name)-1 {
		return fmt.Errorf("%q: '*' is only allowed at the end", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || c == '/' || c == ',' || c == '"' || c == '#' {
			return fmt.Errorf("%q is not an interface name", name)
		}
	}
	return nil
}

// setInterface: "interface=" with no name is dnsmasq's way of listening
// on loopback only; it is kept as "".
func setInterface(p *parser, v value, _ location) error {
	for _, part := range v.split(',') {
		if err := checkInterfaceName(part.text); err != nil {
			return err
		}
		p.cfg.Interfaces = append(p.cfg.Interfaces, part.text)
	}
	return nil
}

func setExceptInterface(p *parser, v value, _ location) error {
	for _, part := range v.split(',') {
		if part.text == "" {
			return errors.New("empty interface name")
		}
		if err := checkInterfaceName(part.text); err != nil {
			return err
		}
		p.cfg.ExceptInterfaces = append(p.cfg.ExceptInterfaces, part.text)
	}
	return nil
}

func setBindInterfaces(p *parser, _ value, _ location) error {
	p.cfg.BindInterfaces = true
	return nil
}

func setNoResolv(p *parser, _ value, _ location) error {
	p.cfg.NoResolv = true
	return nil
}

// setResolvFile: the first resolv-file replaces the default; a bare
// first one leaves no resolv file at all; later bare ones do nothing.
func setResolvFile(p *parser, v value, _ location) error {
	if strings.IndexByte(v.text, 0) >= 0 {
		return errors.New("file name contains a NUL byte")
	}
	switch {
	case p.resolvDefault:
		p.resolvDefault = false
		p.cfg.ResolvFiles = nil
		if v.text != "" {
			p.cfg.ResolvFiles = []string{v.text}
		}
	case v.text != "":
		p.cfg.ResolvFiles = append(p.cfg.ResolvFiles, v.text)
	}
	return nil
}

func setCacheSize(p *parser, v value, _ location) error {
	if !v.given {
		return errMissingValue
	}
	n, err := parseDecimal(v.text, MaxCacheSize, "a number")
	if err != nil {
		return err
	}
	p.cfg.CacheSize = n
	return nil
}

func setNoHosts(p *parser, _ value, _ location) error {
	p.cfg.NoHosts = true
	return nil
}

func setAddnHosts(p *parser, v value, _ location) error {
	if err := checkPath(v.text); err != nil {
		return err
	}
	p.cfg.AddnHosts = append(p.cfg.AddnHosts, v.text)
	return nil
}

func checkPath(s string) error {
	switch {
	case s == "":
		return errors.New("empty file name")
	case strings.IndexByte(s, 0) >= 0:
		return errors.New("file name contains a NUL byte")
	}
	return nil
}

// checkAccountName accepts user and group names (or numbers); it rejects
// what no account database would hold.
func checkAccountName(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == ':' || c == '/' || c == 0x7f {
			return fmt.Errorf("%q is not a user or group name", s)
		}
	}
	return nil
}

func setUser(p *parser, v value, _ location) error {
	if err := checkAccountName(v.text); err != nil {
		return err
	}
	p.cfg.User = v.text
	return nil
}

func setGroup(p *parser, v value, _ location) error {
	if err := checkAccountName(v.text); err != nil {
		return err
	}
	p.cfg.Group = v.text
	return nil
}

func setKeepInForeground(p *parser, _ value, _ location) error {
	p.cfg.KeepInForeground = true
	return nil
}

func setNoDaemon(p *parser, _ value, _ location) error {
	p.cfg.NoDaemon = true
	return nil
}

func setLogQueries(p *parser, v value, _ location) error {
	switch v.text {
	case "", "extra", "proto":
	default:
		return fmt.Errorf("%q is not extra or proto", v.text)
	}
	p.cfg.LogQueries = true
	if v.text != "" {
		p.cfg.LogQueriesExtra = v.text
	}
	return nil
}

// syslogFacilities are glibc's facilitynames, which dnsmasq matches
// without regard to case.
var syslogFacilities = []string{
	"auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "mark",
	"news", "security", "syslog", "user", "uucp",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

func setLogFacility(p *parser, v value, _ location) error {
	s := v.text
	if strings.ContainsRune(s, '/') || s == "-" {
		if err := checkPath(s); err != nil {
			return err
		}
		p.cfg.LogFacility = s
		return nil
	}
	for _, f := range syslogFacilities {
		if strings.EqualFold(s, f) {
			p.cfg.LogFacility = f
			return nil
		}
	}
	return fmt.Errorf("%q is not a syslog facility, a file path (with '/') or \"-\"", s)
}

// setPidFile: "pid-file" with no value, or an empty one, means none.
func setPidFile(p *parser, v value, _ location) error {
	if strings.IndexByte(v.text, 0) >= 0 {
		return errors.New("file name contains a NUL byte")
	}
	p.cfg.PidFile = v.text
	return nil
}

func setTest(p *parser, _ value, _ location) error {
	p.cfg.Test = true
	return nil
}

func setCheckSandbox(p *parser, _ value, _ location) error {
	p.cfg.CheckSandbox = true
	return nil
}

// acceptPrintPolicy: the master answers --print-policy before it parses
// a configuration (it prints the policy of the code, not of a config), so
// the row exists for --help and the man page.
func acceptPrintPolicy(*parser, value, location) error { return nil }

func setPrintConfig(p *parser, _ value, _ location) error {
	p.cfg.PrintConfig = true
	return nil
}

// setHelp and setVersion stop parsing, as dnsmasq exits at once.
func setHelp(p *parser, _ value, _ location) error {
	p.cfg.Help = true
	p.stop = true
	return nil
}

func setVersion(p *parser, _ value, _ location) error {
	p.cfg.Version = true
	p.stop = true
	return nil
}

func setRunDir(p *parser, v value, _ location) error {
	if err := checkPath(v.text); err != nil {
		return err
	}
	if !strings.HasPrefix(v.text, "/") {
		return fmt.Errorf("%q is not an absolute path", v.text)
	}
	p.cfg.RunDir = v.text
	return nil
}
