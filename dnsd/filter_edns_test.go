package dnsd

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func ednsOption[T dns.EDNS0](m *dns.Msg, code uint16) (T, bool) {
	var zero T
	opt := m.IsEdns0()
	if opt == nil {
		return zero, false
	}
	for _, o := range opt.Option {
		if o.Option() == code {
			if v, ok := o.(T); ok {
				return v, true
			}
		}
	}
	return zero, false
}

// TestAddSubnet: the client-subnet option on forwarded queries for each
// add-subnet form of dnsmasq's man page, and whether the answer is cached
// (only when no bit of the client's address is sent).
func TestAddSubnet(t *testing.T) {
	up := startCrafted(t, map[string][]string{"a.example.": {"a.example. 60 IN A 8.8.8.8"}})
	fixed := []byte{1, 2, 3, 4}
	tests := []struct {
		name      string
		subnet    *ipcpb.ClientSubnet
		family    uint16
		bits      uint8
		addr      string
		cacheable bool
	}{
		// add-subnet: family of the client, no address bits.
		{"bare", &ipcpb.ClientSubnet{}, 1, 0, "0.0.0.0", true},
		// add-subnet=24,96 for an IPv4 client: its /24.
		{"24,96", &ipcpb.ClientSubnet{V4: &ipcpb.SubnetSource{Bits: 24}, V6: &ipcpb.SubnetSource{Bits: 96}}, 1, 24, "127.0.0.0", false},
		{"32", &ipcpb.ClientSubnet{V4: &ipcpb.SubnetSource{Bits: 32}}, 1, 32, "127.0.0.1", false},
		{"0,0", &ipcpb.ClientSubnet{V4: &ipcpb.SubnetSource{}, V6: &ipcpb.SubnetSource{}}, 1, 0, "0.0.0.0", true},
		// add-subnet=1.2.3.4/24: a fixed subnet, cacheable.
		{"1.2.3.4/24", &ipcpb.ClientSubnet{V4: &ipcpb.SubnetSource{Bits: 24, Address: fixed}}, 1, 24, "1.2.3.0", true},
		// add-subnet=2001:db8::/40,0: an IPv6 subnet for IPv4 clients.
		{"v6 for v4", &ipcpb.ClientSubnet{V4: &ipcpb.SubnetSource{Bits: 40, Address: netip.MustParseAddr("2001:db8:ffff::").AsSlice()}}, 2, 40, "2001:db8:ff00::", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := upstreamCfg(up.addr)
			cfg.AddSubnet = tt.subnet
			d := startDNSD(t, cfg, "", instanceOptions{})
			before := up.queries()
			ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
			q := up.lastQuery()
			ecs, ok := ednsOption[*dns.EDNS0_SUBNET](q, dns.EDNS0SUBNET)
			if !ok {
				t.Fatalf("no client-subnet option in %v", q)
			}
			if ecs.Family != tt.family || ecs.SourceNetmask != tt.bits || ecs.Address.String() != tt.addr {
				t.Errorf("ECS family %d /%d %s, want %d /%d %s", ecs.Family, ecs.SourceNetmask, ecs.Address, tt.family, tt.bits, tt.addr)
			}
			ask(t, d, newQuery("a.example.", dns.TypeA), "udp")
			if cached := up.queries()-before == 1; cached != tt.cacheable {
				t.Errorf("second query answered from the cache: %v, want %v", cached, tt.cacheable)
			}
		})
	}
}

func TestClientSubnetIPv6Client(t *testing.T) {
	sc := &subnetConfig{v4: subnetSource{set: true, bits: 24}, v6: subnetSource{set: true, bits: 56}}
	opt, cacheable := clientSubnet(sc, netip.MustParseAddr("2001:db8:1234:5678::1"))
	if opt.Family != 2 || opt.SourceNetmask != 56 || opt.Address.String() != "2001:db8:1234:5600::" || cacheable {
		t.Errorf("got %+v cacheable %v", opt, cacheable)
	}
	// add-subnet=24 leaves IPv6 clients with ::/0.
	opt, cacheable = clientSubnet(&subnetConfig{v4: subnetSource{set: true, bits: 24}}, netip.MustParseAddr("2001:db8::1"))
	if opt.Family != 2 || opt.SourceNetmask != 0 || !cacheable {
		t.Errorf("got %+v cacheable %v", opt, cacheable)
	}
}

