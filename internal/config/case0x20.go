package config

// no-0x20-encode and do-0x20-encode: dnsd's 0x20 (a crypto-random case
// for the letters of every upstream query name, checked in the reply;
// SECURITY.md "Poisoning"). dnsmasq 2.90 has no 0x20 and neither option;
// later dnsmasq releases added 0x20 with these two names, which moat
// takes over: no-0x20-encode turns it off (for an upstream that cannot
// cope, rather than leaving the per-server fallback to find out), and it
// wins over do-0x20-encode whatever the order. do-0x20-encode asks for
// what moat does anyway: accepted, no effect.

func setNo0x20Encode(p *parser, _ value, _ location) error {
	p.cfg.No0x20Encode = true
	return nil
}

func setDo0x20Encode(p *parser, _ value, _ location) error {
	p.cfg.Do0x20Encode = true
	return nil
}

// print0x20 prints the 0x20 options that were given (do-0x20-encode only
// when it is not overridden).
func print0x20(c *Config, flag func(name string, on bool)) {
	flag("no-0x20-encode", c.No0x20Encode)
	flag("do-0x20-encode", c.Do0x20Encode && !c.No0x20Encode)
}
