package config

import "errors"

// moat's per-role users (issue 7, DESIGN.md section 1): dnsmasq has one
// user= for everything it does after dropping root; moat runs each worker
// as its own user so that a compromised dnsd cannot signal, ptrace or kill
// dhcpd, and the other way round. Without these options both workers run
// as user= (default nobody), as before. The dhcp-script helper keeps its
// own dhcp-scriptuser=.

// RoleUsers are dns-user= and dhcp-user=; "" means user='s value.
type RoleUsers struct {
	DNS  string // dns-user: dnsd's user
	DHCP string // dhcp-user: dhcpd's user
}

// RoleUserOption names the option that sets role's user: "dns-user" for
// dnsd, "dhcp-user" for dhcpd, "user" for anything else.
func RoleUserOption(role string) string {
	switch role {
	case "dnsd":
		return "dns-user"
	case "dhcpd":
		return "dhcp-user"
	}
	return "user"
}

// RoleUser is the user role ("dnsd", "dhcpd") runs as, and the option
// that decided it: dns-user/dhcp-user when set, else user= (the
// DefaultUser when user= is empty or unset).
func (c *Config) RoleUser(role string) (name, option string) {
	var set string
	switch role {
	case "dnsd":
		set = c.Roles.DNS
	case "dhcpd":
		set = c.Roles.DHCP
	}
	if set != "" {
		return set, RoleUserOption(role)
	}
	if c.User != "" {
		return c.User, "user"
	}
	return DefaultUser, "user"
}

func setDNSUser(p *parser, v value, _ location) error { return setRoleUser(&p.cfg.Roles.DNS, v.text) }

func setDHCPUser(p *parser, v value, _ location) error { return setRoleUser(&p.cfg.Roles.DHCP, v.text) }

// setRoleUser checks a dns-user/dhcp-user value, a plain account name
// (resolved by the master at start, where a missing user is an error),
// and stores it in dst; a bad value leaves dst as it was.
func setRoleUser(dst *string, s string) error {
	if err := checkAccountName(s); err != nil {
		return err
	}
	if s == "" {
		return errors.New("empty user name")
	}
	*dst = s
	return nil
}

// printRoleUsers prints the options that are set.
func printRoleUsers(c *Config, line func(name, val string)) {
	if c.Roles.DNS != "" {
		line("dns-user", c.Roles.DNS)
	}
	if c.Roles.DHCP != "" {
		line("dhcp-user", c.Roles.DHCP)
	}
}
