package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// moat's own operations options (issue 6, docs/operations.md): the
// master's control socket for moatctl, who may use it, and the
// Prometheus metrics endpoint.

// ControlOptions are control-socket=, control-group= and metrics=.
type ControlOptions struct {
	// Socket is the control socket's path; "" = the master's default
	// (<run-dir>/moatd.ctl); ControlSocketOff = no control socket.
	Socket string
	// Group may use the control socket besides root (a name or a
	// number); "" = root only.
	Group string
	// Metrics is where the master serves /metrics: "host:port" (TCP) or
	// an absolute path (a Unix socket); "" = off.
	Metrics string
}

// ControlSocketOff is control-socket=off: the master opens none.
const ControlSocketOff = "off"

// ControlSocketName is the control socket's file name in the run
// directory.
const ControlSocketName = "moatd.ctl"

// DefaultRunDirFor is the master's run directory without run-dir for a
// master of effective uid: DefaultRunDir as root, else a directory of the
// user's own under TMPDIR (development mode).
func DefaultRunDirFor(uid int) string {
	if uid == 0 {
		return DefaultRunDir
	}
	return filepath.Join(os.TempDir(), "moatd-"+strconv.Itoa(uid))
}

// DefaultControlSocket is where a master of effective uid keeps its
// control socket when neither control-socket nor run-dir says otherwise;
// moatctl looks there by default.
func DefaultControlSocket(uid int) string {
	return filepath.Join(DefaultRunDirFor(uid), ControlSocketName)
}

// ControlSocketPath is where the master with c keeps its control socket;
// "" for control-socket=off.
func (c *Config) ControlSocketPath(uid int) string {
	switch {
	case c.Control.Socket == ControlSocketOff:
		return ""
	case c.Control.Socket != "":
		return c.Control.Socket
	case c.RunDir != "":
		return filepath.Join(c.RunDir, ControlSocketName)
	}
	return DefaultControlSocket(uid)
}

func setControlSocket(p *parser, v value, _ location) error {
	if strings.EqualFold(v.text, ControlSocketOff) {
		p.cfg.Control.Socket = ControlSocketOff
		return nil
	}
	if err := checkUnixSocketPath(v.text); err != nil {
		return err
	}
	p.cfg.Control.Socket = v.text
	return nil
}

func setControlGroup(p *parser, v value, _ location) error {
	if err := checkAccountName(v.text); err != nil {
		return err
	}
	if v.text == "" {
		return fmt.Errorf("empty group name")
	}
	p.cfg.Control.Group = v.text
	return nil
}

func setMetrics(p *parser, v value, _ location) error {
	if strings.HasPrefix(v.text, "/") {
		if err := checkUnixSocketPath(v.text); err != nil {
			return err
		}
		p.cfg.Control.Metrics = v.text
		return nil
	}
	host, port, err := splitHostPort(v.text)
	if err != nil {
		return err
	}
	p.cfg.Control.Metrics = host + ":" + port
	if strings.Contains(host, ":") {
		p.cfg.Control.Metrics = "[" + host + "]:" + port
	}
	return nil
}

// splitHostPort reads "host:port" or "[v6]:port"; the host must be an
// address or a plain name (localhost), the port 1-65535.
func splitHostPort(s string) (host, port string, err error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", fmt.Errorf("%q is neither host:port nor an absolute socket path", s)
	}
	host, port = s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
		if _, err := netip.ParseAddr(host); err != nil {
			return "", "", fmt.Errorf("%q: %q is not an IPv6 address", s, host)
		}
	} else if _, err := netip.ParseAddr(host); err != nil && !plainHostName(host) {
		return "", "", fmt.Errorf("%q: %q is not an address or host name", s, host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("%q: port %q is not 1-65535", s, port)
	}
	return host, port, nil
}

// plainHostName accepts the names a listen address may use (letters,
// digits, '-', '.'); "" means every address.
func plainHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// checkUnixSocketPath accepts an absolute path that fits sun_path.
func checkUnixSocketPath(s string) error {
	if err := checkPath(s); err != nil {
		return err
	}
	if !strings.HasPrefix(s, "/") {
		return fmt.Errorf("%q is not an absolute path", s)
	}
	if len(s) > 107 {
		return fmt.Errorf("%q: a Unix socket path has at most 107 bytes", s)
	}
	return nil
}

// printControl prints the options that are not the default.
func printControl(c *Config, line func(name, val string)) {
	if c.Control.Socket != "" {
		line("control-socket", c.Control.Socket)
	}
	if c.Control.Group != "" {
		line("control-group", c.Control.Group)
	}
	if c.Control.Metrics != "" {
		line("metrics", c.Control.Metrics)
	}
}
