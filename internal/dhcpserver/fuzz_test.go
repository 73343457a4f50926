package dhcpserver

import (
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/leases"
)

// fuzzConfig turns on most of what the engine does.
var fuzzConfig = []string{
	"--dhcp-range=set:lan,10.0.0.10,10.0.0.200,1h",
	"--dhcp-range=192.168.1.10,192.168.1.100,255.255.255.0,10m",
	"--dhcp-range=10.0.0.0,static",
	"--dhcp-host=02:00:00:00:00:05,10.0.0.5,printer,infinite",
	"--dhcp-host=id:01:02:03,10.0.0.6,set:vip",
	"--dhcp-host=02:00:00:00:00:07,02:00:00:00:00:08,192.168.1.7",
	"--dhcp-host=02:00:00:00:09:*,ignore",
	"--dhcp-host=named,10.0.0.8",
	"--dhcp-option=tag:vip,option:ntp-server,0.0.0.0",
	"--dhcp-option-force=vendor:PXEClient,1,0.0.0.0",
	"--dhcp-option=encap:175,190,user",
	"--dhcp-option=vi-encap:4491,2,hello",
	"--dhcp-option=option:domain-search,example.com,example.net",
	"--dhcp-match=set:efi,option:client-arch,7",
	"--dhcp-boot=tag:efi,grubx64.efi,boothost,10.0.0.3",
	"--dhcp-vendorclass=set:pxe,PXEClient",
	"--dhcp-userclass=set:uc,accounts",
	"--dhcp-circuitid=set:c,00:01",
	"--dhcp-name-match=set:cam,cam*",
	"--dhcp-ignore=tag:cam",
	"--tag-if=set:x,tag:pxe,tag:!efi",
	"--dhcp-generate-names",
	"--dhcp-authoritative",
	"--dhcp-rapid-commit",
	"--domain=example.com",
}

// fuzzAllowed reports whether addr may be handed out under fuzzConfig.
func fuzzAllowed(a netip.Addr) bool {
	in := func(lo, hi string) bool { return !a.Less(ip(lo)) && !ip(hi).Less(a) }
	switch a {
	case ip("10.0.0.5"), ip("10.0.0.6"), ip("10.0.0.8"), ip("192.168.1.7"):
		return true
	}
	return in("10.0.0.10", "10.0.0.200") || in("192.168.1.10", "192.168.1.100")
}

// FuzzHandle feeds random packets, decoded as the worker does, to an
// engine that holds a few leases: it must not panic, every reply must
// decode, and no reply or lease may carry an address outside the ranges
// and dhcp-host addresses.
func FuzzHandle(f *testing.F) {
	relayed := cli.withType(discoverT).with(o(optAgentID, 1, 2, 0, 1))
	relayed.giaddr = "192.168.1.1"
	renew := cli.withType(requestT)
	renew.ciaddr = "10.0.0.140"
	inf := cli.withType(informT)
	inf.ciaddr = "10.0.0.77"
	for _, m := range []msg{
		cli.withType(discoverT).with(prl(1, 3, 6, 12, 15, 42, 43, 66, 67, 119, 175, 125)),
		cli.withType(discoverT).with(o(optRapidCommit), o(optMaxSize, 0x02, 0x40), ostr(optVendorClass, "PXEClient"), o(93, 0, 7)),
		cli.withType(requestT).with(sel("10.0.0.140")...).with(o(optClientFQDN, 5, 0, 0, 3, 'c', 'a', 'm', 0)),
		cli.withType(requestT).with(requested("10.0.0.250")),
		renew, relayed, inf,
		cli.withType(declineT).with(sel("10.0.0.140")...),
		cli.withType(releaseT).with(serverID("10.0.0.1")),
		{xid: 9, mac: "02:00:00:00:00:05"},
		{typ: discoverT, mac: "02:00:00:00:00:07", opts: []opt{clientID(1, 2, 3), ostr(optHostname, "named")}},
	} {
		f.Add(m.bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := dhcpv4.FromBytes(data)
		if err != nil {
			return
		}
		e := newEngine(t, fuzzConfig...)
		e.LoadLeases([]leases.Lease{
			{Addr: ip("10.0.0.140"), HWType: 1, HWAddr: macAddr("02:00:00:00:00:01"), Hostname: "cam1", Expires: t0.Unix() + 600},
			{Addr: ip("192.168.1.7"), HWType: 1, HWAddr: macAddr("02:00:00:00:00:07"), ClientID: []byte{1, 2, 3}, Expires: t0.Unix() + 60},
		})
		check := func(out []Outbound, acts []Action) {
			for _, o := range out {
				d, err := dhcpv4.FromBytes(o.Packet)
				if err != nil {
					t.Fatalf("reply does not decode: %v", err)
				}
				if a := addr4(d.YourIPAddr); a.IsValid() && !fuzzAllowed(a) {
					t.Fatalf("handed out %s", a)
				}
			}
			for _, a := range acts {
				for _, r := range a.Records {
					if !r.Delete && !fuzzAllowed(r.Lease.Addr) {
						t.Fatalf("lease at %s", r.Lease.Addr)
					}
				}
			}
		}
		for _, iface := range []*Interface{eth0, {Name: "eth1", Index: 3, Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.1.1/24")}}} {
			for _, src := range []string{"0.0.0.0:68", "10.0.0.140:68"} {
				in := Inbound{Packet: p, Interface: iface, Src: addrPort(src), Dst: ip("10.0.0.1")}
				out, acts := e.Handle(in, t0)
				check(out, acts)
				for _, a := range append([]Action(nil), acts...) {
					switch a.Kind {
					case Commit:
						check(e.Committed(a.ID, true, t0), nil)
					case Probe:
						check(e.ProbeResult(a.ID, len(data)%2 == 0, t0))
					}
				}
			}
		}
		check(nil, e.Tick(t0.Add(2*3600e9)))
	})
}
