package dhcpserver

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/leases"
)

// t0 is the tests' clock.
var t0 = time.Unix(1_700_000_000, 0)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// eth0 is the server's interface in most tests: 10.0.0.1/24.
var eth0 = &Interface{Name: "eth0", Index: 2, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}

// newEngine parses a dnsmasq command line and builds an engine on it.
func newEngine(t testing.TB, args ...string) *Engine {
	t.Helper()
	return newEngineWith(t, nil, args...)
}

// newEngineWith lets a test adjust the settings.
func newEngineWith(t testing.TB, adjust func(*Settings), args ...string) *Engine {
	t.Helper()
	cfg, err := config.Parse(args, "")
	if err != nil {
		t.Fatalf("config %q: %v", args, err)
	}
	s := SettingsFromConfig(cfg)
	s.Seed = 1
	if adjust != nil {
		adjust(&s)
	}
	e, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// msg describes a request to build.
type msg struct {
	typ    dhcpv4.MessageType // 0: BOOTP
	mac    string             // "" for 02:00:00:00:00:01
	htype  uint8              // 0 for Ethernet
	xid    uint32
	bcast  bool
	ciaddr string
	giaddr string
	file   string
	opts   []opt // in order
	// Delivery metadata: src ("" for 0.0.0.0:68) and dst ("" for
	// 255.255.255.255).
	src, dst string
	iface    *Interface
}

type opt struct {
	code uint8
	data []byte
}

func o(code uint8, data ...byte) opt    { return opt{code, data} }
func ostr(code uint8, s string) opt     { return opt{code, []byte(s)} }
func oaddr(code uint8, a string) opt    { b := ip(a).As4(); return opt{code, b[:]} }
func prl(codes ...byte) opt             { return opt{optPRL, codes} }
func requested(a string) opt            { return oaddr(optRequestedIP, a) }
func serverID(a string) opt             { return oaddr(optServerID, a) }
func clientID(b ...byte) opt            { return opt{optClientID, b} }
func u32opt(code uint8, v uint32) opt   { return opt{code, binary.BigEndian.AppendUint32(nil, v)} }
func macAddr(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
func addrPort(s string) netip.AddrPort  { return netip.MustParseAddrPort(s) }
func defaultMAC(m string) string {
	if m == "" {
		return "02:00:00:00:00:01"
	}
	return m
}
func (m msg) with(extra ...opt) msg             { m.opts = append(slices.Clone(m.opts), extra...); return m }
func (m msg) withMAC(mac string) msg            { m.mac = mac; return m }
func (m msg) withType(t dhcpv4.MessageType) msg { m.typ = t; return m }

// bytes builds the wire form of m.
func (m msg) bytes() []byte {
	p := make([]byte, 240)
	p[0] = 1
	p[1] = 1
	if m.htype != 0 {
		p[1] = m.htype
	}
	hw := macAddr(defaultMAC(m.mac))
	p[2] = byte(len(hw))
	binary.BigEndian.PutUint32(p[4:], m.xid)
	if m.bcast {
		p[10] = 0x80
	}
	if m.ciaddr != "" {
		a := ip(m.ciaddr).As4()
		copy(p[12:], a[:])
	}
	if m.giaddr != "" {
		a := ip(m.giaddr).As4()
		copy(p[24:], a[:])
	}
	copy(p[28:44], hw)
	copy(p[108:235], m.file)
	copy(p[236:], magicCookie[:])
	if m.typ != 0 {
		p = append(p, optMessageType, 1, byte(m.typ))
	}
	for _, o := range m.opts {
		p = append(p, o.code, byte(len(o.data)))
		p = append(p, o.data...)
	}
	return append(p, optEnd)
}

func (m msg) inbound(t testing.TB) Inbound {
	t.Helper()
	d, err := dhcpv4.FromBytes(m.bytes())
	if err != nil {
		t.Fatalf("decode test packet: %v", err)
	}
	in := Inbound{Packet: d, Interface: m.iface, Src: addrPort("0.0.0.0:68"), Dst: ip("255.255.255.255")}
	if in.Interface == nil {
		in.Interface = eth0
	}
	if m.src != "" {
		in.Src = addrPort(m.src)
	}
	if m.dst != "" {
		in.Dst = ip(m.dst)
	}
	return in
}

// result is what one call produced, with the held ACKs released.
type result struct {
	out  []Outbound
	acts []Action
}

// send hands m to the engine at now. Held commits are confirmed and
// their ACKs added to the result; probes are left to the caller.
func send(t testing.TB, e *Engine, m msg, now time.Time) result {
	t.Helper()
	out, acts := e.Handle(m.inbound(t), now)
	return settle(e, out, acts, now)
}

func settle(e *Engine, out []Outbound, acts []Action, now time.Time) result {
	r := result{out: slices.Clone(out), acts: slices.Clone(acts)}
	for _, a := range r.acts {
		if a.Kind == Commit && a.Held {
			r.out = append(r.out, e.Committed(a.ID, true, now)...)
		}
	}
	return r
}

// one returns the single reply, decoded.
func (r result) one(t testing.TB) (Outbound, *dhcpv4.DHCPv4) {
	t.Helper()
	if len(r.out) != 1 {
		t.Fatalf("want one reply, got %d (actions %v)", len(r.out), r.acts)
	}
	d, err := dhcpv4.FromBytes(r.out[0].Packet)
	if err != nil {
		t.Fatalf("reply does not decode: %v", err)
	}
	return r.out[0], d
}

func (r result) none(t testing.TB) {
	t.Helper()
	if len(r.out) != 0 {
		_, d := r.one(t)
		t.Fatalf("want no reply, got %s", d.Summary())
	}
}

// optionOrder lists the option codes of a reply's options area in order.
func optionOrder(pkt []byte) []uint8 {
	var codes []uint8
	b := pkt[optionsStart:]
	for i := 0; i < len(b) && b[i] != optEnd; {
		if b[i] == optPad {
			i++
			continue
		}
		codes = append(codes, b[i])
		if i+1 >= len(b) {
			break
		}
		i += 2 + int(b[i+1])
	}
	return codes
}

func mtype(d *dhcpv4.DHCPv4) dhcpv4.MessageType { return d.MessageType() }

func yiaddr(d *dhcpv4.DHCPv4) netip.Addr { return addr4(d.YourIPAddr) }

// dora runs DISCOVER, REQUEST (SELECTING) for m's client and returns
// the ACKed address.
func dora(t testing.TB, e *Engine, m msg, now time.Time) netip.Addr {
	t.Helper()
	_, offer := send(t, e, m.withType(dhcpv4.MessageTypeDiscover), now).one(t)
	if mtype(offer) != dhcpv4.MessageTypeOffer {
		t.Fatalf("want OFFER, got %s", mtype(offer))
	}
	a := yiaddr(offer)
	_, ack := send(t, e, m.withType(dhcpv4.MessageTypeRequest).with(requested(a.String()), serverID(addr4(offer.ServerIdentifier()).String())), now).one(t)
	if mtype(ack) != dhcpv4.MessageTypeAck || yiaddr(ack) != a {
		t.Fatalf("want ACK of %s, got %s of %s (%s)", a, mtype(ack), yiaddr(ack), ack.Message())
	}
	return a
}

func leaseOf(t testing.TB, e *Engine, a netip.Addr) leases.Lease {
	t.Helper()
	l, ok := e.Lease(a)
	if !ok {
		t.Fatalf("no lease at %s", a)
	}
	return l
}

func actionKinds(acts []Action) string {
	var s []string
	for _, a := range acts {
		s = append(s, fmt.Sprintf("%s:%d", a.Kind, len(a.Records)))
	}
	return strings.Join(s, ",")
}
