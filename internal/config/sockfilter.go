package config

import (
	"fmt"
	"strings"
)

// socket-filter= (moat's own): which in-kernel filters the master puts
// on dnsd's sockets (the sockfilter package; SECURITY.md "Socket
// filters"). auto uses eBPF where the master can load it and classic BPF
// otherwise; ebpf makes a failed load an error; classic never loads
// eBPF; off attaches nothing.

// SocketFilterModes are the accepted values, in help order.
var SocketFilterModes = []string{"auto", "ebpf", "classic", "off"}

func setSocketFilter(p *parser, v value, _ location) error {
	m := strings.ToLower(v.text)
	for _, ok := range SocketFilterModes {
		if m == ok {
			if m == "auto" {
				m = "" // the default
			}
			p.cfg.SocketFilter = m
			return nil
		}
	}
	return fmt.Errorf("%q is not one of auto, ebpf, classic, off", v.text)
}

// printSocketFilter prints socket-filter when it is not the default.
func printSocketFilter(c *Config, line func(name, val string)) {
	if c.SocketFilter != "" {
		line("socket-filter", c.SocketFilter)
	}
}
