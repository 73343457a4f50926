package dnsdiff

import (
	"strings"
	"testing"
	"time"
)

// TestSourceView: the source part of an upstream line goes unless the
// query compares it, and then only what it compares stays.
func TestSourceView(t *testing.T) {
	side := Side{Server: "127.0.0.10:53"}
	line := "up1: x.test. IN A udp | rd noedns" + sourceMark + "127.0.0.10:40053"
	other := "up1: x.test. IN A udp | rd noedns" + sourceMark + "127.0.0.1:31000"
	cases := []struct {
		spec, line, want string
	}{
		{"x.test", line, "up1: x.test. IN A udp | rd noedns"},
		{"+srcport x.test", line, "up1: x.test. IN A udp | rd noedns | from port 40053"},
		{"+srcaddr x.test", line, "up1: x.test. IN A udp | rd noedns | from addr self"},
		{"+srcaddr x.test", other, "up1: x.test. IN A udp | rd noedns | from addr 127.0.0.1"},
		{"+srcport=40000-40100 x.test", line, "up1: x.test. IN A udp | rd noedns | from port in 40000-40100"},
		{"+srcport=1-1023 x.test", line, "up1: x.test. IN A udp | rd noedns | from port outside 1-1023"},
	}
	for _, c := range cases {
		q, err := ParseQuery(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := side.sourceView(q, c.line); got != c.want {
			t.Errorf("%s: %q, want %q", c.spec, got, c.want)
		}
	}
}

func TestLoopDirective(t *testing.T) {
	z, err := ParseZone("$LOOP\nwww.example.test. A 192.0.2.1\n")
	if err != nil {
		t.Fatal(err)
	}
	if !z.loop {
		t.Error("$LOOP not noticed")
	}
	if z2, _ := ParseZone("www.example.test. A 192.0.2.1\n"); z2.loop {
		t.Error("loop without $LOOP")
	}
}

// TestSecondPortAndCopies: an upstream on two ports says which one was
// asked; copies of a query sent at once all get the answer.
func TestSecondPortAndCopies(t *testing.T) {
	z, err := ParseZone(testZone + "slow.example.test. A 192.0.2.30\n")
	if err != nil {
		t.Fatal(err)
	}
	u, err := ServeUpstream("127.0.0.1:0", z)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := u.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	second := u.servers[2].PacketConn.LocalAddr().String()
	q, _ := ParseQuery("www.example.test A")
	if r := Exchange(second, q, time.Second); r.Err != "" {
		t.Fatal(r.Err)
	}
	asked, err := Asked(u.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(second, ":")
	if len(asked) != 1 || !strings.Contains(asked[0], " udp#"+port+" | ") {
		t.Errorf("asked %q, want one query marked udp#%s", asked, port)
	}
	cq, _ := ParseQuery("+copies=4 slow.example.test A")
	r := ExchangeCopies(u.Addr(), cq, 2*time.Second)
	if r.Err != "" || len(r.Answer) != 1 {
		t.Errorf("copies: %+v", r)
	}
	if asked, _ := Asked(u.Addr(), time.Second); len(asked) != 4 {
		t.Errorf("the upstream saw %d copies, want 4", len(asked))
	}
}
