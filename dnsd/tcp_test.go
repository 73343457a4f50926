package dnsd

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// closedByServer reports whether the server closed c (read gives EOF or a
// reset) within the wait.
func closedByServer(t *testing.T, c net.Conn, wait time.Duration) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestTCPIdleTimeout(t *testing.T) {
	d := startDNSD(t, upstreamCfg(), "10.0.0.1 bar.lan\n", instanceOptions{tune: func(s *Server) {
		s.tcpIdle = 200 * time.Millisecond
	}})
	c, err := net.Dial("tcp", d.tcpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := &dns.Conn{Conn: c}
	if err := conn.WriteMsg(newQuery("bar.lan.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.ReadMsg(); err != nil || len(r.Answer) != 1 {
		t.Fatalf("reply %v, %v", r, err)
	}
	if !closedByServer(t, c, 5*time.Second) {
		t.Error("an idle connection stayed open")
	}
}

func TestTCPConnectionCap(t *testing.T) {
	d := startDNSD(t, upstreamCfg(), "10.0.0.1 bar.lan\n", instanceOptions{tune: func(s *Server) {
		s.tcpMaxConns = 2
	}})
	var held []*dns.Conn
	for range 2 {
		c, err := net.Dial("tcp", d.tcpAddr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conn := &dns.Conn{Conn: c}
		// A round trip proves the server took this connection.
		if err := conn.WriteMsg(newQuery("bar.lan.", dns.TypeA)); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ReadMsg(); err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	extra, err := net.Dial("tcp", d.tcpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if !closedByServer(t, extra, 5*time.Second) {
		t.Error("a connection over the cap was kept")
	}
	waitFor(t, "rejected count", func() bool { return d.server.stats.tcpRejected.Load() == 1 })
	// Closing one makes room again.
	held[0].Close()
	waitFor(t, "a free connection slot", func() bool {
		c, err := net.Dial("tcp", d.tcpAddr.String())
		if err != nil {
			return false
		}
		defer c.Close()
		conn := &dns.Conn{Conn: c}
		if conn.WriteMsg(newQuery("bar.lan.", dns.TypeA)) != nil {
			return false
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		r, err := conn.ReadMsg()
		return err == nil && len(r.Answer) == 1
	})
}

// blockingWriter blocks every Write until released.
type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) { <-w.release; return len(p), nil }

func TestAsyncLogNeverBlocks(t *testing.T) {
	w := blockingWriter{release: make(chan struct{})}
	l := newAsyncLog(w)
	for i := range 2 * logQueueLen {
		l.printf("line %d", i)
	}
	if l.dropped.Load() == 0 {
		t.Error("no line dropped although the writer is stuck")
	}
	close(w.release)
	l.close()
}
