package dhcpserver

import (
	"bytes"
	"net/netip"
	"strings"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/dhcpopts"
	"github.com/moatdns/moat/internal/leases"
)

// filterOptions marks the dhcp-option lines that apply to this reply
// (e.optOK), as dnsmasq's option_filter: first those whose tags all match
// without the range's tag (tags from the client and its dhcp-host beat
// the range's), then those that match with it where no line of the same
// option matched already, then untagged lines for options no tagged line
// gave; of several lines for one option the first (newest) wins. It
// returns the tag set that dhcp-boot and encapsulated options use.
func (e *Engine) filterOptions(ctx *netCtx) leases.TagSet {
	opts := e.c.options
	if cap(e.optOK) < len(opts) {
		e.optOK = make([]bool, len(opts))
	}
	ok := e.optOK[:len(opts)]
	clear(e.tagsOpt)
	for k := range e.tags.base {
		e.tagsOpt[k] = true
	}
	leases.RunTagIf(e.c.tagIfs, e.tagsOpt)
	tagif := e.tagsOpt
	for i := range opts {
		ok[i] = opts[i].Context == dhcpopts.TopLevel && leases.MatchTags(opts[i].Tags, e.tagsOpt, false)
	}
	if ctx != nil && ctx.r.cfg.SetTag != "" {
		tagif = e.tags.tagif // run with the range's tag added
		for i := range opts {
			if !ok[i] && opts[i].Context == dhcpopts.TopLevel && leases.MatchTags(opts[i].Tags, tagif, false) && !e.anyOK(opts[i].Code) {
				ok[i] = true
			}
		}
	}
	for i := range opts {
		if !ok[i] && opts[i].Context == dhcpopts.TopLevel && len(opts[i].Tags) == 0 && !e.anyOK(opts[i].Code) {
			ok[i] = true
		}
	}
	for i := range opts {
		if !ok[i] {
			continue
		}
		for j := i + 1; j < len(opts); j++ {
			if opts[j].Code == opts[i].Code {
				ok[j] = false
			}
		}
	}
	return tagif
}

func (e *Engine) anyOK(code uint8) bool { return e.configured(code) != nil }

// configured is dnsmasq's option_find2: the dhcp-option line that
// applies for code, or nil.
func (e *Engine) configured(code uint8) *option {
	for i := range e.c.options {
		if e.optOK[i] && e.c.options[i].Code == code {
			return &e.c.options[i]
		}
	}
	return nil
}

// Options the configured-option loop never sends: the server builds them
// itself. dnsmasq also skips 81, 57 and 52; moat adds the message type,
// server identifier, lease time, rapid commit and relay agent options,
// which dnsmasq would send twice.
func internalOption(code uint8) bool {
	switch code {
	case optPad, optEnd, optClientFQDN, optMaxSize, optOverload, optT1, optT2,
		optMessageType, optServerID, optLeaseTime, optRapidCommit, optAgentID:
		return true
	}
	return false
}

// noneWhenEmpty are the options with server defaults, where
// dhcp-option=<n> with no value means "do not send it".
func noneWhenEmpty(code uint8) bool {
	switch code {
	case optNetmask, optBroadcast, optRouter, optDNS, optDomainName, optHostname:
		return true
	}
	return false
}

// doOptions adds the configuration options to a reply, in dnsmasq's
// order (do_options): boot data, subnet selection, T1 and T2, netmask,
// broadcast, router, DNS server, domain, host name and FQDN, the
// configured options, encapsulated and RFC 3925 options, vendor options.
func (e *Engine) doOptions(r *request, p *packet, ctx *netCtx, hostname, domain string, leaseTime uint32, fuzz uint16) {
	tagif := e.filterOptions(ctx)
	if matchAny(e.c.bcast, e.tags.base) {
		p.setBroadcast()
	}
	var local netip.Addr
	if ctx != nil {
		local = ctx.local
		p.setAddr(offSiaddr, local)
	}
	doneFile, doneServer := e.bootData(r, p, tagif)
	p.noOverload = !r.hasPRL || e.c.flags.NoOverride
	p.reserveOverload()
	if r.subnetSel.IsValid() {
		p.putAddr(optSubnetSelect, r.subnetSel)
	}
	if leaseTime != infinite {
		e.putT1T2(p, leaseTime, fuzz)
	}
	if ctx != nil {
		if e.configured(optNetmask) == nil {
			p.putAddr(optNetmask, ctx.netmask)
		}
		if ctx.broadcast.IsValid() && e.configured(optBroadcast) == nil {
			p.putAddr(optBroadcast, ctx.broadcast)
		}
		if ctx.router.IsValid() && r.inPRL(optRouter) && e.configured(optRouter) == nil {
			p.putAddr(optRouter, ctx.router)
		}
		if !e.noDNS && r.inPRL(optDNS) && e.configured(optDNS) == nil {
			p.putAddr(optDNS, ctx.local)
		}
	}
	if domain != "" && r.inPRL(optDomainName) && e.configured(optDomainName) == nil {
		p.putString(optDomainName, domain, r.borken)
	}
	if hostname != "" {
		if r.inPRL(optHostname) && e.configured(optHostname) == nil {
			p.putString(optHostname, hostname, r.borken)
		}
		if r.fqdnFlags != 0 {
			putFQDN(p, r.fqdnFlags, hostname, domain, r.borken)
		}
	}
	vendorClass, _ := r.opt(optVendorClass, 1)
	sentVendorClass := false
	for i := range e.c.options {
		o := &e.c.options[i]
		code := o.Code
		if !e.optOK[i] || (!o.force && !r.inPRL(code)) || internalOption(code) ||
			(code == optSName && doneServer) || (code == optFileName && doneFile) ||
			(len(o.Encoded.Data) == 0 && noneWhenEmpty(code)) {
			continue
		}
		data := o.Encoded.Wire(code, local)
		if r.borken && o.Encoded.Kind == dhcpopts.KindString && code != optSName && code != optFileName && len(data) != 255 {
			data = append(bytes.Clone(data), 0)
		}
		if b := p.space(code, len(data)); b != nil {
			copy(b, data)
			if code == optVendorClass {
				vendorClass, sentVendorClass = b, true
			}
		}
	}
	e.encapOptions(r, p, tagif)
	e.vendorOptions(r, p, tagif, vendorClass, sentVendorClass)
}

