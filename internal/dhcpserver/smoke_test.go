package dhcpserver

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestSmokeDORA(t *testing.T) {
	e := newEngine(t, "--dhcp-range=10.0.0.10,10.0.0.200,1h", "--no-ping")
	m := msg{xid: 7, bcast: true}.with(prl(1, 3, 6, 15, 12))
	res := send(t, e, m.withType(dhcpv4.MessageTypeDiscover), t0)
	out, d := res.one(t)
	t.Logf("%s %s %v\n%s", out.Delivery, out.Dest, optionOrder(out.Packet), d.Summary())
	a := dora(t, e, m, t0)
	t.Logf("acked %s, lease %+v", a, leaseOf(t, e, a))
}
