package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// DHCPBoot is dhcp-boot: BOOTP boot information for clients with Tags.
//
//	[tag:<tag>,...]<filename>[,<servername>[,<server address>|<tftp server name>]]
type DHCPBoot struct {
	Tags       Tags
	File       string     // boot file name (the BOOTP file field)
	ServerName string     // the BOOTP sname field; "" none
	NextServer netip.Addr // the TFTP server (siaddr); invalid: this server
	// TFTPServerName is a TFTP server given by name, looked up in the
	// local hosts data when a client asks; "" none.
	TFTPServerName string
}

func setDHCPBoot(p *parser, v value, _ location) error {
	var b DHCPBoot
	fields := v.split(',')
	// Only "tag:" and "net:" words are tags here: a bare first word is
	// the file name.
	for len(fields) > 0 {
		name, ok := cutPrefix(fields[0], "tag:")
		if !ok {
			if name, ok = cutPrefix(fields[0], "net:"); !ok {
				break
			}
		}
		if err := checkTag(name.text, false); err != nil {
			return err
		}
		b.Tags = append(b.Tags, name.text)
		fields = fields[1:]
	}
	if len(fields) == 0 || fields[0].text == "" {
		return errors.New("needs a boot file name")
	}
	if len(fields) > 3 {
		return fmt.Errorf("%q: too many fields", v.text)
	}
	for _, f := range fields {
		if strings.IndexByte(f.text, 0) >= 0 {
			return errors.New("contains a NUL byte")
		}
	}
	b.File = fields[0].text
	if len(b.File) > 127 {
		return fmt.Errorf("boot file name longer than the BOOTP file field (127 bytes)")
	}
	if len(fields) > 1 {
		b.ServerName = fields[1].text
		if len(b.ServerName) > 63 {
			return fmt.Errorf("server name longer than the BOOTP sname field (63 bytes)")
		}
	}
	if len(fields) > 2 {
		if a, err := netip.ParseAddr(fields[2].text); err == nil {
			if !a.Is4() {
				return fmt.Errorf("%s: the boot server must be an IPv4 address or a name", a)
			}
			b.NextServer = a
		} else if _, _, err := splitHostName(fields[2].text); err != nil {
			return fmt.Errorf("%q is neither an IPv4 address nor a host name", fields[2].text)
		} else {
			b.TFTPServerName = strings.ToLower(fields[2].text)
		}
	}
	if len(b.Tags) == 0 {
		b.Tags = nil
	}
	p.cfg.DHCP.Boot = append(p.cfg.DHCP.Boot, b)
	return nil
}

func bootFields(b DHCPBoot) []string {
	var f []string
	for _, t := range b.Tags {
		f = append(f, "tag:"+t)
	}
	f = append(f, quoteDHCPField(b.File))
	switch {
	case b.NextServer.IsValid():
		f = append(f, quoteDHCPField(b.ServerName), b.NextServer.String())
	case b.TFTPServerName != "":
		f = append(f, quoteDHCPField(b.ServerName), b.TFTPServerName)
	case b.ServerName != "":
		f = append(f, quoteDHCPField(b.ServerName))
	}
	return f
}

func setDHCPHostsFile(p *parser, v value, _ location) error {
	if err := checkPath(v.text); err != nil {
		return err
	}
	p.cfg.DHCP.HostsFiles = append(p.cfg.DHCP.HostsFiles, v.text)
	return nil
}

func setReadEthers(p *parser, _ value, _ location) error {
	p.cfg.DHCP.ReadEthers = true
	return nil
}

func setNoDHCPInterface(p *parser, v value, _ location) error {
	for _, f := range v.split(',') {
		if f.text == "" {
			return errors.New("empty interface name")
		}
		if err := checkInterfaceName(f.text); err != nil {
			return err
		}
		p.cfg.DHCP.NoInterfaces = append(p.cfg.DHCP.NoInterfaces, f.text)
	}
	return nil
}

func setDHCPLeaseMax(p *parser, v value, _ location) error {
	n, err := parseDecimal(v.text, maxLeaseMax, "a number")
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.New("0 leases: the server could give none")
	}
	p.cfg.DHCP.LeaseMax = n
	return nil
}

// setDHCPLeaseFile: dhcp-leasefile with no value keeps the default, as in
// dnsmasq.
func setDHCPLeaseFile(p *parser, v value, _ location) error {
	p.leaseFileSet = true
	if v.text == "" {
		p.cfg.DHCP.LeaseFile = DefaultLeaseFile
		return nil
	}
	if err := checkPath(v.text); err != nil {
		return err
	}
	p.cfg.DHCP.LeaseFile = v.text
	return nil
}

// instanceLeaseFile runs after parsing. With leasefile-ro and no
// dhcp-leasefile dnsmasq keeps no lease file at all (the dhcp-script's
// "init" supplies the leases), and the tool that starts it that way,
// libvirt, runs one instance per virtual network, each with its own
// pid-file. moat still keeps its lease journal beside LeaseFile: at the
// shared default path every instance after the first would fail on the
// journal's lock (and could see another network's leases). Such an
// instance keeps it beside its own pid file instead (libvirt's
// /run/libvirt/network/default.pid: /run/libvirt/network/default.leases,
// whose journal goes when the host reboots, as dnsmasq's state would).
func (p *parser) instanceLeaseFile() {
	d := &p.cfg.DHCP
	if !d.LeaseFileRO || p.leaseFileSet || p.cfg.PidFile == "" || p.cfg.PidFile == DefaultPidFile {
		return
	}
	d.LeaseFile = strings.TrimSuffix(p.cfg.PidFile, ".pid") + ".leases"
}

func setLeaseFileRO(p *parser, _ value, _ location) error {
	p.cfg.DHCP.LeaseFileRO = true
	return nil
}

// setDHCPScript: dnsmasq runs the script by absolute path, with no PATH
// search.
func setDHCPScript(p *parser, v value, _ location) error {
	if err := checkPath(v.text); err != nil {
		return err
	}
	if !strings.HasPrefix(v.text, "/") {
		return fmt.Errorf("%q is not an absolute path", v.text)
	}
	p.cfg.DHCP.Script = v.text
	return nil
}

func setDHCPScriptUser(p *parser, v value, _ location) error {
	if v.text == "" {
		return errors.New("empty user name")
	}
	if err := checkAccountName(v.text); err != nil {
		return err
	}
	p.cfg.DHCP.ScriptUser = v.text
	return nil
}

func setDHCPIgnoreClientID(p *parser, _ value, _ location) error {
	p.cfg.DHCP.IgnoreClientID = true
	return nil
}

func setDHCPAuthoritative(p *parser, _ value, _ location) error {
	p.cfg.DHCP.Authoritative = true
	return nil
}

func setDHCPRapidCommit(p *parser, _ value, _ location) error {
	p.cfg.DHCP.RapidCommit = true
	return nil
}

func setDHCPNoOverride(p *parser, _ value, _ location) error {
	p.cfg.DHCP.NoOverride = true
	return nil
}

func setDHCPSequentialIP(p *parser, _ value, _ location) error {
	p.cfg.DHCP.Sequential = true
	return nil
}

func setNoPing(p *parser, _ value, _ location) error {
	p.cfg.DHCP.NoPing = true
	return nil
}

func setLogDHCP(p *parser, _ value, _ location) error {
	p.cfg.DHCP.Log = true
	return nil
}

func setQuietDHCP(p *parser, _ value, _ location) error {
	p.cfg.DHCP.Quiet = true
	return nil
}
