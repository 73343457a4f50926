package dnsd

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// EDNS0 option codes dnsmasq 2.90 adds to forwarded queries.
const (
	ednsOptionMAC      = 65001 // add-mac: the MAC, binary (dyndns.org's assignment)
	ednsOptionDeviceID = 65073 // add-mac=base64|text (Nominum's device id)
)

// prepareClientOptions builds the EDNS0 options add-mac and add-subnet
// put on req's upstream queries, and notes whether the answer then
// depends on the client (and must not be cached), as dnsmasq does: a
// MAC always does, a subnet only when it comes from the client's address.
//
// dnsd builds every upstream query afresh from the question, so a
// client's own client-subnet or MAC option is never passed on (dnsmasq
// passes it on unless strip-subnet / strip-mac).
func (s *Server) prepareClientOptions(req *request) {
	f := &req.st.cfg.filters
	if !f.addMAC && f.addMACID == "" && f.subnet == nil {
		return
	}
	client := req.client.Addr().WithZone("").Unmap()
	if f.addMAC || f.addMACID != "" {
		if mac, ok := s.filt.mac(client); ok {
			req.filt.noCache = true
			if f.addMAC {
				req.filt.ednsOpts = append(req.filt.ednsOpts, &dns.EDNS0_LOCAL{Code: ednsOptionMAC, Data: mac})
			}
			if id := deviceID(mac, f.addMACID); id != "" {
				req.filt.ednsOpts = append(req.filt.ednsOpts, &dns.EDNS0_LOCAL{Code: ednsOptionDeviceID, Data: []byte(id)})
			}
		}
	}
	if f.subnet != nil {
		opt, cacheable := clientSubnet(f.subnet, client)
		req.filt.subnet = opt
		req.filt.ednsOpts = append(req.filt.ednsOpts, opt)
		if !cacheable {
			req.filt.noCache = true
		}
	}
}

// deviceID encodes a 6-byte MAC for option 65073: base64 without padding
// (8 characters) or lower-case hex with colons. dnsmasq sends it only for
// 6-byte addresses.
func deviceID(mac []byte, how string) string {
	if len(mac) != 6 {
		return ""
	}
	switch how {
	case "base64":
		return base64.RawStdEncoding.EncodeToString(mac)
	case "text":
		parts := make([]string, len(mac))
		for i, b := range mac {
			parts[i] = fmt.Sprintf("%02x", b)
		}
		return strings.Join(parts, ":")
	}
	return ""
}

// clientSubnet is dnsmasq's calc_subnet_opt: the side of add-subnet for
// the client's family gives the prefix length and, if it has one, a fixed
// address (whose family the option then carries); a zero length, or an
// unset side, sends no address bits. The answer is cacheable unless it
// carries bits of the client's own address.
func clientSubnet(sc *subnetConfig, client netip.Addr) (*dns.EDNS0_SUBNET, bool) {
	side := sc.v4
	if client.Is6() {
		side = sc.v6
	}
	opt := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1}
	if client.Is6() {
		opt.Family = 2
	}
	addr := client
	cacheable := false
	if side.addr.IsValid() {
		addr, cacheable = side.addr, true
		opt.Family = 1
		if addr.Is6() {
			opt.Family = 2
		}
	}
	if !side.set || side.bits == 0 {
		opt.SourceNetmask = 0
		if opt.Family == 1 {
			opt.Address = netip.IPv4Unspecified().AsSlice()
		} else {
			opt.Address = netip.IPv6Unspecified().AsSlice()
		}
		return opt, true
	}
	opt.SourceNetmask = uint8(min(side.bits, addr.BitLen()))
	opt.Address = netip.PrefixFrom(addr, int(opt.SourceNetmask)).Masked().Addr().AsSlice()
	return opt, cacheable
}

// sameSubnet compares a reply's client-subnet option with the one sent
// (RFC 7871 section 7.3: family, source prefix length and address must
// match; the scope may differ).
func sameSubnet(sent, got *dns.EDNS0_SUBNET) bool {
	if sent.Family != got.Family || sent.SourceNetmask != got.SourceNetmask {
		return false
	}
	a, ok1 := netip.AddrFromSlice(sent.Address)
	b, ok2 := netip.AddrFromSlice(got.Address)
	if !ok1 || !ok2 {
		return ok1 == ok2
	}
	bits := int(sent.SourceNetmask)
	pa, err1 := a.Unmap().Prefix(min(bits, a.Unmap().BitLen()))
	pb, err2 := b.Unmap().Prefix(min(bits, b.Unmap().BitLen()))
	return err1 == nil && err2 == nil && pa == pb
}

// addClientOptions puts the prepared options on an upstream query that
// has its OPT record.
func addClientOptions(q *dns.Msg, req *request) {
	if len(req.filt.ednsOpts) == 0 {
		return
	}
	if opt := q.IsEdns0(); opt != nil {
		opt.Option = append(opt.Option, req.filt.ednsOpts...)
	}
}
