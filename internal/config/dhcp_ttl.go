package config

// setDHCPTTL is dhcp-ttl: the TTL of answers from DHCP lease names. When
// given it replaces local-ttl for them, even when it is 0 (dnsmasq:
// "setting this to zero eliminates the effect of --local-ttl for DHCP").
func setDHCPTTL(p *parser, v value, _ location) error {
	n, err := parseDecimal(v.text, maxTTL, "a number of seconds")
	if err != nil {
		return err
	}
	p.cfg.Local.DHCPTTL, p.cfg.Local.HasDHCPTTL = uint32(n), true
	return nil
}

// LeaseNameTTL is the TTL answered for DHCP lease names before the
// lease's remaining time caps it: dhcp-ttl when given, else local-ttl.
func (l *LocalData) LeaseNameTTL() uint32 {
	if l.HasDHCPTTL {
		return l.DHCPTTL
	}
	return l.LocalTTL
}