// bootData applies dhcp-boot (the newest line whose tags match, else the
// newest untagged one): server name and file name go in the BOOTP fields,
// or as options 66 and 67 to a client that asks for those (unless
// dhcp-no-override); the TFTP server in siaddr. Without dhcp-boot, a
// dhcp-option for 66 or 67 that the client did not ask for fills the
// field instead.
func (e *Engine) bootData(r *request, p *packet, tagif leases.TagSet) (doneFile, doneServer bool) {
	b := findBoot(e.c.boots, tagif)
	if b == nil {
		if o := e.configured(optFileName); o != nil && !o.force && (!r.hasPRL || !r.inPRL(optFileName)) {
			p.setFile(string(o.Encoded.Data))
			doneFile = true
		}
		if o := e.configured(optSName); o != nil && !o.force && (!r.hasPRL || !r.inPRL(optSName)) {
			p.setSname(string(o.Encoded.Data))
			doneServer = true
		}
		return doneFile, doneServer
	}
	asOption := func(code uint8) bool { return !e.c.flags.NoOverride && r.hasPRL && r.inPRL(code) }
	if b.ServerName != "" {
		if asOption(optSName) {
			p.putString(optSName, b.ServerName, true)
		} else {
			p.setSname(b.ServerName)
		}
	}
	if b.File != "" {
		if asOption(optFileName) {
			p.putString(optFileName, b.File, true)
		} else {
			p.setFile(b.File)
		}
	}
	switch {
	case b.NextServer.IsValid():
		p.setAddr(offSiaddr, b.NextServer)
	case b.TFTPServerName != "":
		var a netip.Addr
		if e.lookupHost != nil {
			a = e.lookupHost(b.TFTPServerName)
		}
		p.setAddr(offSiaddr, a)
	}
	return false, false
}

func findBoot(boots []config.DHCPBoot, tags leases.TagSet) *config.DHCPBoot {
	for pass := 0; pass < 2; pass++ {
		for i := range boots {
			if leases.MatchTags(boots[i].Tags, tags, pass == 1) {
				return &boots[i]
			}
		}
	}
	return nil
}

// putT1T2 adds the renewal (T1, half the lease) and rebinding (T2, 7/8)
// times, or configured ones shorter than the lease; a renewal's jitter
// (at most an eighth of T1) brings both forward.
func (e *Engine) putT1T2(p *packet, lease uint32, fuzz uint16) {
	t1, t2 := lease/2, uint32(uint64(lease)*7/8)
	if o := e.configured(optT1); o != nil && len(o.Encoded.Data) == 4 {
		if v := be32(o.Encoded.Data); v < lease && v > 2 {
			t1 = v
		}
	}
	if o := e.configured(optT2); o != nil && len(o.Encoded.Data) == 4 {
		if v := be32(o.Encoded.Data); v < lease && v > 2 {
			t2 = v
		}
	}
	if t2 <= t1 {
		t1 = t2 - 1
	}
	f := uint32(fuzz)
	for f > t1/8 {
		f /= 2
	}
	p.putUint(optT1, 4, t1-f)
	p.putUint(optT2, 4, t2-f)
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// putFQDN answers a client FQDN option (RFC 4702) with the name the
// client gets: flags, two 255 bytes (the deprecated RCODEs), then the
// name in the client's encoding.
func putFQDN(p *packet, flags byte, host, domain string, nulTerm bool) {
	host, domain = strings.TrimSuffix(host, "."), strings.TrimSuffix(domain, ".")
	n := len(host) + 3
	switch {
	case flags&fqdnE != 0:
		n += 2
	case nulTerm:
		n++
	}
	if domain != "" {
		n += len(domain) + 1
	} else if flags&fqdnE != 0 {
		n--
	}
	b := p.space(optClientFQDN, n)
	if b == nil {
		return
	}
	b[0], b[1], b[2] = flags&0x0f, 255, 255
	// b has exactly the room counted above; build the name in place.
	name := b[3:3]
	if flags&fqdnE != 0 {
		name = appendWireLabels(name, host)
		if domain != "" {
			name = appendWireLabels(name, domain)
			name = append(name, 0)
		}
	} else {
		name = append(name, host...)
		if domain != "" {
			name = append(append(name, '.'), domain...)
		}
		if nulTerm {
			name = append(name, 0)
		}
	}
	if len(name) < len(b)-3 {
		clear(b[3+len(name):]) // cannot happen with names as the engine keeps them
	}
}

func appendWireLabels(b []byte, name string) []byte {
	for name != "" {
		label, rest, _ := strings.Cut(name, ".")
		b = append(b, byte(len(label)))
		b = append(b, label...)
		name = rest
	}
	return b
}