// TestSubnetMismatchDiscarded: a reply whose client-subnet option differs
// from the one sent is dropped (RFC 7871 7.3, dnsmasq's "discarding DNS
// reply: subnet option mismatch"), and the matching one that follows is
// used.
func TestSubnetMismatchDiscarded(t *testing.T) {
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		sent, _ := ednsOption[*dns.EDNS0_SUBNET](r, dns.EDNS0SUBNET)
		for i, ip := range []string{"203.0.113.1", "198.51.100.2"} {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)}}
			m.SetEdns0(1232, false)
			ecs := *sent
			ecs.SourceScope = 24
			if i == 0 {
				ecs.Address = net.IPv4(9, 9, 9, 0) // not what was sent
			}
			m.IsEdns0().Option = append(m.IsEdns0().Option, &ecs)
			_ = w.WriteMsg(m)
		}
	})
	cfg := upstreamCfg(up.addr)
	cfg.AddSubnet = &ipcpb.ClientSubnet{V4: &ipcpb.SubnetSource{Bits: 24}}
	d := startDNSD(t, cfg, "", instanceOptions{})
	r := ask(t, d, newQuery("ecs.example.", dns.TypeA), "udp")
	if got := answerStrings(r); len(got) != 1 || !bytes.HasSuffix([]byte(got[0]), []byte("198.51.100.2")) {
		t.Errorf("answer %v, want the matching reply", got)
	}
	waitFor(t, "mismatch logged", func() bool {
		return bytes.Contains([]byte(d.log.String()), []byte("discarding DNS reply: subnet option mismatch\n"))
	})
}

// TestAddMAC: the MAC the master's neighbour table has for the client goes
// upstream as option 65001 (binary) and 65073 (base64 or text); the answer
// is then not cached. A client with no entry gets no option.
func TestAddMAC(t *testing.T) {
	up := startCrafted(t, map[string][]string{
		"m.example.": {"m.example. 60 IN A 8.8.8.8"},
		"n.example.": {"n.example. 60 IN A 8.8.4.4"},
	})
	mac := []byte{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	tests := []struct {
		name              string
		binary, b64, text bool
		want65001         []byte
		want65073         string
	}{
		{"add-mac", true, false, false, mac, ""},
		{"add-mac=base64", false, true, false, nil, "AkKsEQAC"},
		{"add-mac=text", false, false, true, nil, "02:42:ac:11:00:02"},
		{"all three", true, true, true, mac, "02:42:ac:11:00:02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := upstreamCfg(up.addr)
			cfg.AddMac, cfg.AddMacBase64, cfg.AddMacText = tt.binary, tt.b64, tt.text
			d := startDNSD(t, cfg, "", instanceOptions{})
			// No neighbour entry yet: no option, answer cached.
			before := up.queries()
			ask(t, d, newQuery("m.example.", dns.TypeA), "udp")
			if _, ok := ednsOption[*dns.EDNS0_LOCAL](up.lastQuery(), ednsOptionMAC); ok {
				t.Error("MAC option without a neighbour entry")
			}
			ns := &ipcpb.NetState{Neighbours: []*ipcpb.Neighbour{{Address: []byte{127, 0, 0, 1}, Mac: mac}}}
			if err := d.master.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_NetState{NetState: ns}}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "neighbour table", func() bool { _, ok := d.server.filt.mac(netip.MustParseAddr("127.0.0.1")); return ok })
			// A new name: the cached one would be answered without asking.
			ask(t, d, newQuery("n.example.", dns.TypeA), "udp")
			q := up.lastQuery()
			bin, ok := ednsOption[*dns.EDNS0_LOCAL](q, ednsOptionMAC)
			if tt.want65001 != nil && (!ok || !bytes.Equal(bin.Data, tt.want65001)) || tt.want65001 == nil && ok {
				t.Errorf("option 65001 %v (present %v), want %x", bin, ok, tt.want65001)
			}
			id, ok := ednsOption[*dns.EDNS0_LOCAL](q, ednsOptionDeviceID)
			if tt.want65073 != "" && (!ok || string(id.Data) != tt.want65073) || tt.want65073 == "" && ok {
				t.Errorf("option 65073 %q (present %v), want %q", id, ok, tt.want65073)
			}
			ask(t, d, newQuery("n.example.", dns.TypeA), "udp")
			if n := up.queries() - before; n != 3 {
				t.Errorf("upstream saw %d queries, want 3 (answers with a MAC are not cached)", n)
			}
		})
	}
}
